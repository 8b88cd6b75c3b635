"""A third party's drop-in plugin: provider MEDIABOX, kept in memory, section [mediabox]."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio
import msgspec

from crosswatch import hookimpl
from crosswatch.config import ConfigSection
from crosswatch.model import Feature, Item, match_keys
from crosswatch.provider import (
    FeatureSupport,
    ProviderContext,
    ProviderSpec,
    WriteResult,
)


class MediaboxSettings(msgspec.Struct, kw_only=True, frozen=True):
    url: str = "http://127.0.0.1:8096"
    api_key: str = ""
    user: str = ""
    timeout_s: float = 10.0


FEATURES = {
    Feature.WATCHLIST: FeatureSupport(),
    Feature.RATINGS: FeatureSupport(clear=False, note="ratings are cleared one by one"),
}

#: what crosswatch_configure saw, so a test can tell it ran
CONFIGURED: list[str] = []


class MediaboxProvider:
    """One profile of an in-memory Mediabox: items per feature, matched by strong ids."""

    def __init__(self, ctx: ProviderContext) -> None:
        self.id = ctx.provider_id
        self.profile = ctx.profile
        self.settings: MediaboxSettings = ctx.settings
        self.closed = False
        self._items: dict[Feature, list[Item]] = {f: [] for f in FEATURES}

    def _held(self, feature: Feature) -> list[Item]:
        if self.closed:
            raise RuntimeError(f"{self.id}.{self.profile} is closed")
        try:
            return self._items[Feature(feature)]
        except (KeyError, ValueError):
            raise ValueError(f"{self.id} does not support {feature}") from None

    async def read(self, feature: Feature) -> list[Item]:
        await anyio.sleep(0)
        return list(self._held(feature))

    async def add(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        await anyio.sleep(0)
        held, result = self._held(feature), WriteResult()
        for item in items:
            keys = set(match_keys(item))
            if not keys:
                result.unresolved.append((item, "no strong id"))
                continue
            held[:] = [h for h in held if not keys & set(match_keys(h))]
            held.append(item)
            result.ok.append(item)
        return result

    async def remove(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        await anyio.sleep(0)
        held, result = self._held(feature), WriteResult()
        for item in items:
            keys = set(match_keys(item))
            kept = [h for h in held if not keys & set(match_keys(h))]
            held[:] = kept
            result.ok.append(item)  # absent or removed: either way it is gone, as the contract asks
        return result

    async def aclose(self) -> None:
        self.closed = True


@hookimpl
def crosswatch_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ProviderSpec("MEDIABOX", MediaboxProvider, FEATURES, title="Mediabox"))


@hookimpl
def crosswatch_config_sections() -> list[ConfigSection]:
    return [ConfigSection("mediabox", MediaboxSettings)]


@hookimpl
def crosswatch_configure(config: Any) -> None:
    CONFIGURED.append(config.sections["mediabox"].default.url)
