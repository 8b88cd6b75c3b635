"""The write guard: a writer pauses the daemon's listeners before its first write, as a lease.

Listeners that forward what happens on a provider (rating scrobbles) live in the daemon. A
writer in the daemon (a scheduled sync) publishes its ``*Starting`` event on the daemon's bus.
A ``crosswatch tools clear``, ``capture restore`` or ``sync run`` run from a shell is another
process: it sends the event to the daemon's endpoint, ``POST /guard``, which publishes it and
answers once every subscriber has acted.

- **Is a daemon running?** The daemon holds an exclusive ``flock`` on ``.cw_state/daemon.lock``
  for as long as it lives (a second daemon on the same config directory refuses to start).
  A command proves liveness by that lock, not by a file's contents: when the lock is held and
  the daemon cannot be reached through ``daemon.json`` (missing, damaged, no endpoint, no
  answer), the command writes nothing.
- **How does it reach it?** ``daemon.json`` (0600): the daemon's pid, the address it listens
  on, and a fresh token the request must carry, so only someone who can read the state
  directory can pause the listeners. A reload (``SIGHUP``) writes it again if it went missing.
- **What if the writer dies or the daemon hangs?** The pause is a lease of
  ``daemon.guard_lease_s``: the command renews it while it works and stops writing when it
  cannot; a lease that is not renewed lifts by itself (``guard.lease_expired`` in the log and
  in ``/healthz``). A request older than its deadline (the command gave up on a stopped
  daemon) is refused, never applied late.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crosswatch.bus import EventBus, PublishError
from crosswatch.config import Config
from crosswatch.errors import CrosswatchError
from crosswatch.events import (
    Event,
    LeaseRenewed,
    RestoreFinished,
    RestoreStarting,
    SyncFinished,
    SyncStarting,
    ToolFinished,
    ToolStarting,
    WriteStarting,
)
from crosswatch.liveness import DAEMON_FILE, DAEMON_LOCK, daemon_alive
from crosswatch.state import StateDir, StateError

if TYPE_CHECKING:
    import httpx

log = structlog.get_logger("crosswatch.guard")
EVENTS: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        ToolStarting,
        ToolFinished,
        RestoreStarting,
        RestoreFinished,
        SyncStarting,
        SyncFinished,
        LeaseRenewed,
    )
}
MAX_BODY = 64 * 1024


class GuardError(CrosswatchError):
    """The running daemon did not confirm that its listeners acted on a guard event."""


class DaemonFile(msgspec.Struct, kw_only=True):
    """What a running daemon tells commands about itself."""

    pid: int
    url: str | None  # None: no HTTP endpoint
    token: str


# -- the daemon's side -------------------------------------------------------------------------


class DaemonLock:
    """The exclusive lock a daemon holds on its config directory for as long as it runs."""

    def __init__(self, state: StateDir) -> None:
        self.state = state
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; StateError naming the other daemon when one holds it."""
        self.state.ensure()
        fd = os.open(self.state.file(DAEMON_LOCK + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StateError(
                f"another crosswatch daemon (pid {other}) runs on {self.state.path.parent}; stop it first"
            ) from None
        # the holder's pid, for messages only (the lock itself is the proof)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def announce(state: StateDir, url: str | None, token: str | None = None) -> str:
    """Write ``daemon.json`` for this run (0600); returns the token guard requests must carry."""
    token = token or secrets.token_urlsafe(32)
    state.ensure()
    state.write_json(DAEMON_FILE, DaemonFile(pid=os.getpid(), url=url, token=token))
    return token


def reannounce(state: StateDir, url: str | None, token: str) -> bool:
    """Write ``daemon.json`` again when it went missing or no longer says this daemon; True if it did."""
    try:
        found = state.read_json(DAEMON_FILE, None, type=DaemonFile | None)
    except StateError:
        found = None  # damaged: moved aside by read_json
    if found is not None and found.pid == os.getpid() and found.url == url and found.token == token:
        return False
    announce(state, url, token)
    return True


def retire(state: StateDir) -> None:
    """Remove ``daemon.json`` if it is this process's."""
    with contextlib.suppress(StateError, OSError, msgspec.ValidationError):
        found = state.read_json(DAEMON_FILE, None, type=DaemonFile | None)
        if found is not None and found.pid == os.getpid():
            state.remove(DAEMON_FILE)


def _authorised(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.encode())


def job_route(trigger: Callable[[str], bool], token: str) -> Route:
    """``POST /jobs/{job}/run``: run a scheduled job now (a pair's sync, a capture schedule).

    Answers 202 once the job started, 409 when it is running already or unknown; the same
    token as ``/guard`` (from ``daemon.json``).
    """

    async def run_job(request: Request) -> JSONResponse:
        if not _authorised(request, token):
            return JSONResponse({"error": "wrong or missing token"}, status_code=403)
        job = request.path_params["job"]
        if not trigger(job):
            return JSONResponse({"error": f"no job {job!r}, or it is running already"}, status_code=409)
        log.info("job.triggered", job=job)
        return JSONResponse({"started": job}, status_code=202)

    return Route("/jobs/{job}/run", run_job, methods=["POST"])


def guard_route(bus: EventBus, token: str) -> Route:
    """``POST /guard``: publish one guard event on the daemon's bus and wait for its subscribers."""

    async def guard(request: Request) -> Response:
        if not _authorised(request, token):
            return JSONResponse({"error": "wrong or missing token"}, status_code=403)
        try:
            body = await _body(request)
            event = _event(body)
        except ClientDisconnect:
            # the command gave up (killed, or its timeout) before sending all of it: nothing to act on
            log.info("guard.request_incomplete")
            return Response(status_code=400)
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            return JSONResponse({"error": f"not a guard event: {exc}"}, status_code=400)
        deadline = body.get("valid_until")
        if isinstance(deadline, (int, float)) and time.time() > deadline:
            # the command stopped waiting for this answer long ago: acting on it now would
            # pause the listeners for a writer that never writes
            log.warning("guard.stale_request", event_type=type(event).__name__, late_s=round(time.time() - deadline, 1))
            return JSONResponse({"error": "the request's deadline passed before the daemon saw it"}, status_code=410)
        try:
            await bus.publish(event)
        except PublishError as exc:
            log.error("guard.publish_failed", event_type=type(event).__name__, error=str(exc))
            return JSONResponse({"error": str(exc)}, status_code=409 if isinstance(event, LeaseRenewed) else 500)
        if not isinstance(event, LeaseRenewed):
            log.info("guard.published", event_type=type(event).__name__, **asdict(event))
        return JSONResponse({"ok": True, "subscribers": len(bus.subscribers(event))})

    return Route("/guard", guard, methods=["POST"])


async def _body(request: Request) -> dict[str, Any]:
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise ValueError(f"the body is larger than {MAX_BODY} bytes")
    body = msgspec.json.decode(data) if data else None
    if not isinstance(body, dict):
        raise TypeError("the body must be an object")
    return body


def _event(body: dict[str, Any]) -> Event:
    """A guard event from a request body; ValueError/KeyError/TypeError when it is not one."""
    cls = EVENTS[body.get("event")]  # type: ignore[index]
    values = {}
    for f in fields(cls):
        if f.name not in body:
            continue
        value = body[f.name]
        if f.name in ("features", "targets"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"{f.name} must be a list of names")
            value = tuple(value)
        elif f.name == "ok":
            if not isinstance(value, bool):
                raise TypeError("ok must be a bool")
        elif f.name == "lease_s":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 3600:
                raise TypeError("lease_s must be a number of seconds (0 to 3600)")
            value = float(value)
        elif not isinstance(value, str):
            raise TypeError(f"{f.name} must be a str")
        values[f.name] = value
    return cls(**values)


# -- the writer's side ----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a writer reports when its pause ends (``ok`` goes into the ``*Finished`` event)."""

    ok: bool = False


@contextlib.asynccontextmanager
async def hold_in_process(bus: Any, starting: WriteStarting) -> AsyncIterator[Outcome]:
    """Publish ``starting`` on ``bus`` (every listener paused), yield, then publish its ``*Finished``."""
    starting = starting.with_lease(getattr(starting, "lease", "") or uuid.uuid4().hex)
    await bus.publish(starting)
    outcome = Outcome()
    try:
        yield outcome
    finally:
        with anyio.CancelScope(shield=True):
            await bus.publish(starting.finished(outcome.ok))


@dataclass
class _Reach:
    daemon: DaemonFile
    client: httpx.AsyncClient


class DaemonGuard:
    """A command's stand-in for the bus: guard events go to the running daemon, if there is one."""

    def __init__(self, config: Config, timeout_s: float | None = None) -> None:
        self.state = StateDir(config.config_dir)
        settings = config.daemon
        self.timeout_s = float(timeout_s if timeout_s is not None else settings.guard_timeout_s)
        self.lease_s = float(settings.guard_lease_s)

    def _daemon(self, what: str) -> DaemonFile | None:
        """The running daemon to tell, None when none runs; GuardError when one runs but cannot be told."""
        if not daemon_alive(self.state):
            return None
        try:
            found: DaemonFile | None = self.state.read_json(DAEMON_FILE, None, type=DaemonFile | None)
        except StateError as exc:
            found, why = None, f"its {DAEMON_FILE} is damaged ({exc})"
        else:
            why = f"its {DAEMON_FILE} is missing"
        if found is not None:
            with contextlib.suppress(OSError, ValueError):
                holder = int(self.state.file(DAEMON_LOCK + ".lock").read_text().strip() or 0)
                if holder and holder != found.pid:
                    why = f"its {DAEMON_FILE} names pid {found.pid}, another process"
                    found = None
        if found is None:
            raise GuardError(
                f"a crosswatch daemon runs on {self.state.path.parent} but {why}, so it cannot be told to pause its "
                f"listeners before {what}; nothing was written. `systemctl reload crosswatch` (SIGHUP) makes it "
                f"write the file again"
            )
        if found.url is None:
            raise GuardError(
                f"the running daemon (pid {found.pid}) has no HTTP endpoint (daemon.listen is empty), so it "
                f"cannot be told to pause its listeners before {what}; stop it or set daemon.listen"
            )
        return found

    def check(self, what: str = "writing") -> None:
        """GuardError now, before anything is read or written, when a running daemon cannot be told."""
        self._daemon(what)

    async def _post(self, reach: _Reach, event: Event, timeout: float) -> None:
        """Send one event; GuardError unless the daemon confirms it within ``timeout``."""
        import httpx

        name = type(event).__name__
        daemon = reach.daemon
        body: dict[str, Any] = {"event": name, **asdict(event), "valid_until": time.time() + timeout}
        try:
            with anyio.fail_after(timeout):
                response = await reach.client.post(
                    f"{daemon.url}/guard", json=body, headers={"Authorization": f"Bearer {daemon.token}"}
                )
        except TimeoutError:
            raise GuardError(
                f"the running daemon (pid {daemon.pid}) did not confirm {name} within {timeout:g} s; "
                "nothing more was written"
            ) from None
        except httpx.HTTPError as exc:
            raise GuardError(f"the running daemon (pid {daemon.pid}) did not confirm {name}: {exc!r}") from exc
        if response.status_code != 200:
            raise GuardError(
                f"the running daemon (pid {daemon.pid}) did not confirm {name} (HTTP {response.status_code}: "
                f"{response.text[:200]}); nothing more was written"
            )

    async def publish(self, event: Event) -> None:
        """Send one guard event to the running daemon (none running: nothing to do)."""
        if type(event).__name__ not in EVENTS:
            return
        daemon = self._daemon(type(event).__name__)
        if daemon is None:
            return
        import httpx

        async with httpx.AsyncClient(timeout=None) as client:
            await self._post(_Reach(daemon, client), event, self.timeout_s)

    @contextlib.asynccontextmanager
    async def hold(self, starting: WriteStarting) -> AsyncIterator[Outcome]:
        """Pause the daemon's listeners as a renewed lease while the block writes.

        No daemon: nothing to pause. A daemon that cannot be told, or stops confirming the
        lease: GuardError, and the block is cancelled before the lease could lapse.
        """
        name = type(starting).__name__
        daemon = self._daemon(name)
        if daemon is None:
            yield Outcome()
            return
        import httpx

        lease = uuid.uuid4().hex
        starting = starting.with_lease(lease, self.lease_s)
        outcome = Outcome()
        lost: list[GuardError] = []
        failed: Exception | None = None  # the block's own error, raised as it is (not in a group)
        async with httpx.AsyncClient(timeout=None) as client:
            reach = _Reach(daemon, client)
            sent = time.monotonic()
            await self._post(reach, starting, self.timeout_s)
            try:
                async with anyio.create_task_group() as tg:
                    body = anyio.CancelScope()
                    tg.start_soon(self._keep, reach, lease, sent, body, lost)
                    with body:
                        try:
                            yield outcome
                        except Exception as exc:
                            failed = exc
                    tg.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    try:
                        ok = outcome.ok and not lost and failed is None
                        await self._post(reach, starting.finished(ok), min(self.timeout_s, 10.0))
                    except GuardError as exc:  # the lease lifts by itself; say so
                        log.warning("guard.finish_unconfirmed", error=str(exc), lease_s=self.lease_s)
        if lost:
            raise lost[0] from failed
        if failed is not None:
            raise failed

    async def _keep(
        self, reach: _Reach, lease: str, sent: float, body: anyio.CancelScope, lost: list[GuardError]
    ) -> None:
        """Renew the lease while the block runs; cancel the block before an unconfirmed lease lapses."""
        every = max(0.5, self.lease_s / 5)
        margin = max(1.0, self.lease_s / 4)  # stop writing this long before the daemon would lift the pause
        confirmed_until = sent + self.lease_s
        while True:
            await anyio.sleep(every)
            began = time.monotonic()
            try:
                await self._post(reach, LeaseRenewed(lease, self.lease_s), max(0.1, confirmed_until - margin - began))
            except GuardError as exc:
                lost.append(GuardError(f"lost the daemon's pause before the writing was done: {exc}"))
                body.cancel()
                return
            confirmed_until = began + self.lease_s

    def emit(self, event: Event) -> None:
        """Fire-and-forget events stay in this process (the daemon learns of captures from disk)."""
