"""What every HTTP request passes before a route sees it: token, latency, faults, counting.

Order (``/_emulator`` skips everything; websockets check their token themselves):

1. the path is normalised (``//`` -> ``/``, no trailing ``/``);
2. ``latency_ms`` of sleep;
3. ``X-Plex-Token`` (header or query) must name a live token, except on ``/identity`` and the
   PIN endpoints (``/api/v2/pins...``): else 401 (PMS's HTML page; plex.tv's JSON/XML
   ``errors`` under ``/api/``); the token's account is handed to the route;
4. the next scripted fault that matches (:mod:`.faults`), then ``error_rate`` (500/502/503);
5. the route. Every request is counted in :class:`Stats` (``/_emulator/stats``).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from crosswatch_plex.emulator.faults import Fault
from crosswatch_plex.emulator.render import html_error

_SLASHES = re.compile(r"/{2,}")
WRITES = frozenset({"POST", "PUT", "DELETE", "PATCH"})


def open_path(method: str, path: str) -> bool:
    """Paths that need no token."""
    return path == "/identity" or path.startswith("/api/v2/pins")


class Stats:
    """Request counts per ``METHOD path`` and per status, faults, drops, write times."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.started = time.time()
        self.requests: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        self.faults = 0
        self.dropped = 0
        self.unauthorized = 0
        self.writes: list[dict[str, Any]] = []

    def record(self, method: str, path: str, status: int, at: float) -> None:
        name = f"{method} {path}"
        self.requests[name] = self.requests.get(name, 0) + 1
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        if status == 401:
            self.unauthorized += 1
        if method in WRITES or path.startswith(("/:/scrobble", "/:/unscrobble", "/:/rate")):
            self.writes.append({"at": at, "method": method, "path": path, "status": status})

    def to_json(self, websocket: dict[str, int] | None = None) -> dict[str, Any]:
        return {
            "since": self.started,
            "total": sum(self.requests.values()),
            "requests": dict(sorted(self.requests.items())),
            "statuses": dict(sorted(self.statuses.items())),
            "unauthorized": self.unauthorized,
            "faults": self.faults,
            "dropped": self.dropped,
            "writes": self.writes,
            "websocket": websocket or {},
        }


async def _drop(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Announce ``body`` in full, send half of it, and hang up."""
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


async def _capture(app: Any, scope: Any, receive: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
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
    """The emulator's ASGI app: the checks above around the Starlette routes."""

    def __init__(self, emulator: Any, routes: Any) -> None:
        self.emulator = emulator
        self.routes = routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.routes(scope, receive, send)
            return
        path = _SLASHES.sub("/", scope["path"])
        if len(path) > 1:
            path = path.rstrip("/")
        scope = {**scope, "path": path, "raw_path": path.encode()}
        if scope["type"] == "websocket" or path.startswith("/_emulator"):
            await self.routes(scope, receive, send)
            return
        method, at, status = scope["method"], time.time(), 0

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
        if emu.settings.latency_ms > 0:
            await anyio.sleep(emu.settings.latency_ms / 1000)
        request = Request(scope)
        token = request.headers.get("x-plex-token") or request.query_params.get("X-Plex-Token")
        who = emu.auth.account_of(token)
        if who is None and not open_path(method, path):
            await self._unauthorized(request)(scope, receive, send)
            return
        scope["state"] = {**scope.get("state", {}), "account": who if who is not None else emu.state.owner.id}
        fault = emu.faults.take(method, path)
        if fault is not None:
            emu.stats.faults += 1
            await self._fault(fault, scope, receive, send)
            return
        if emu.settings.error_rate and emu.rng.random() < emu.settings.error_rate:
            await html_error(emu.rng.choice((500, 502, 503)))(scope, receive, send)
            return
        await self.routes(scope, receive, send)

    def _unauthorized(self, request: Request) -> Response:
        if request.url.path.startswith("/api/"):
            from crosswatch_plex.emulator.routes_plextv import unauthorized

            return unauthorized(request)
        return html_error(401)

    async def _fault(self, fault: Fault, scope: Any, receive: Any, send: Any) -> None:
        captured = await _capture(self.routes, scope, receive) if fault.after_apply else None
        if fault.drop:
            self.emulator.stats.dropped += 1
            if captured is None:
                captured = (200, [(b"content-type", b"text/xml;charset=utf-8")], b'<MediaContainer size="0"/>')
            await _drop(send, *captured)
            return
        headers = {str(k): str(v) for k, v in fault.headers.items()}
        if fault.retry_after is not None:
            value = fault.retry_after
            headers["Retry-After"] = str(int(value) if float(value).is_integer() else value)
        if fault.body is not None:
            body = fault.body if isinstance(fault.body, str) else json.dumps(fault.body)
            media = "text/plain" if isinstance(fault.body, str) else "application/json"
            response = Response(body, status_code=fault.status, headers=headers, media_type=media)
        else:
            response = html_error(fault.status, headers)
        await response(scope, receive, send)
