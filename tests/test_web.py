"""The HTTP endpoint in-process, on both backends: health, plugin routes swapped live, clean stop."""

from __future__ import annotations

import anyio
import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from crosswatch.web import WebApp, bind_socket, parse_listen, serve


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:8787") == ("127.0.0.1", 8787)
    assert parse_listen("[::1]:9000") == ("::1", 9000)


def test_bind_socket_names_the_address_when_busy() -> None:
    first = bind_socket("127.0.0.1:0")
    port = first.getsockname()[1]
    try:
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            bind_socket(f"127.0.0.1:{port}")
    finally:
        first.close()


@pytest.mark.anyio
async def test_health_and_routes_served_then_stopped_by_trigger() -> None:
    calls = 0

    def health() -> dict:
        nonlocal calls
        calls += 1
        return {"status": "ok", "calls": calls}

    async def ping(request) -> PlainTextResponse:
        return PlainTextResponse("pong")

    app = WebApp(health)
    sock = bind_socket("127.0.0.1:0")
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve, app, sock, stop.wait)
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                first = (await client.get("/healthz")).json()
                second = (await client.get("/healthz")).json()
                assert first["status"] == "ok" and second["calls"] == first["calls"] + 1
                assert (await client.get("/plugin/ping")).status_code == 404
                app.set_routes([Route("/plugin/ping", ping)])
                reply = await client.get("/plugin/ping")
                assert reply.status_code == 200 and reply.text == "pong"
                app.set_routes([])
                assert (await client.get("/plugin/ping")).status_code == 404
                assert (await client.post("/healthz")).status_code == 405
            with anyio.fail_after(5):
                stop.set()  # serve returns by itself; the task group then exits
    finally:
        sock.close()
