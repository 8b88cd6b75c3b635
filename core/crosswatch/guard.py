"""The write guard across processes: a command that writes to a provider tells the running daemon.

Listeners that forward what happens on a provider (rating scrobbles) live in the daemon. A
``crosswatch tools clear`` or ``capture restore`` run from a shell is another process, so it
sends its ``ToolStarting``/``ToolFinished`` (and restore) events to the daemon's loopback
endpoint, ``POST /guard``, which publishes them on the daemon's bus and answers once every
subscriber has acted. The request carries a token the daemon writes at start to
``.cw_state/daemon.token`` (0600): only someone who can read the state directory can pause
the listeners.

No daemon listening means no listener to pause: the command goes on. A daemon that answers
but does not confirm stops the command before it writes anything.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import asdict, fields
from typing import Any

import httpx
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crosswatch.bus import EventBus, PublishError
from crosswatch.config import Config
from crosswatch.events import Event, RestoreFinished, RestoreStarting, ToolFinished, ToolStarting
from crosswatch.state import StateDir, atomic_write_bytes

log = structlog.get_logger("crosswatch.guard")
TOKEN_FILE = "daemon.token"
EVENTS: dict[str, type[Event]] = {
    cls.__name__: cls for cls in (ToolStarting, ToolFinished, RestoreStarting, RestoreFinished)
}


class GuardError(Exception):
    """The running daemon did not confirm that its listeners acted on a guard event."""


def issue_token(state: StateDir) -> str:
    """A fresh token for this daemon run, saved 0600 in the state directory."""
    token = secrets.token_urlsafe(32)
    state.ensure()
    atomic_write_bytes(state.file(TOKEN_FILE), token.encode(), mode=0o600)
    return token


def guard_route(bus: EventBus, token: str) -> Route:
    """``POST /guard``: publish one guard event on the daemon's bus and wait for its subscribers."""

    async def guard(request: Request) -> JSONResponse:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse({"error": "wrong or missing token"}, status_code=403)
        try:
            body = await request.json()
            cls = EVENTS[body.pop("event")]
            event = cls(**{f.name: body[f.name] for f in fields(cls) if f.name in body})
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"not a guard event: {exc}"}, status_code=400)
        try:
            await bus.publish(event)
        except PublishError as exc:
            log.error("guard.publish_failed", event_type=type(event).__name__, error=str(exc))
            return JSONResponse({"error": str(exc)}, status_code=500)
        log.info("guard.published", event_type=type(event).__name__, **asdict(event))
        return JSONResponse({"ok": True, "subscribers": len(bus.subscribers(event))})

    return Route("/guard", guard, methods=["POST"])


class DaemonGuard:
    """A command's stand-in for the bus: guard events go to the running daemon, if there is one."""

    def __init__(self, config: Config, timeout_s: float = 60.0) -> None:
        self.listen = config.daemon.listen
        self.state = StateDir(config.config_dir)
        self.timeout_s = timeout_s

    async def publish(self, event: Event) -> None:
        name = type(event).__name__
        if name not in EVENTS or not self.listen:
            return
        host, _, port = self.listen.rpartition(":")
        if host in ("0.0.0.0", "[::]", "::", ""):
            host = "127.0.0.1"
        url = f"http://{host}:{port}/guard"
        try:
            token = self.state.file(TOKEN_FILE).read_text().strip()
        except OSError:
            token = ""
        body: dict[str, Any] = {"event": name, **asdict(event)}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        except httpx.ConnectError:
            return  # no daemon running: no listener to pause
        except httpx.HTTPError as exc:
            raise GuardError(f"the daemon at {self.listen} did not confirm {name}: {exc!r}") from exc
        if response.status_code != 200:
            raise GuardError(
                f"the daemon at {self.listen} did not confirm {name} (HTTP {response.status_code}: "
                f"{response.text[:200]}); nothing was written"
            )

    def emit(self, event: Event) -> None:
        """Fire-and-forget events stay in this process (the daemon learns of captures from disk)."""
