"""The shared HTTP policy over real loopback HTTP: retries, Retry-After, pacing, unknown outcomes."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crosswatch.http import HttpError, HttpPolicy, OutcomeUnknown, Pacer, RetryPolicy, WindowBudget, retry_after
from crosswatch.web import WebApp, bind_socket, serve


class Script:
    """Answers a path with a scripted list of statuses, then 200."""

    def __init__(self) -> None:
        self.plan: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.seen: list[tuple[str, str, float]] = []
        self.hold: dict[str, anyio.Event] = {}  # a path answered only once its event is set

    async def __call__(self, scope, receive, send) -> None:
        request = Request(scope, receive)
        self.seen.append((request.method, request.url.path, time.monotonic()))
        if request.url.path in self.hold:
            await self.hold[request.url.path].wait()
        steps = self.plan.get(request.url.path) or []
        if steps:
            status, headers = steps.pop(0)
            if status == 0:  # a dropped connection: promise a body, send part of it, abort
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
                await send({"type": "http.response.body", "body": b'{"added"', "more_body": True})
                raise RuntimeError("connection dropped on purpose")
            response: Response = JSONResponse({"error": status}, status_code=status, headers=headers)
        else:
            response = JSONResponse({"ok": True})
        await response(scope, receive, send)


@asynccontextmanager
async def server(script: Script) -> AsyncIterator[str]:
    app = WebApp(lambda: {})
    app.set_routes([Route("/{path:path}", script, methods=["GET", "POST", "DELETE"])])
    sock = bind_socket("127.0.0.1:0")
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(serve, app, sock, stop.wait)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            stop.set()
    sock.close()


def fast_policy(**kw) -> HttpPolicy:
    return HttpPolicy("test", retry=RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05), **kw)


@pytest.mark.anyio
async def test_429_waits_for_retry_after_then_succeeds() -> None:
    script = Script()
    script.plan["/sync/x"] = [(429, {"Retry-After": "1", "X-Ratelimit": '{"remaining": 0}'})]
    async with server(script) as url, httpx.AsyncClient() as client:
        policy = fast_policy()
        began = time.monotonic()
        response = await policy.send(client, "POST", url + "/sync/x", json={})
        assert response.status_code == 200
        assert time.monotonic() - began >= 0.95
    assert policy.stats.throttled == 1 and policy.stats.retries == 1
    assert len(script.seen) == 2


@pytest.mark.anyio
async def test_unsure_status_on_a_non_idempotent_write_is_not_resent() -> None:
    script = Script()
    script.plan["/sync/history"] = [(500, {})]
    async with server(script) as url, httpx.AsyncClient() as client:
        with pytest.raises(OutcomeUnknown, match="may have been applied"):
            await fast_policy().send(client, "POST", url + "/sync/history", json={})
    assert len(script.seen) == 1  # sent once, never again


@pytest.mark.anyio
async def test_5xx_retries_idempotent_requests_but_not_a_non_idempotent_write() -> None:
    script = Script()
    script.plan["/sync/watchlist"] = [(503, {}), (503, {})]
    script.plan["/sync/ratings"] = [(500, {}), (502, {})]
    script.plan["/sync/history"] = [(503, {})]  # a proxy's 503 may follow an applied write
    async with server(script) as url, httpx.AsyncClient() as client:
        policy = fast_policy()
        assert (await policy.send(client, "POST", url + "/sync/watchlist", json={}, idempotent=True)).status_code == 200
        assert (await policy.send(client, "GET", url + "/sync/ratings")).status_code == 200
        with pytest.raises(OutcomeUnknown):
            await policy.send(client, "POST", url + "/sync/history", json={})
    assert [p for _, p, _ in script.seen].count("/sync/watchlist") == 3
    assert [p for _, p, _ in script.seen].count("/sync/history") == 1


@pytest.mark.anyio
async def test_gives_back_the_last_response_after_the_retries() -> None:
    script = Script()
    script.plan["/busy"] = [(503, {})] * 10
    async with server(script) as url, httpx.AsyncClient() as client:
        response = await fast_policy().send(client, "GET", url + "/busy")
    assert response.status_code == 503
    assert len(script.seen) == 4  # the first try and three retries


@pytest.mark.anyio
async def test_dropped_connection_after_sending_a_write_is_an_unknown_outcome() -> None:
    script = Script()
    script.plan["/sync/history"] = [(0, {})]
    async with server(script) as url, httpx.AsyncClient() as client:
        policy = fast_policy()
        with pytest.raises(OutcomeUnknown) as caught:
            await policy.send(client, "POST", url + "/sync/history", json={})
        assert isinstance(caught.value.__cause__, httpx.TransportError)
        script.plan["/sync/watchlist"] = [(0, {})]
        ok = await policy.send(client, "GET", url + "/sync/watchlist")  # a read is simply retried
        assert ok.status_code == 200


@pytest.mark.anyio
async def test_connection_refused_is_retried_then_reported() -> None:
    sock = bind_socket("127.0.0.1:0")
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    async with httpx.AsyncClient() as client:
        with pytest.raises(HttpError, match="gave up after 3 retries"):
            await fast_policy().send(client, "POST", f"http://127.0.0.1:{port}/sync/history", json={})


@pytest.mark.anyio
async def test_writes_are_paced() -> None:
    script = Script()
    async with server(script) as url, httpx.AsyncClient() as client:
        policy = fast_policy(write_interval=0.2)
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(lambda: policy.send(client, "POST", url + "/w", json={}))
    times = sorted(t for _, _, t in script.seen)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 4 and min(gaps) >= 0.18


@pytest.mark.anyio
async def test_a_write_held_back_by_a_busy_slot_does_not_take_the_next_ones_turn() -> None:
    """The server counts a write when it arrives. A write that waited for a connection slot (reads
    of a sync hold them all) or a slow connect after its turn came must still be a full pace
    before the next write arrives, or Trakt answers the next one 429."""
    script = Script()
    script.hold["/slow"] = release = anyio.Event()
    async with server(script) as url, httpx.AsyncClient() as client:
        policy = fast_policy(write_interval=0.3, concurrency=1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: policy.send(client, "GET", url + "/slow"))  # holds the only slot
            with anyio.fail_after(30):
                while not script.seen:
                    await anyio.sleep(0.01)
            for path in ("/w1", "/w2"):
                tg.start_soon(lambda path=path: policy.send(client, "POST", url + path, json={}))
            # the behaviour under test: the second write's turn comes while both wait for the slot
            await anyio.sleep(0.5)
            release.set()
    writes = sorted(t for method, _, t in script.seen if method == "POST")
    assert len(writes) == 2 and writes[1] - writes[0] >= 0.3


@pytest.mark.anyio
async def test_window_budget_holds_the_extra_call() -> None:
    budget = WindowBudget(3, 60)
    with anyio.fail_after(30):  # the first three are not held (a held one would wait a minute)
        for _ in range(3):
            await budget.wait()
    with anyio.move_on_after(0.3) as held:  # the fourth is (it would be let go a minute later)
        await budget.wait()
    assert held.cancelled_caught
    budget = WindowBudget(1, 0.4)
    began = time.monotonic()
    await budget.wait()
    await budget.wait()
    assert time.monotonic() - began >= 0.38  # let go once the first call left the window


@pytest.mark.anyio
async def test_pacer_push_back() -> None:
    pacer = Pacer(0.01)
    await pacer.wait()
    began = time.monotonic()  # before the push back: a slow machine only adds to the wait
    pacer.push_back(0.3)
    await pacer.wait()
    assert time.monotonic() - began >= 0.28


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after": "7"}) == 7
    assert retry_after({}) is None
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past


def test_one_policy_serves_event_loops_one_after_another() -> None:
    """A process-wide policy outlives event loops (CLI runs, tests on both backends)."""
    script = Script()
    policy = fast_policy(write_interval=0.01, read_limit=100)

    async def use(url_holder: list[str]) -> None:
        async with server(script) as url, httpx.AsyncClient() as client:
            assert (await policy.send(client, "GET", url + "/a")).status_code == 200
            assert (await policy.send(client, "POST", url + "/b", json={})).status_code == 200

    for backend in ("trio", "asyncio", "trio"):
        anyio.run(use, [], backend=backend)
    assert policy.stats.requests == 6


def test_each_command_starts_with_the_budgets_of_a_new_process(tmp_path: Path) -> None:
    """In one process the accounts' policies are shared (the daemon's jobs and scrobbles); a
    command run in-process after another (tests, ``crosswatch.testing``) must not inherit a
    spent read budget and wait out its window, as a separate process would not."""
    from crosswatch.cli import main
    from crosswatch.http import policies, policy_for

    spent = policy_for("TRAKT:https://api.trakt.tv:default", read_limit=1, read_period=300.0)
    anyio.run(spent.reads.wait)  # the one read of the window
    assert spent.reads.remaining() == 0
    assert main(["--config-dir", str(tmp_path), "runs"]) in (0, 1)
    assert spent not in policies()
    fresh = policy_for("TRAKT:https://api.trakt.tv:default", read_limit=1, read_period=300.0)
    assert fresh.reads.remaining() == 1
