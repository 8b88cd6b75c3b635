"""The built-in Plex plugin (provider ``PLEX``), loaded through the ``crosswatch`` entry point.

Watchlist through Discover, history, ratings and progress through the Plex Media Server,
PIN sign-in (``crosswatch auth plex``) and the Plex emulator (``crosswatch emulator plex``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from crosswatch import hookimpl
from crosswatch.config import Config, ConfigSection
from crosswatch.model import Feature
from crosswatch.provider import (
    AuthContext,
    FeatureSupport,
    Provider,
    ProviderContext,
    ProviderSpec,
    SignInState,
)
from crosswatch.state import StateDir
from crosswatch_plex.config import PlexSettings

if TYPE_CHECKING:
    from crosswatch.bus import BusView
    from crosswatch.services import ServiceContext


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


@hookimpl
def crosswatch_sign_in_state(section: str, profile: str, state: StateDir) -> SignInState | None:
    if section != "plex":
        return None
    from crosswatch_plex.identity import PlexIdentity

    account = PlexIdentity(state, profile).load()
    if account is None or not account.token:
        return SignInState(False, "not signed in: run `crosswatch auth plex`")
    return SignInState(True)  # a Plex token does not expire; a revoked one shows as a failed job


class _Live:
    """What the webhook route needs from the daemon: the config in force and the bus."""

    config: Config | None = None
    bus: BusView | None = None
    webhook: Any = None


LIVE = _Live()


@hookimpl
def crosswatch_configure(config: Config) -> None:
    LIVE.config = config


@hookimpl
def crosswatch_subscribe(bus: BusView) -> None:
    LIVE.bus = bus


async def _watch(ctx: ServiceContext) -> None:
    from crosswatch_plex.watcher import watch

    await watch(ctx)


_watch.__name__ = "plex_watcher"


@hookimpl
def crosswatch_services(ctx: ServiceContext) -> list[Callable[[ServiceContext], Awaitable[None]]]:
    return [_watch]


async def _webhook(request: Any) -> Any:
    """``POST /webhook/plex/<secret>`` (the handler is imported with the first webhook)."""
    if LIVE.webhook is None:
        from crosswatch_plex.webhook import Webhook

        LIVE.webhook = Webhook()
    LIVE.webhook.config, LIVE.webhook.bus = LIVE.config, LIVE.bus
    return await LIVE.webhook.receive(request)


@hookimpl
def crosswatch_web_routes() -> list[Any]:
    from starlette.routing import Route

    return [Route("/webhook/plex/{secret}", _webhook, methods=["POST"])]
