"""``PlexEmulator``: the library, the accounts and their state, and the ASGI app serving them.

::

    from crosswatch.emulation.server import serve_app, serve_in_thread
    from crosswatch_plex.emulator import EmulatorSettings, PlexEmulator

    emu = PlexEmulator(seed=3, size=300, settings=EmulatorSettings(approve_after_polls=0))
    async with serve_app(emu) as url:      # url, plextv_url, clients_url, discover_url, metadata_url
        headers = {"X-Plex-Token": emu.owner_token, "Accept": "application/json"}
        ...
    with serve_in_thread(emu) as url:      # synchronous clients (python-plexapi, requests)
        plex = PlexServer(url, emu.owner_token)

The emulator object is the ASGI app. Its parts are public for in-process tests: ``catalog``,
``library`` (:class:`.library.Library`: ratingKeys, Discover keys, guids), ``state``
(:class:`.userstate.PlexState`), ``auth`` (:class:`.auth.AuthStore`), ``settings``,
``faults``, ``stats``, ``hub`` (websockets), ``playback`` (sessions). Change state from the
test's own thread only while no request runs (or use the ``/_emulator`` controls).
"""

from __future__ import annotations

import random
from typing import Any

import tomli_w
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute

from crosswatch.emulation.catalog import Catalog, build_catalog
from crosswatch.emulation.faults import Faults
from crosswatch.emulation.gate import routes_app
from crosswatch_plex.emulator import (
    routes_actions,
    routes_discover,
    routes_emulator,
    routes_history,
    routes_library,
    routes_plextv,
    routes_server,
)
from crosswatch_plex.emulator.auth import AuthStore
from crosswatch_plex.emulator.gate import Gate, Stats
from crosswatch_plex.emulator.generate import generate_state, machine_identifier, make_accounts
from crosswatch_plex.emulator.library import Library
from crosswatch_plex.emulator.notify import Hub, notifications
from crosswatch_plex.emulator.playback import Playback
from crosswatch_plex.emulator.render import html_error
from crosswatch_plex.emulator.settings import EmulatorSettings
from crosswatch_plex.emulator.statejson import load_state_json, state_to_json
from crosswatch_plex.emulator.userstate import PlexState
from crosswatch_plex.emulator.webhooks import Webhooks


async def _http_error(request: Request, exc: Exception) -> Response:
    return html_error(getattr(exc, "status_code", 500))


class PlexEmulator:
    """A Plex Media Server, plex.tv and Discover, seeded from ``(seed, size)``."""

    def __init__(
        self,
        seed: int = 1,
        size: int = 200,
        *,
        settings: EmulatorSettings | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.seed, self.size = seed, size
        self.settings = settings or EmulatorSettings()
        self.catalog = catalog if catalog is not None else build_catalog(size, seed)
        self.library = Library(self.catalog, seed)
        self.machine_identifier = machine_identifier(seed)
        self.accounts = make_accounts(seed)
        self.friendly_name = f"Emulated PMS {seed}"
        self.auth = AuthStore(seed)
        for acct in self.accounts:
            self.auth.register(acct.token, acct.id)
        self.faults = Faults()
        self.stats = Stats()
        self.hub = Hub(seed)
        self.playback = Playback(self)
        self.webhooks = Webhooks(self)
        self.rng = random.Random(f"crosswatch-plex-faults:{seed}")
        self.listings: dict[tuple, tuple[int, Any]] = {}
        self.state: PlexState = generate_state(self.library, seed, self.accounts)
        websockets = [
            WebSocketRoute("/:/websockets/notifications", notifications),
            WebSocketRoute("/:/websocket/notifications", notifications),
        ]
        routes = [
            *websockets,
            *routes_emulator.ROUTES,
            *routes_discover.ROUTES,
            *routes_server.ROUTES,
            *routes_library.ROUTES,
            *routes_history.ROUTES,
            *routes_actions.ROUTES,
            *routes_plextv.ROUTES,
        ]
        self.app = Gate(self, routes_app(self, routes, _http_error))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # -- conveniences ---------------------------------------------------------------------------

    @property
    def owner_token(self) -> str:
        """The server owner's seeded token (valid until ``expire_tokens``)."""
        return self.state.owner.token

    def token_for(self, account: int) -> str:
        """The seeded token of an account (PMS account id)."""
        return self.state.accounts[account].token

    def reset_state(self) -> None:
        """Back to the seeded state (accounts, tokens, faults and settings stay)."""
        self.state = generate_state(self.library, self.seed, self.accounts)
        self.listings.clear()

    def state_json(self) -> dict[str, Any]:
        return state_to_json(self.state)

    def load_state(self, data: Any) -> None:
        """Replace the user state (shape in :mod:`.statejson`); ValueError names a bad entry."""
        load_state_json(self.state, data)
        self.listings.clear()

    def websocket_stats(self) -> dict[str, int]:
        return {"open": len(self.hub.subscribers), "sent": self.hub.sent, "lost": self.hub.lost}

    def config_toml(self, url: str) -> str:
        """The ``[plex]`` block of config.toml that points crosswatch at this emulator on ``url``."""
        owner = self.state.owner
        head = (
            f"# crosswatch Plex emulator on {url} (seed {self.seed}, {len(self.catalog)} titles, "
            f"{len(self.state.rows)} plays)\n"
            f"# owner {owner.username} (account 1) token for tests: {owner.token}\n"
            f"# home users: "
            + ", ".join(f"{a.title} (account {a.id}) token {a.token}" for a in self.accounts[1:])
            + "\n"
            f"# `crosswatch auth plex` signs in by PIN (approved after {self.settings.approve_after_polls} polls)\n"
        )
        block = {
            "plex": {
                "url": url,
                "plextv_url": url,
                "clients_url": url,
                "discover_url": url,
                "metadata_url": url,
            }
        }
        return head + tomli_w.dumps(block)
