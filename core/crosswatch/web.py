"""The daemon's HTTP endpoint (loopback by default): health now, webhooks and metrics from plugins.

Starlette app served by hypercorn, which runs on both asyncio and trio. The socket is bound
before serving starts, so a port in use is a clear start-up error and readiness is exact.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sniffio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:8787"`` / ``"[::1]:8787"`` -> (host, port)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def bind_socket(listen: str) -> socket.socket:
    """Bind and listen on ``listen``; raises OSError naming the address on failure."""
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {listen}: {exc.strerror}") from exc
    return sock


class WebApp:
    """An ASGI app whose routes can be swapped when plugins change (on a config reload)."""

    def __init__(
        self,
        health: Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]],
        core: Sequence[BaseRoute] = (),
    ) -> None:
        self._health = health
        self._core = list(core)
        self._app = self._build([])

    def _build(self, extra: Sequence[BaseRoute]) -> Starlette:
        async def healthz(request: Request) -> JSONResponse:
            body = self._health()
            if inspect.isawaitable(body):
                body = await body
            # 503 for "failing" so that a container healthcheck or an uptime monitor acts on it
            return JSONResponse(body, status_code=503 if body.get("status") == "failing" else 200)

        return Starlette(routes=[Route("/healthz", healthz, methods=["GET"]), *self._core, *extra])

    def set_routes(self, extra: Sequence[BaseRoute]) -> None:
        self._app = self._build(extra)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)


async def serve(app: ASGIApp, sock: socket.socket, shutdown: Callable[[], Awaitable[Any]]) -> None:
    """Serve ``app`` on the bound ``sock`` until ``shutdown()`` returns, on whichever backend runs.

    Stop it through ``shutdown``, not by cancelling: hypercorn's asyncio worker does not
    take cancellation cleanly.
    """
    from hypercorn.config import Config as HypercornConfig

    config = HypercornConfig()
    # hypercorn owns (and closes) the socket it is given: hand it a duplicate of ours
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("crosswatch.web")
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 30.0
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve as trio_serve

        await trio_serve(_hypercorn_app(app), config, shutdown_trigger=shutdown)
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        await asyncio_serve(_hypercorn_app(app), config, shutdown_trigger=shutdown)


def _hypercorn_app(app: ASGIApp) -> Any:
    """Starlette's and hypercorn's ASGI types differ in spelling, not in kind."""
    return app
