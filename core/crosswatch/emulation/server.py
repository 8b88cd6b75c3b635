"""Serving an emulator's ASGI app on loopback: in a task group, in a thread, or in the foreground.

All three bind the socket first (so the port is known and connections queue from the start)
and serve it with :func:`crosswatch.web.serve` (hypercorn), which runs on asyncio and trio.

- ``async with serve_app(app) as url:`` inside async code (tests on both anyio backends).
- ``with serve_in_thread(app) as url:`` for synchronous clients (requests, PyTrakt, plexapi):
  the server runs its own event loop in a thread.
- ``serve_forever(app, port, ready_callback)`` for a command line: serves until SIGTERM or
  SIGINT, then returns (the process exits 0).
"""

from __future__ import annotations

import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import anyio.from_thread

from crosswatch.web import bind_socket, serve

ASGIApp = Callable[..., Any]


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    return bind_socket(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")


async def _serve_until(app: ASGIApp, sock: socket.socket, stop: anyio.Event) -> None:
    # hypercorn's asyncio worker does not take cancellation cleanly, so the server is
    # shielded and always stopped through ``stop`` (bounded, in case it ever hangs)
    with anyio.CancelScope(shield=True) as scope:
        scope.deadline = anyio.current_time() + 10**9
        await serve(app, sock, stop.wait)


@asynccontextmanager
async def serve_app(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` while the block runs; yields the base URL (``http://127.0.0.1:PORT``).

    The server stops when the block exits (it waits up to a second for open connections:
    close your clients first).
    """
    sock = _bind(host, port)
    stop = anyio.Event()
    failure: Exception | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_serve_until, app, sock, stop)
            try:
                yield _url(sock, host)
            except Exception as exc:  # raised below, unwrapped by the task group
                failure = exc
            finally:
                stop.set()
    finally:
        sock.close()
    if failure is not None:
        raise failure


@contextmanager
def serve_in_thread(app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, backend: str = "asyncio") -> Iterator[str]:
    """Serve ``app`` from an event loop in a background thread; yields the base URL."""
    sock = _bind(host, port)
    try:
        with anyio.from_thread.start_blocking_portal(backend) as portal:
            stop: anyio.Event = portal.call(anyio.Event)
            served = portal.start_task_soon(serve, app, sock, stop.wait)
            try:
                yield _url(sock, host)
            finally:
                portal.call(stop.set)
                served.result(timeout=10)
    finally:
        sock.close()


def serve_forever(
    app: ASGIApp,
    port: int = 0,
    ready_callback: Callable[[str], None] | None = None,
    *,
    host: str = "127.0.0.1",
    backend: str = "asyncio",
) -> None:
    """Serve ``app`` in the foreground until SIGTERM or SIGINT, then return normally.

    ``ready_callback(url)`` runs once the socket listens and the signal handlers are in
    place, so a supervisor that reads the callback's output can stop the process at once.
    """
    sock = _bind(host, port)

    async def main() -> None:
        stop = anyio.Event()

        async def watch_signals(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                task_status.started()
                async for _ in signals:
                    stop.set()
                    return

        async with anyio.create_task_group() as tg:
            await tg.start(watch_signals)
            if ready_callback is not None:
                ready_callback(_url(sock, host))
            await serve(app, sock, stop.wait)
            tg.cancel_scope.cancel()

    try:
        anyio.run(main, backend=backend)
    finally:
        sock.close()
