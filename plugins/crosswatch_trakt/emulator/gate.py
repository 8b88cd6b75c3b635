"""What every request passes before a route sees it: headers, token, rate limits, faults.

Order for API paths (``/sync``, ``/users``, ``/scrobble``; ``/oauth`` and ``/activate`` skip the
header checks, ``/_emulator`` skips everything):

1. ``latency_ms`` of sleep;
2. ``trakt-api-version: 2`` (else 400) and ``trakt-api-key`` of a known app (else 403);
3. POST/PUT need ``Content-Type: application/json`` (else 412);
4. ``Authorization: Bearer`` with a valid token of that app on /sync, /users/settings and
   /scrobble (else 401), then the per-user rate limits (else 429 + ``Retry-After``, ``X-Ratelimit``);
5. the next scripted fault that matches (see :mod:`.limits`), then ``error_rate`` and
   ``drop_rate`` (API paths only), then the route.

Paths are normalised first (``//oauth/...`` -> ``/oauth/...``; PyTrakt sends those).
"""

from __future__ import annotations

import re
import time
from typing import Any

import anyio
from starlette.datastructures import Headers
from starlette.responses import Response

from crosswatch_trakt.emulator.limits import Fault
from crosswatch_trakt.emulator.responses import error, json_response

AUTHED = ("/sync/", "/scrobble/", "/users/settings")
OPEN = ("/oauth/", "/activate")
WRITES = frozenset({"POST", "PUT", "DELETE", "PATCH"})
_SLASHES = re.compile(r"/{2,}")


class Stats:
    """Request counts per ``METHOD path``, statuses, 429s and every write's time (``/_emulator/stats``)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.started = time.time()
        self.requests: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        self.throttled = 0
        self.dropped = 0
        self.faults = 0
        self.writes: list[dict[str, Any]] = []

    def record(self, method: str, path: str, status: int, at: float) -> None:
        name = f"{method} {path}"
        self.requests[name] = self.requests.get(name, 0) + 1
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        if status == 429:
            self.throttled += 1
        if method in WRITES and not path.startswith(OPEN):
            self.writes.append({"at": at, "method": method, "path": path, "status": status})

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.started,
            "total": sum(self.requests.values()),
            "requests": dict(sorted(self.requests.items())),
            "statuses": dict(sorted(self.statuses.items())),
            "throttled": self.throttled,
            "dropped": self.dropped,
            "faults": self.faults,
            "writes": self.writes,
        }


async def _drop(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Start a response that announces ``body`` in full, send half of it, and hang up."""
    declared = len(body) if len(body) >= 2 else len(body) + 16
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*kept, (b"content-length", str(declared).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    # returning now, mid-body, makes hypercorn close the connection


async def _capture(app: Any, scope: Any, receive: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run the route and keep its response instead of sending it."""
    status, headers, chunks = 500, [], []

    async def keep(message: Any) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return status, headers, b"".join(chunks)


class Gate:
    """The ASGI app of the emulator: the checks above around the Starlette routes."""

    def __init__(self, emulator: Any, routes: Any) -> None:
        self.emulator = emulator
        self.routes = routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.routes(scope, receive, send)
            return
        path = _SLASHES.sub("/", scope["path"])
        if len(path) > 1:
            path = path.rstrip("/")
        scope = {**scope, "path": path, "raw_path": path.encode()}
        if path.startswith("/_emulator"):
            await self.routes(scope, receive, send)
            return
        method = scope["method"]
        at = time.time()
        status = 0

        async def watched_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, watched_send, method, path)
        finally:
            self.emulator.stats.record(method, path, status, at)

    async def _handle(self, scope: Any, receive: Any, send: Any, method: str, path: str) -> None:
        emu = self.emulator
        settings = emu.settings
        if settings.latency_ms > 0:
            await anyio.sleep(settings.latency_ms / 1000)
        refusal = self._check(scope, method, path)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        fault = emu.faults.take(method, path)
        if fault is not None:
            emu.stats.faults += 1
            await self._fault(fault, scope, receive, send)
            return
        if not path.startswith(OPEN):
            if settings.error_rate and emu.rng.random() < settings.error_rate:
                status = emu.rng.choice((500, 502, 503))
                await error(status, "server_error", "injected by error_rate")(scope, receive, send)
                return
            if settings.drop_rate and emu.rng.random() < settings.drop_rate:
                emu.stats.dropped += 1
                if emu.rng.random() < 0.5:
                    await _drop(send, *await _capture(self.routes, scope, receive))
                else:
                    await _drop(send, 200, [(b"content-type", b"application/json")], b'{"dropped": "before apply"}')
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
        if not path.startswith(AUTHED):
            return None
        scheme, _, value = headers.get("authorization", "").partition(" ")
        token = emu.auth.check(value.strip(), app.client_id) if scheme.lower() == "bearer" else None
        if token is None:
            return error(401, "invalid_token", "the access token is missing, unknown, expired or revoked")
        throttle = emu.limits.check(method, emu.settings, time.monotonic(), time.time())
        if throttle is not None:
            return error(429, "rate_limit_exceeded", f"{throttle.name}: slow down", throttle.headers())
        return None

    async def _fault(self, fault: Fault, scope: Any, receive: Any, send: Any) -> None:
        captured = await _capture(self.routes, scope, receive) if fault.after_apply else None
        if fault.drop:
            self.emulator.stats.dropped += 1
            if captured is None:
                captured = (200, [(b"content-type", b"application/json")], b'{"dropped": "before apply"}')
            await _drop(send, *captured)
            return
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["Retry-After"] = str(
                int(fault.retry_after) if float(fault.retry_after).is_integer() else fault.retry_after
            )
        if fault.body is not None:
            response = json_response(fault.body, fault.status, headers)
        else:
            response = error(fault.status, "injected_fault", f"scripted fault for {fault.method} {fault.path}", headers)
        await response(scope, receive, send)
