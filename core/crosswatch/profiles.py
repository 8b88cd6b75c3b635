"""Provider profiles named the way config and commands name them: ``trakt``, ``plex.kids``, ``PLEX``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from crosswatch.config import Config
from crosswatch.errors import CrosswatchError
from crosswatch.model import Feature
from crosswatch.provider import FeatureSupport, Provider, ProviderContext, ProviderRegistry, ProviderSpec
from crosswatch.state import StateDir


class ProfileError(CrosswatchError):
    """A provider or profile that does not exist, or cannot do what was asked."""


@dataclass(frozen=True)
class Profile:
    """One configured profile of one provider."""

    spec: ProviderSpec
    profile: str
    settings: Any

    @property
    def provider(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        """``TRAKT`` for the default profile, ``TRAKT.kids`` otherwise."""
        return self.spec.id if self.profile == "default" else f"{self.spec.id}.{self.profile}"

    def support(self, feature: Feature | str) -> FeatureSupport | None:
        return self.spec.features.get(Feature(feature))

    def features(self, need: str = "read") -> list[Feature]:
        """The features this provider supports for ``need`` (read, add, remove, clear), in order."""
        return [f for f in Feature if (s := self.support(f)) is not None and getattr(s, need)]


def resolve_profile(config: Config, registry: ProviderRegistry, provider: str, profile: str | None = None) -> Profile:
    """``provider`` is a provider id or config section, optionally ``section.profile``."""
    name, _, inline = provider.partition(".")
    wanted = profile or inline or "default"
    spec = registry.by_section(name.lower())
    if spec is None:
        try:
            spec = registry.get(name)
        except KeyError as exc:
            raise ProfileError(str(exc.args[0])) from None
    section = config.sections.get(spec.section)
    if section is None:
        raise ProfileError(f"provider {spec.id} has no [{spec.section}] section in the config")
    if wanted not in section.profiles:
        known = ", ".join(sorted(section.profiles))
        raise ProfileError(f"provider {spec.id} has no profile {wanted!r} (configured: {known})")
    return Profile(spec, wanted, section.profiles[wanted])


@asynccontextmanager
async def opened(profile: Profile, state: StateDir, bus: Any = None) -> AsyncIterator[Provider]:
    """A provider instance for ``profile``, closed afterwards."""
    instance = profile.spec.factory(ProviderContext(profile.spec.id, profile.profile, profile.settings, state, bus))
    try:
        yield instance
    finally:
        with anyio.CancelScope(shield=True):  # a cancelled job still closes its connections
            await instance.aclose()
