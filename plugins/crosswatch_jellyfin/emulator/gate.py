"""What every request passes before a route sees it: path, token, latency, limits, faults.

Order (``/_emulator`` skips everything but the path normalising):

1. the path: ``//`` -> ``/``, no trailing ``/``; a leading ``/emby`` or ``/mediabrowser`` is
   stripped (Jellyfin 10.8-10.11's legacy rewrite; Emby's documented base path), and every
   known literal segment takes its canonical case (ASP.NET routes are case-insensitive:
   ``/system/info/public`` is ``/System/Info/Public``). A websocket upgrade on any path goes
   to :mod:`.notify`, as Jellyfin's middleware takes it wherever it arrives.
2. ``latency_ms`` of sleep;
3. the caller (:func:`caller_of`): the token from the ``Authorization`` header's ``Token``,
   then (legacy authorization on) ``X-Emby-Token``, ``X-MediaBrowser-Token``, then the
   query's ``ApiKey``, then (legacy) ``api_key``; the header is ``Authorization``, or
   (legacy) ``X-Emby-Authorization``, scheme ``MediaBrowser`` or (legacy) ``Emby``. A
   route that needs a caller answers 401 with an empty body when there is none;
4. ``rate_limit`` (429 + ``Retry-After``), the next scripted fault that matches
   (:mod:`crosswatch.emulation.faults`), ``error_rate`` (500/502/503), ``drop_rate``;
5. the route. Every request is counted in :class:`Stats` (``/_emulator/stats``).

A scripted fault's ``body`` is sent as text (a string) or JSON (anything else); without one
the answer is the servers' plain text "Error processing request.".
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response

from crosswatch.emulation.faults import Fault
from crosswatch.emulation.gate import Gate as BaseGate
from crosswatch.emulation.gate import capture, chance, delay, drop_mid_body, injected_status, normalise_path
from crosswatch.emulation.stats import RequestStats
from crosswatch_jellyfin.emulator.render import fail
from crosswatch_jellyfin.emulator.users import Caller, parse_authorization

#: paths (canonical case) that need no token
ANONYMOUS = frozenset(
    {
        "/System/Info/Public",
        "/System/Ping",
        "/Users/Public",
        "/Users/AuthenticateByName",
        "/Users/AuthenticateWithQuickConnect",
        "/QuickConnect/Enabled",
        "/QuickConnect/Initiate",
        "/QuickConnect/Connect",
        "/Branding/Configuration",
    }
)


def anonymous(path: str) -> bool:
    """Whether a route (canonical path) answers without a token."""
    if path in ANONYMOUS or path.startswith("/Branding"):
        return True
    parts = path.split("/")  # POST /Users/{id}/Authenticate, the obsolete sign-in by id
    return len(parts) == 4 and parts[1] == "Users" and parts[3] == "Authenticate"


class Stats(RequestStats):
    """Request counts per ``METHOD path`` and per status, 401s, 429s, faults, drops, write times."""

    counters = ("unauthorized", "throttled", "faults", "dropped")
    by_status = {401: "unauthorized", 429: "throttled"}
    unauthorized: int
    throttled: int

    def to_json(self, websocket: dict[str, int] | None = None) -> dict[str, Any]:
        """The counts, and the websocket counts (open sockets, messages sent) last."""
        return {**super().to_json(), "websocket": websocket or {}}


def _query_token(query: QueryParams, name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in query.multi_items() if k.lower() == wanted and v), None)


def caller_of(emu: Any, headers: Headers, query: QueryParams) -> Caller:
    """Who sends a request: a known token's caller, else an anonymous one (with its device headers)."""
    legacy = emu.legacy_auth
    schemes = ("MediaBrowser", "Emby") if legacy else ("MediaBrowser",)
    header = headers.get("authorization")
    if not header and legacy:
        header = headers.get("x-emby-authorization")
    parts = (parse_authorization(header, schemes) if header else None) or {}
    token = parts.get("Token") or None
    if not token and legacy:
        token = headers.get("x-emby-token") or headers.get("x-mediabrowser-token") or None
    if not token:
        token = _query_token(query, "ApiKey")
    if not token and legacy:
        token = _query_token(query, "api_key")
    known = emu.accounts.caller(token)
    caller = known if known is not None else Caller()
    caller.client = parts.get("Client") or caller.client
    caller.device = parts.get("Device") or caller.device
    caller.device_id = parts.get("DeviceId") or caller.device_id
    caller.version = parts.get("Version") or caller.version
    return caller


class Gate(BaseGate):
    """The emulator's ASGI app: the checks above around the Starlette routes."""

    normalised = ("http", "websocket")
    before_apply = (200, [(b"content-type", b"text/plain")], b"")

    def __init__(self, emulator: Any, routes: Any, literals: dict[str, str], socket: Any) -> None:
        super().__init__(emulator, routes)
        self.literals, self.socket = literals, socket
        self.prefixes = {p.lower() for p in emulator.flavour.prefixes}

    def canonical(self, path: str) -> str:
        """The path with the server's base stripped and literal segments in their route's case."""
        path = normalise_path(path)
        parts = path.split("/")
        if len(parts) > 1 and parts[1].lower() in self.prefixes:
            parts = ["", *parts[2:]]
        literals = self.literals
        path = "/".join(literals.get(p.lower(), p) for p in parts)
        return path or "/"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in self.normalised and not scope["path"].startswith("/_emulator"):
            path = self.canonical(scope["path"])
            scope = {**scope, "path": path, "raw_path": path.encode()}
            if scope["type"] == "websocket":
                await self.socket(self.emulator, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def handle(self, scope: Any, receive: Any, send: Any, method: str, path: str) -> None:
        emu = self.emulator
        settings = emu.settings
        await delay(settings.latency_ms)
        caller = caller_of(emu, Headers(scope=scope), QueryParams(scope.get("query_string", b"")))
        if not caller.signed_in and not anonymous(path):
            await fail(401)(scope, receive, send)
            return
        scope["state"] = {**scope.get("state", {}), "caller": caller}
        if settings.rate_limit:
            who = caller.token or str((scope.get("client") or ("", 0))[0])
            wait = emu.rate_window.hit(who, settings.rate_limit, settings.rate_period, time.monotonic())
            if wait is not None:
                headers = {"Retry-After": str(max(1, math.ceil(wait)))}
                await fail(429, "Too Many Requests", headers)(scope, receive, send)
                return
        if await self.scripted_fault(scope, receive, send, method, path):
            return
        status = injected_status(emu.rng, settings.error_rate)
        if status is not None:
            await fail(status, "Error processing request.")(scope, receive, send)
            return
        if chance(emu.rng, settings.drop_rate):
            emu.stats.dropped += 1
            if emu.rng.random() < 0.5:
                await drop_mid_body(send, *await capture(self.routes, scope, receive))
            else:
                await drop_mid_body(send, *self.before_apply)
            return
        await self.routes(scope, receive, send)

    def fault_answer(self, fault: Fault) -> Response:
        """A scripted fault's answer: its ``body`` as text or JSON, else the servers' plain text."""
        headers = {str(k): str(v) for k, v in fault.answer_headers().items()}
        if fault.body is not None:
            body = fault.body if isinstance(fault.body, str) else json.dumps(fault.body)
            media = "text/plain" if isinstance(fault.body, str) else "application/json"
            return Response(body, status_code=fault.status, headers=headers, media_type=media)
        return fail(fault.status, "Error processing request.", headers)
