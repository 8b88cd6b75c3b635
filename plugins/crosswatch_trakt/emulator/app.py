"""``TraktEmulator``: the catalogue, the user, the apps and tokens, and the ASGI app serving them.

::

    from crosswatch.emulation.server import serve_app, serve_in_thread
    from crosswatch_trakt.emulator import EmulatorSettings, TraktEmulator

    emu = TraktEmulator(seed=3, size=300, settings=EmulatorSettings(interval=0, post_limit=0))
    async with serve_app(emu) as url:           # api_url and auth_url are both ``url``
        token = emu.issue_token()               # or sign in by device code over HTTP
        ...
    with serve_in_thread(emu) as url:           # for synchronous clients (PyTrakt, requests)
        ...

The emulator object is itself the ASGI app. Its parts are public for in-process tests:
``catalog``, ``state`` (:class:`.userstate.UserState`), ``auth`` (:class:`.auth.AuthStore`),
``settings``, ``faults``, ``stats``; over HTTP the same is under ``/_emulator``.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import tomli_w
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from crosswatch.emulation.catalog import Catalog, build_catalog
from crosswatch.emulation.faults import Faults
from crosswatch.emulation.gate import routes_app
from crosswatch_trakt.emulator import (
    routes_auth,
    routes_collection,
    routes_emulator,
    routes_history,
    routes_lookup,
    routes_scrobble,
    routes_sync,
    routes_users,
)
from crosswatch_trakt.emulator.auth import AuthStore
from crosswatch_trakt.emulator.gate import Gate, Stats
from crosswatch_trakt.emulator.generate import generate_state
from crosswatch_trakt.emulator.limits import RateLimits
from crosswatch_trakt.emulator.media import MediaCache
from crosswatch_trakt.emulator.responses import error
from crosswatch_trakt.emulator.settings import EmulatorSettings
from crosswatch_trakt.emulator.userstate import UserState

_NAMES = ("ada", "bea", "cyd", "dev", "eli", "fay", "gus", "hal", "ivy", "jo", "kit", "lou", "max", "ned", "ora", "pip")


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return error(status, "not_found" if status == 404 else "error", str(getattr(exc, "detail", "")))


class TraktEmulator:
    """A Trakt account (api.trakt.tv and auth.trakt.tv) seeded from ``(seed, size, plays)``."""

    def __init__(
        self,
        seed: int = 1,
        size: int = 200,
        *,
        plays: int | None = None,
        settings: EmulatorSettings | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.seed, self.size, self.plays = seed, size, plays
        self.settings = settings or EmulatorSettings()
        self.catalog = catalog if catalog is not None else build_catalog(size, seed)
        self.auth = AuthStore(seed)
        self.media = MediaCache(self.catalog)
        self.limits = RateLimits()
        self.faults = Faults(bool_times=True)
        self.stats = Stats()
        self.rng = random.Random(f"crosswatch-trakt-faults:{seed}")
        self.user = self._user()
        self.state: UserState = self._generate()
        routes = [
            *routes_auth.ROUTES,
            *routes_sync.ROUTES,
            *routes_history.ROUTES,
            *routes_collection.ROUTES,
            *routes_users.ROUTES,  # after /users/settings (routes_sync)
            *routes_lookup.ROUTES,
            *routes_scrobble.ROUTES,
            *routes_emulator.ROUTES,
        ]
        self.app = Gate(self, routes_app(self, routes, _http_error))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def _user(self) -> dict[str, Any]:
        rng = random.Random(f"crosswatch-trakt-user-profile:{self.seed}")
        username = f"{rng.choice(_NAMES)}-{rng.randrange(1000, 10000)}"
        return {
            "username": username,
            "private": False,
            "name": "Emulated Watcher",
            "director": False,
            "ids": {
                "slug": username,
                "trakt": rng.randrange(100_000, 9_999_999),
                "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
            },
            "joined_at": "2015-03-01T12:00:00.000Z",
            "location": None,
            "about": None,
            "gender": None,
            "age": None,
            "images": {"avatar": {"full": "https://walter-r2.trakt.tv/images/users/avatar.png"}},
        }

    def _generate(self) -> UserState:
        caps = {name: self.settings.cap(name) for name in ("watchlist", "ratings", "collection")}
        return generate_state(self.catalog, self.seed, plays=self.plays, caps=caps)

    # -- conveniences -------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        """The default app's client id (deterministic from the seed)."""
        return self.auth.default_app.client_id

    @property
    def client_secret(self) -> str:
        return self.auth.default_app.client_secret

    def reset_state(self) -> None:
        """Back to the seeded user state (apps, tokens, faults and settings stay)."""
        self.state = self._generate()

    def state_json(self) -> dict[str, Any]:
        return {**self.state.to_json(), "tokens": self.auth.valid_count()}

    def issue_token(self, client_id: str | None = None) -> dict[str, Any]:
        """A signed-in token response for an app (default: the default app), without the device flow."""
        client_id = client_id or self.client_id
        if self.auth.app(client_id) is None:
            raise KeyError(f"unknown client_id {client_id!r}")
        return self.auth.issue(client_id, self.settings.token_ttl).to_json()

    def config_toml(self, url: str) -> str:
        """The ``[trakt]`` block of config.toml that points crosswatch at this emulator on ``url``."""
        plays = f", {len(self.state.plays)} plays" if self.plays is not None else ""
        head = (
            f"# crosswatch Trakt emulator on {url} (seed {self.seed}, {self.size} titles{plays})\n"
            f"# `crosswatch auth trakt` signs in (approved after {self.settings.approve_after_polls} polls),\n"
            f"# or approve the code at {url}/activate?code=<code>\n"
        )
        block = {
            "trakt": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "api_url": url,
                "auth_url": url,
            }
        }
        return head + tomli_w.dumps(block)
