"""The Jellyfin and Emby plugin (loaded through the ``crosswatch`` entry point ``jellyfin``).

Providers ``JELLYFIN`` and ``EMBY`` (one API family; the differences are data, in
:mod:`.servers`), config sections ``[jellyfin]`` and ``[emby]`` with profiles
(:mod:`.config`), ``crosswatch auth jellyfin|emby`` (:mod:`.signin`) and the emulators
(``crosswatch emulator jellyfin|emby``). Built on crosswatch's public plugin contract only.

Keep this module small: the provider's modules (httpx and friends) are imported when a
provider is built or a sign-in runs, the emulator only when it is run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from crosswatch import hookimpl
from crosswatch.config import Config, ConfigSection
from crosswatch.model import Feature
from crosswatch.provider import AuthContext, FeatureSupport, Provider, ProviderContext, ProviderSpec, SignInState
from crosswatch.state import StateDir
from crosswatch_jellyfin.config import MediaServerSettings
from crosswatch_jellyfin.servers import BY_SECTION, EMBY, JELLYFIN, ServerKind

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from crosswatch.bus import BusView
    from crosswatch.services import ServiceContext

#: the plugin contract major this plugin is written for
CROSSWATCH_CONTRACT = 1


def features(kind: ServerKind) -> dict[Feature, FeatureSupport]:
    """What each feature does on ``kind``'s servers (``crosswatch plugins list`` shows the notes).

    Every feature reads back cheaply: a read costs a request per library.
    """
    return {
        Feature.WATCHLIST: FeatureSupport(
            reads_back=True,
            note='favourites (movies, shows, seasons, episodes), or with watchlist mode = "playlist" a '
            "playlist of movies and episodes; no date is kept",
        ),
        Feature.RATINGS: FeatureSupport(
            reads_back=True,
            note="the user's Rating (0-10), read rounded into 1-10 (a like reads 10, a dislike 1) and "
            "written as given; no date is kept",
        ),
        Feature.HISTORY: FeatureSupport(
            keeps_watched_at=False,
            dated_now=False,  # one date per title, the one given (DatePlayed)
            reads_back=True,
            note="one entry per played title, dated by its last play (LastPlayedDate; PlayCount in extra); "
            "a play is written with its date (DatePlayed) unless the title was played then or later; "
            "removing a play unmarks the title (all its plays)",
        ),
        Feature.PROGRESS: FeatureSupport(
            reads_back=True,
            note="PlaybackPositionTicks of movies and episodes; paused_at is read from LastPlayedDate, not written",
        ),
    }


def _factory(kind: ServerKind) -> Callable[[ProviderContext], Provider]:
    def build(ctx: ProviderContext) -> Provider:
        from crosswatch_jellyfin.adapter import MediaServerProvider

        return MediaServerProvider(ctx, kind)

    return build


def _flow(kind: ServerKind) -> Callable[[AuthContext], Awaitable[None]]:
    async def flow(ctx: AuthContext) -> None:
        from crosswatch_jellyfin.signin import sign_in

        await sign_in(kind, ctx)

    return flow


@hookimpl
def crosswatch_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    for kind in (JELLYFIN, EMBY):
        register(ProviderSpec(kind.provider, _factory(kind), features(kind), kind.title, kind.section))


@hookimpl
def crosswatch_config_sections() -> list[ConfigSection]:
    return [ConfigSection(kind.section, MediaServerSettings) for kind in (JELLYFIN, EMBY)]


@hookimpl
def crosswatch_auth_flows() -> dict[str, Callable[[AuthContext], Awaitable[None]]]:
    return {kind.section: _flow(kind) for kind in (JELLYFIN, EMBY)}


@hookimpl
def crosswatch_sign_in_state(
    section: str, profile: str, state: StateDir, settings: MediaServerSettings | None
) -> SignInState | None:
    kind = BY_SECTION.get(section)
    if kind is None:
        return None
    from crosswatch_jellyfin.auth import sign_in_state

    return sign_in_state(state, kind, profile, settings)


@hookimpl
def crosswatch_emulators() -> dict[str, str]:
    return {
        "jellyfin": "crosswatch_jellyfin.emulator.cli:main_jellyfin",
        "emby": "crosswatch_jellyfin.emulator.cli:main_emby",
    }


# -- live scrobbling (daemon only): the websocket listener and the webhook route ----------------


@hookimpl
def crosswatch_configure(config: Config) -> None:
    from crosswatch_jellyfin import live  # the live listeners' modules only in the daemon

    live.configure(config)


@hookimpl
def crosswatch_subscribe(bus: BusView) -> None:
    from crosswatch_jellyfin import live

    live.subscribe(bus)


@hookimpl
def crosswatch_services(ctx: ServiceContext) -> list[Callable[[ServiceContext], Awaitable[None]]]:
    from crosswatch_jellyfin import live

    return live.services(ctx)


@hookimpl
def crosswatch_web_routes() -> list[BaseRoute]:
    from crosswatch_jellyfin import live

    return live.routes()
