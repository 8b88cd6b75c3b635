"""``MediaServerEmulator`` (with ``JellyfinEmulator`` and ``EmbyEmulator``): the library, the
users and their data, and the ASGI app serving them.

::

    from crosswatch.emulation.server import serve_app, serve_in_thread
    from crosswatch_jellyfin.emulator import EmulatorSettings, JellyfinEmulator

    emu = JellyfinEmulator(seed=3, size=300, settings=EmulatorSettings(approve_after_polls=0))
    async with serve_app(emu) as url:
        token = emu.sign_in()                       # the admin's token, or sign in over HTTP
        headers = {"Authorization": f'MediaBrowser Token="{token}"'}
    with serve_in_thread(emu) as url:               # synchronous clients (jellyfin-apiclient-python)
        ...

The emulator object is the ASGI app. Its parts are public for in-process tests: ``catalog``,
``library`` (:class:`.library.Library`), ``accounts`` (:class:`.users.Accounts`), ``state``
(:class:`.userdata.UserState`), ``sessions``, ``hub`` (websockets), ``settings``, ``faults``,
``stats``. Change state from the test's own thread only while no request runs (or use the
``/_emulator`` controls).
"""

from __future__ import annotations

import random
from typing import Any

import tomli_w
from starlette.requests import Request
from starlette.responses import Response

from crosswatch.emulation.catalog import Catalog, build_catalog
from crosswatch.emulation.faults import Faults
from crosswatch.emulation.gate import routes_app
from crosswatch_jellyfin.emulator import (
    routes_emulator,
    routes_items,
    routes_playback,
    routes_playlists,
    routes_system,
    routes_writes,
)
from crosswatch_jellyfin.emulator.flavour import EMBY, JELLYFIN, Flavour
from crosswatch_jellyfin.emulator.gate import Gate, Stats
from crosswatch_jellyfin.emulator.generate import generate_state
from crosswatch_jellyfin.emulator.library import Library
from crosswatch_jellyfin.emulator.notify import Hub, socket_endpoint
from crosswatch_jellyfin.emulator.render import fail
from crosswatch_jellyfin.emulator.sessions import Sessions
from crosswatch_jellyfin.emulator.settings import EmulatorSettings
from crosswatch_jellyfin.emulator.statejson import load_state_json, state_to_json
from crosswatch_jellyfin.emulator.userdata import UserState
from crosswatch_jellyfin.emulator.users import Accounts, RateWindow


async def _http_error(request: Request, exc: Exception) -> Response:
    return fail(getattr(exc, "status_code", 500))


def _literals(routes: list[Any]) -> dict[str, str]:
    """Every literal path segment of the routes, by its lower case (the gate's case folding)."""
    out: dict[str, str] = {}
    for route in routes:
        for part in route.path.split("/"):
            if part and "{" not in part and not part.startswith("_"):
                out.setdefault(part.lower(), part)
    return out


class MediaServerEmulator:
    """A Jellyfin or Emby server (``flavour``) seeded from ``(seed, size)``."""

    def __init__(
        self,
        seed: int = 1,
        size: int = 200,
        *,
        flavour: Flavour = JELLYFIN,
        settings: EmulatorSettings | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.seed, self.size, self.flavour = seed, size, flavour
        self.settings = settings or EmulatorSettings()
        self.catalog = catalog if catalog is not None else build_catalog(size, seed)
        self.library = Library(self.catalog, seed, flavour)
        self.accounts = Accounts(seed)
        self.server_id = self.accounts.server_id
        self.server_name = f"Emulated {flavour.title} {seed}"
        self.faults = Faults()
        self.stats = Stats()
        self.rng = random.Random(f"crosswatch-{flavour.name}-faults:{seed}")
        self.rate_window = RateWindow()
        self.hub = Hub(self)
        self.sessions = Sessions(self)
        self.state: UserState = self._generate()
        userless, aliases = flavour.userless_routes, flavour.delete_aliases
        api = [
            *routes_system.ROUTES,
            *routes_items.routes(userless),
            *routes_writes.routes(userless, aliases),
            *routes_playback.routes(userless, aliases),
            *routes_playlists.routes(userless, aliases),
        ]
        routes = [*routes_emulator.ROUTES, *api]
        self.app = Gate(self, routes_app(self, routes, _http_error), _literals(api), socket_endpoint)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def _generate(self) -> UserState:
        state = generate_state(self.library, self.seed, self.accounts)
        state.listener = self.hub.user_data_changed
        return state

    # -- conveniences ---------------------------------------------------------------------------

    @property
    def legacy_auth(self) -> bool:
        """Whether the legacy token forms work (always on Emby; the ``legacy_auth`` knob on Jellyfin)."""
        return not self.flavour.legacy_auth_setting or self.settings.legacy_auth

    @property
    def username(self) -> str:
        """The administrator's user name (the TOML block names it)."""
        return self.accounts.admin.name

    @property
    def password(self) -> str:
        return self.accounts.admin.password

    @property
    def user_id(self) -> str:
        return self.accounts.admin.id

    @property
    def api_key(self) -> str:
        """The seeded API key (an administrator without a user)."""
        return self.accounts.seeded_api_key

    def sign_in(self, name: str | None = None, *, device_id: str = "emulator-test") -> str:
        """A token for user ``name`` (default: the administrator) without HTTP."""
        user = self.accounts.by_name(name) if name else self.accounts.admin
        if user is None:
            raise KeyError(f"no user {name!r}")
        return self.accounts.sign_in(user, device_id, "crosswatch-tests", "emulator", "1.0").token

    def item_id(self, media: Any) -> str:
        """The server's id of a catalogue movie, show, season or episode."""
        return self.library.id_of(media)

    def reset_state(self) -> None:
        """Back to the seeded users' data and playlists (users, tokens, keys, faults and settings stay)."""
        self.state = self._generate()
        self.sessions.reset()

    def state_json(self) -> dict[str, Any]:
        return state_to_json(self.state, self.accounts)

    def load_state(self, data: Any) -> None:
        """Replace the users' data and playlists (shape in :mod:`.statejson`); ValueError names a bad entry."""
        load_state_json(self.state, self.accounts, data)

    def websocket_stats(self) -> dict[str, int]:
        return {"open": len(self.hub.subscribers), "sent": self.hub.sent, "lost": self.hub.lost}

    def plays(self) -> int:
        """Items played, over all users."""
        return sum(1 for store in self.state.data.values() for d in store.values() if d.played)

    def config_toml(self, url: str) -> str:
        """The ``[jellyfin]`` (``[emby]``) block pointing crosswatch at this emulator on ``url``,
        with the users' credentials and the API key in comments for any other client."""
        admin, other = self.accounts.users[0], self.accounts.users[1]
        name = self.flavour.name
        quick = (
            f"# `crosswatch auth {name}` signs in by Quick Connect (approved after "
            f"{self.settings.approve_after_polls} polls) or by user name and password\n"
            if self.flavour.quick_connect
            else f"# `crosswatch auth {name}` signs in by user name and password\n"
        )
        head = (
            f"# crosswatch {self.flavour.title} emulator on {url} (seed {self.seed}, {len(self.catalog)} titles, "
            f"{len(self.library)} items, {self.plays()} played)\n"
            f"# server: {self.server_name} (Id {self.server_id}, version {self.flavour.version})\n"
            f"# user {admin.name} (administrator) password {admin.password} (Id {admin.id})\n"
            f"# user {other.name} password {other.password} (Id {other.id})\n"
            f"# API key {self.api_key}\n" + quick
        )
        block = {name: {"url": url, "user": admin.name, "api_key": self.api_key}}
        return head + tomli_w.dumps(block)


class JellyfinEmulator(MediaServerEmulator):
    """A Jellyfin server (10.11)."""

    def __init__(self, seed: int = 1, size: int = 200, **kwargs: Any) -> None:
        super().__init__(seed, size, flavour=JELLYFIN, **kwargs)


class EmbyEmulator(MediaServerEmulator):
    """An Emby server (4.9)."""

    def __init__(self, seed: int = 1, size: int = 200, **kwargs: Any) -> None:
        super().__init__(seed, size, flavour=EMBY, **kwargs)
