"""What every HTTP request passes before a route sees it: token, latency, faults, counting.

Order (``/_emulator`` skips everything; websockets check their token themselves):

1. the path is normalised (``//`` -> ``/``, no trailing ``/``);
2. ``latency_ms`` of sleep;
3. ``X-Plex-Token`` (header or query) must name a live token, except on ``/identity`` and the
   PIN endpoints (``/api/v2/pins...``): else 401 (PMS's HTML page; plex.tv's JSON/XML
   ``errors`` under ``/api/``); the token's account is handed to the route;
4. the next scripted fault that matches (:mod:`crosswatch.emulation.faults`), then
   ``error_rate`` (500/502/503);
5. the route. Every request is counted in :class:`Stats` (``/_emulator/stats``).

Scripted faults hit every path but ``/_emulator``, after the token check (a request without
a valid token is refused with 401 first and consumes nothing). A fault's ``body`` is sent as
text (a string) or JSON (anything else); without one the answer is PMS's HTML error page.
The path normalising, counting, latency, random errors and drops are the shared
:mod:`crosswatch.emulation.gate`; this module holds Plex's token rules and answers.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crosswatch.emulation.faults import Fault
from crosswatch.emulation.gate import Gate as BaseGate
from crosswatch.emulation.gate import delay, injected_status
from crosswatch.emulation.stats import WRITES, RequestStats
from crosswatch_plex.emulator.render import html_error


def open_path(method: str, path: str) -> bool:
    """Paths that need no token."""
    return path == "/identity" or path.startswith("/api/v2/pins")


class Stats(RequestStats):
    """Request counts per ``METHOD path`` and per status, faults, drops, write times."""

    counters = ("unauthorized", "faults", "dropped")
    by_status = {401: "unauthorized"}
    unauthorized: int

    def is_write(self, method: str, path: str) -> bool:
        return method in WRITES or path.startswith(("/:/scrobble", "/:/unscrobble", "/:/rate"))

    def to_json(self, websocket: dict[str, int] | None = None) -> dict[str, Any]:
        """The counts, and the websocket counts (open sockets, frames sent) last."""
        return {**super().to_json(), "websocket": websocket or {}}


class Gate(BaseGate):
    """The emulator's ASGI app: the checks above around the Starlette routes."""

    normalised = ("http", "websocket")
    before_apply = (200, [(b"content-type", b"text/xml;charset=utf-8")], b'<MediaContainer size="0"/>')

    async def handle(self, scope: Any, receive: Any, send: Any, method: str, path: str) -> None:
        emu = self.emulator
        await delay(emu.settings.latency_ms)
        request = Request(scope)
        token = request.headers.get("x-plex-token") or request.query_params.get("X-Plex-Token")
        who = emu.auth.account_of(token)
        if who is None and not open_path(method, path):
            await self._unauthorized(request)(scope, receive, send)
            return
        scope["state"] = {**scope.get("state", {}), "account": who if who is not None else emu.state.owner.id}
        if await self.scripted_fault(scope, receive, send, method, path):
            return
        status = injected_status(emu.rng, emu.settings.error_rate)
        if status is not None:
            await html_error(status)(scope, receive, send)
            return
        await self.routes(scope, receive, send)

    def _unauthorized(self, request: Request) -> Response:
        if request.url.path.startswith("/api/"):
            from crosswatch_plex.emulator.routes_plextv import unauthorized

            return unauthorized(request)
        return html_error(401)

    def fault_answer(self, fault: Fault) -> Response:
        """A scripted fault's answer: its ``body`` as text or JSON, else PMS's HTML error page."""
        headers = {str(k): str(v) for k, v in fault.answer_headers().items()}
        if fault.body is not None:
            body = fault.body if isinstance(fault.body, str) else json.dumps(fault.body)
            media = "text/plain" if isinstance(fault.body, str) else "application/json"
            return Response(body, status_code=fault.status, headers=headers, media_type=media)
        return html_error(fault.status, headers)
