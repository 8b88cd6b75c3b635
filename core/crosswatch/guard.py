"""The write guard across processes: a command that writes to a provider tells the running daemon.

Listeners that forward what happens on a provider (rating scrobbles) live in the daemon. A
``crosswatch tools clear`` or ``capture restore`` run from a shell is another process, so it
sends its ``ToolStarting``/``ToolFinished`` (and restore) events to the daemon's loopback
endpoint, ``POST /guard``, which publishes them on the daemon's bus and answers once every
subscriber has acted. At start the daemon writes ``.cw_state/daemon.json`` (0600): its pid,
the address it actually listens on and a fresh token the request must carry, so only someone
who can read the state directory can pause the listeners. It removes the file when it stops.

No daemon running (no file, or its pid is gone) means no listener to pause: the command goes
on. A running daemon without an HTTP endpoint (``daemon.listen = ""``), or one that does not
confirm, stops the command before it writes anything.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from dataclasses import asdict, fields
from typing import Any

import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crosswatch.bus import EventBus, PublishError
from crosswatch.config import Config
from crosswatch.events import (
    Event,
    RestoreFinished,
    RestoreStarting,
    SyncFinished,
    SyncStarting,
    ToolFinished,
    ToolStarting,
)
from crosswatch.state import StateDir, StateError

log = structlog.get_logger("crosswatch.guard")
DAEMON_FILE = "daemon.json"
EVENTS: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (ToolStarting, ToolFinished, RestoreStarting, RestoreFinished, SyncStarting, SyncFinished)
}


class GuardError(Exception):
    """The running daemon did not confirm that its listeners acted on a guard event."""


class DaemonFile(msgspec.Struct, kw_only=True):
    """What a running daemon tells commands about itself."""

    pid: int
    url: str | None  # None: no HTTP endpoint
    token: str


def announce(state: StateDir, url: str | None) -> str:
    """Write ``daemon.json`` for this run (0600); returns the token guard requests must carry."""
    token = secrets.token_urlsafe(32)
    state.ensure()
    state.write_json(DAEMON_FILE, DaemonFile(pid=os.getpid(), url=url, token=token))
    return token


def retire(state: StateDir) -> None:
    """Remove ``daemon.json`` if it is this process's."""
    with contextlib.suppress(StateError, OSError, msgspec.ValidationError):
        found = state.read_json(DAEMON_FILE, None, type=DaemonFile | None)
        if found is not None and found.pid == os.getpid():
            state.remove(DAEMON_FILE)


def running_daemon(state: StateDir) -> DaemonFile | None:
    """The daemon that runs on this config directory, if one does."""
    try:
        found = state.read_json(DAEMON_FILE, None, type=DaemonFile | None)
    except (StateError, OSError):
        return None
    if found is None:
        return None
    try:
        os.kill(found.pid, 0)
    except ProcessLookupError:
        return None  # left by a daemon that died
    except PermissionError:
        pass  # alive, another user's
    return found


def guard_route(bus: EventBus, token: str) -> Route:
    """``POST /guard``: publish one guard event on the daemon's bus and wait for its subscribers."""

    async def guard(request: Request) -> JSONResponse:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse({"error": "wrong or missing token"}, status_code=403)
        try:
            event = _event(await request.json())
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


def _event(body: Any) -> Event:
    """A guard event from a request body; ValueError/KeyError/TypeError when it is not one."""
    if not isinstance(body, dict):
        raise TypeError("the body must be an object")
    cls = EVENTS[body.get("event")]
    values = {}
    for f in fields(cls):
        if f.name not in body:
            continue
        value = body[f.name]
        if f.name in ("features", "targets"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"{f.name} must be a list of names")
            value = tuple(value)
        elif not isinstance(value, bool if f.name == "ok" else str):
            raise TypeError(f"{f.name} must be a {'bool' if f.name == 'ok' else 'str'}")
        values[f.name] = value
    return cls(**values)


class DaemonGuard:
    """A command's stand-in for the bus: guard events go to the running daemon, if there is one."""

    def __init__(self, config: Config, timeout_s: float = 60.0) -> None:
        self.state = StateDir(config.config_dir)
        self.timeout_s = timeout_s

    async def publish(self, event: Event) -> None:
        name = type(event).__name__
        if name not in EVENTS:
            return
        daemon = running_daemon(self.state)
        if daemon is None:
            return  # no daemon running: no listener to pause
        if daemon.url is None:
            raise GuardError(
                f"the running daemon (pid {daemon.pid}) has no HTTP endpoint (daemon.listen is empty), so it "
                f"cannot be told to pause its listeners before {name}; stop it or set daemon.listen"
            )
        import httpx  # only a command that writes to a provider gets here

        body: dict[str, Any] = {"event": name, **asdict(event)}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(
                    f"{daemon.url}/guard", json=body, headers={"Authorization": f"Bearer {daemon.token}"}
                )
        except httpx.HTTPError as exc:
            raise GuardError(f"the running daemon (pid {daemon.pid}) did not confirm {name}: {exc!r}") from exc
        if response.status_code != 200:
            raise GuardError(
                f"the running daemon (pid {daemon.pid}) did not confirm {name} (HTTP {response.status_code}: "
                f"{response.text[:200]}); nothing was written"
            )

    def emit(self, event: Event) -> None:
        """Fire-and-forget events stay in this process (the daemon learns of captures from disk)."""
