"""What every request passes before a route sees it: headers, token, rate limits, faults.

Order for API paths (``/sync``, ``/users``, ``/scrobble``, ``/search``, ``/shows``; ``/oauth`` and
``/activate`` skip the header checks, ``/_emulator`` skips everything):

1. ``latency_ms`` of sleep;
2. ``trakt-api-version: 2`` (else 400) and ``trakt-api-key`` of a known app (else 403);
3. POST/PUT need ``Content-Type: application/json`` (else 412);
4. ``Authorization: Bearer`` with a valid token of that app (else 401): required on /sync,
   /scrobble, /users/me, /users/settings and /users/likes ("OAuth required"); elsewhere
   ("OAuth optional": /users/{slug}, /search, /shows) a token is not needed, but one that is
   sent must be valid. Then the rate limits (else 429 + ``Retry-After``, ``X-Ratelimit``): the
   user's windows with a token, ``UNAUTHED_API_GET_LIMIT`` without;
5. the next scripted fault that matches (:mod:`crosswatch.emulation.faults`; faults hit API
   and OAuth paths, never ``/_emulator``), then ``error_rate`` and ``drop_rate`` (API paths
   only), then the route.

Paths are normalised first (``//oauth/...`` -> ``/oauth/...``; PyTrakt sends those). The
path normalising, counting, latency, random errors, drops and scripted faults are the shared
:mod:`crosswatch.emulation.gate`; this module holds Trakt's checks and answers. A scripted
fault's ``body`` is sent as JSON; without one the answer is ``{"error": "injected_fault", ...}``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response

from crosswatch.emulation.faults import Fault
from crosswatch.emulation.gate import Gate as BaseGate
from crosswatch.emulation.gate import capture, chance, delay, drop_mid_body, injected_status
from crosswatch.emulation.stats import WRITES, RequestStats
from crosswatch_trakt.emulator.auth import Token
from crosswatch_trakt.emulator.responses import error, json_response

AUTHED = ("/sync/", "/scrobble/")
#: ``/users/<this>`` paths that always need the signed-in user's token
AUTHED_USER_PATHS = frozenset({"me", "settings", "likes"})
OPEN = ("/oauth/", "/activate")


def token_required(path: str) -> bool:
    """Whether an API path is "OAuth required" (else "OAuth optional")."""
    if path.startswith(AUTHED):
        return True
    parts = path.split("/", 3)
    return len(parts) > 2 and parts[1] == "users" and parts[2] in AUTHED_USER_PATHS


def bearer_token(emu: Any, headers: Headers) -> tuple[bool, Token | None]:
    """Whether an ``Authorization`` header was sent, and its valid token of the sending app (or None)."""
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    if not scheme:
        return False, None
    app = emu.auth.app(headers.get("trakt-api-key"))
    if scheme.lower() != "bearer" or app is None:
        return True, None
    return True, emu.auth.check(value.strip(), app.client_id)


class Stats(RequestStats):
    """Request counts per ``METHOD path``, statuses, 429s and every write's time (``/_emulator/stats``)."""

    counters = ("throttled", "dropped", "faults")
    by_status = {429: "throttled"}
    throttled: int

    def is_write(self, method: str, path: str) -> bool:
        return method in WRITES and not path.startswith(OPEN)


class Gate(BaseGate):
    """The ASGI app of the emulator: the checks above around the Starlette routes."""

    before_apply = (200, [(b"content-type", b"application/json")], b'{"dropped": "before apply"}')

    async def handle(self, scope: Any, receive: Any, send: Any, method: str, path: str) -> None:
        emu = self.emulator
        settings = emu.settings
        await delay(settings.latency_ms)
        refusal = self._check(scope, method, path)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if await self.scripted_fault(scope, receive, send, method, path):
            return
        if not path.startswith(OPEN):
            status = injected_status(emu.rng, settings.error_rate)
            if status is not None:
                await error(status, "server_error", "injected by error_rate")(scope, receive, send)
                return
            if chance(emu.rng, settings.drop_rate):
                emu.stats.dropped += 1
                if emu.rng.random() < 0.5:
                    await drop_mid_body(send, *await capture(self.routes, scope, receive))
                else:
                    await drop_mid_body(send, *self.before_apply)
                return
        await self.routes(scope, receive, send)

    def _check(self, scope: Any, method: str, path: str) -> Response | None:
        """The refusal of a request that fails the header, token or rate checks; None if it passes."""
        if path.startswith(OPEN):
            return None
        emu = self.emulator
        headers = Headers(scope=scope)
        if headers.get("trakt-api-version", "").strip() != "2":
            return error(400, "bad_request", "send the header trakt-api-version: 2")
        app = emu.auth.app(headers.get("trakt-api-key"))
        if app is None:
            return error(403, "forbidden", "invalid API key (trakt-api-key) or unapproved app")
        if method in ("POST", "PUT", "PATCH"):
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                return error(412, "precondition_failed", "send Content-Type: application/json")
        sent, token = bearer_token(emu, headers)
        if token is None and (sent or token_required(path)):
            return error(401, "invalid_token", "the access token is missing, unknown, expired or revoked")
        throttle = emu.limits.check(method, emu.settings, time.monotonic(), time.time(), authed=token is not None)
        if throttle is not None:
            return error(429, "rate_limit_exceeded", f"{throttle.name}: slow down", throttle.headers())
        return None

    def fault_answer(self, fault: Fault) -> Response:
        """A scripted fault's answer: its JSON ``body``, else Trakt's JSON error."""
        headers = fault.answer_headers()
        if fault.body is not None:
            return json_response(fault.body, fault.status, headers)
        return error(fault.status, "injected_fault", f"scripted fault for {fault.method} {fault.path}", headers)
