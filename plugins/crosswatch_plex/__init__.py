"""The built-in Plex plugin (provider ``PLEX``), loaded through the ``crosswatch`` entry point.

Watchlist through Discover, history, ratings and progress through the Plex Media Server,
PIN sign-in (``crosswatch auth plex``) and the Plex emulator (``crosswatch emulator plex``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from crosswatch import hookimpl
from crosswatch.config import ConfigSection
from crosswatch.model import Feature
from crosswatch.provider import AuthContext, FeatureSupport, Provider, ProviderContext, ProviderSpec
from crosswatch_plex.config import PlexSettings


@hookimpl
def crosswatch_config_sections() -> list[ConfigSection]:
    return [ConfigSection("plex", PlexSettings)]


FEATURES = {
    Feature.WATCHLIST: FeatureSupport(),
    Feature.HISTORY: FeatureSupport(
        keeps_watched_at=False, note="add = mark watched: Plex records the play at now, not the given time"
    ),
    Feature.RATINGS: FeatureSupport(),
    Feature.PROGRESS: FeatureSupport(remove=False, clear=False, note="Plex cannot clear a resume position"),
}


def _build(ctx: ProviderContext) -> Provider:
    from crosswatch_plex.adapter import PlexProvider  # httpx and friends only when a provider is built

    return PlexProvider(ctx)


@hookimpl
def crosswatch_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ProviderSpec("PLEX", _build, FEATURES, title="Plex"))


async def _sign_in(ctx: AuthContext) -> None:
    from crosswatch_plex.auth import sign_in

    await sign_in(ctx)


@hookimpl
def crosswatch_auth_flows() -> dict[str, Callable[[AuthContext], Awaitable[None]]]:
    return {"plex": _sign_in}


@hookimpl
def crosswatch_emulators() -> dict[str, str]:
    return {"plex": "crosswatch_plex.emulator.cli:main"}
