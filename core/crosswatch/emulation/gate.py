"""The provider-neutral half of an emulator's gate: the ASGI app in front of its routes.

:class:`Gate` normalises the path (``//`` -> ``/``, no trailing ``/``), lets ``/_emulator``
(and non-HTTP scopes) straight through, and counts every other request in the emulator's
``stats`` (:class:`crosswatch.emulation.stats.RequestStats`) with the status it got; a
subclass's ``handle`` does the provider's checks. The pieces a ``handle`` uses:

- :func:`delay`: the ``latency_ms`` knob;
- :func:`chance` and :func:`injected_status`: seeded random errors (500/502/503) and drops;
- :meth:`Gate.scripted_fault`: the next scripted :class:`~crosswatch.emulation.faults.Fault`,
  applied first (``after_apply``) and/or dropped mid-body (:func:`drop_mid_body`,
  :func:`capture`), else answered by the subclass's :meth:`Gate.fault_answer`.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import anyio
from starlette.applications import Starlette

from crosswatch.emulation.faults import Fault

ASGIApp = Callable[..., Any]
#: a route's answer kept instead of sent: status, headers, body
Captured = tuple[int, list[tuple[bytes, bytes]], bytes]
ERROR_STATUSES = (500, 502, 503)
_SLASHES = re.compile(r"/{2,}")


def normalise_path(path: str) -> str:
    """``//a//b/`` -> ``/a/b`` (``/`` stays ``/``)."""
    path = _SLASHES.sub("/", path)
    return path.rstrip("/") if len(path) > 1 else path


async def delay(latency_ms: float) -> None:
    """Sleep ``latency_ms`` milliseconds (nothing when it is 0)."""
    if latency_ms > 0:
        await anyio.sleep(latency_ms / 1000)


def chance(rng: random.Random, rate: float) -> bool:
    """True for a share ``rate`` of calls; draws from ``rng`` only when ``rate`` is not 0."""
    return bool(rate) and rng.random() < rate


def injected_status(rng: random.Random, rate: float) -> int | None:
    """500, 502 or 503 for a share ``rate`` of requests (``error_rate``); None for the rest."""
    return rng.choice(ERROR_STATUSES) if chance(rng, rate) else None


async def drop_mid_body(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
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


async def capture(app: ASGIApp, scope: Any, receive: Any) -> Captured:
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


def routes_app(emulator: Any, routes: Sequence[Any], on_error: Callable[..., Any]) -> Starlette:
    """The Starlette app of an emulator's routes: 404 and 405 answered by ``on_error``, and
    ``app.state.emulator`` set for the routes to find."""
    app = Starlette(routes=list(routes), exception_handlers={404: on_error, 405: on_error})
    app.state.emulator = emulator
    return app


class Gate:
    """The emulator's ASGI app: path normalising and counting around ``handle`` (see the module).

    ``emulator`` has ``stats`` (a :class:`~crosswatch.emulation.stats.RequestStats`) and
    ``faults`` (a :class:`~crosswatch.emulation.faults.Faults`).
    """

    #: scope types whose path is normalised; other types go straight to the routes
    normalised: ClassVar[tuple[str, ...]] = ("http",)
    #: what a dropped answer announces when the request was not applied
    before_apply: ClassVar[Captured] = (200, [], b"")

    def __init__(self, emulator: Any, routes: ASGIApp) -> None:
        self.emulator = emulator
        self.routes = routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in self.normalised:
            await self.routes(scope, receive, send)
            return
        path = normalise_path(scope["path"])
        scope = {**scope, "path": path, "raw_path": path.encode()}
        if scope["type"] != "http" or path.startswith("/_emulator"):
            await self.routes(scope, receive, send)
            return
        method, at, counted = scope["method"], time.time(), False

        async def watched_send(message: Any) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                # counted before the client can see the answer: a test that has its answer sees the count
                counted = True
                self.emulator.stats.record(method, path, message["status"], at)
            await send(message)

        try:
            await self.handle(scope, receive, watched_send, method, path)
        finally:
            if not counted:  # no answer at all (a dropped connection)
                self.emulator.stats.record(method, path, 0, at)

    async def handle(self, scope: Any, receive: Any, send: Any, method: str, path: str) -> None:
        """The provider's checks, then ``self.routes`` (a counted HTTP request, path normalised)."""
        raise NotImplementedError

    def fault_answer(self, fault: Fault) -> ASGIApp:
        """The provider's answer to a scripted fault that is not dropped (its status, headers, body)."""
        raise NotImplementedError

    async def scripted_fault(self, scope: Any, receive: Any, send: Any, method: str, path: str) -> bool:
        """Answer with the next scripted fault that matches ``method path``; False if none does.

        ``after_apply`` runs the route first (its answer is lost); ``drop`` then sends half of
        that answer (or of ``before_apply`` when nothing was applied) and hangs up; otherwise
        :meth:`fault_answer` is sent. ``stats.faults`` (and ``stats.dropped``) count it.
        """
        stats = self.emulator.stats
        fault = self.emulator.faults.take(method, path)
        if fault is None:
            return False
        stats.faults += 1
        captured = await capture(self.routes, scope, receive) if fault.after_apply else None
        if fault.drop:
            stats.dropped += 1
            await drop_mid_body(send, *(captured if captured is not None else self.before_apply))
            return True
        await self.fault_answer(fault)(scope, receive, send)
        return True
