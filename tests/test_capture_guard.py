"""The write guard: rating listeners pause while a tool clears ratings, in process and across processes.

In process, a test rating listener hears ``RatingObserved`` events made from the Plex
emulator's real notification websocket while ``clear_feature(ctx, "plex", "ratings")`` runs
on the same bus. Across processes, ``DaemonGuard`` (and ``crosswatch tools clear``) reach a
real daemon whose drop-in plugin subscribes to the guard events.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import aconnect_ws

from crosswatch.bus import EventBus
from crosswatch.captures.store import CaptureStore
from crosswatch.captures.tools import clear_feature
from crosswatch.cli import main
from crosswatch.commands.common import plugin_host
from crosswatch.config import load_config
from crosswatch.emulation.server import serve_app, serve_in_thread
from crosswatch.events import RatingObserved, ToolFinished, ToolStarting
from crosswatch.jobs import JobContext
from crosswatch.listener_pause import DAEMON_FILE, DaemonGuard, GuardError, guard_route
from crosswatch.web import WebApp
from crosswatch_plex.emulator import EmulatorSettings, PlexEmulator
from tests.conditions import wait_until
from tests.daemon_proc import DaemonProcess

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))
IDENTIFIER = "com.plexapp.plugins.library"
QUIET_S = 1.0


class RatingListener:
    """Forwards ``RatingObserved`` of one provider profile, unless a ratings tool runs on it.

    ``ToolStarting(feature="ratings")`` for the profile pauses it; it resumes once
    ``ToolFinished`` came and no rating was seen for ``quiet_s`` (the echoes of the tool's
    own writes arrive late). What arrives while paused is dropped and counted.
    """

    def __init__(
        self,
        provider: str,
        profile: str,
        quiet_s: float = QUIET_S,
        *,
        guarded: bool = True,
        probe: Any = None,
    ) -> None:
        self.provider, self.profile, self.quiet_s, self.guarded = provider, profile, quiet_s, guarded
        self.probe = probe  # what the provider holds, looked at once pausing is done
        self.probed: list[Any] = []
        self.forwarded: list[RatingObserved] = []
        self.dropped_unrates = 0
        self.dropped_rates = 0
        self.tool_events: list[str] = []
        self.paused = False
        self._finished_at: float | None = None
        self._last_seen = -math.inf

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(RatingObserved, self.on_rating)
        if self.guarded:
            bus.subscribe(ToolStarting, self.on_starting)
            bus.subscribe(ToolFinished, self.on_finished)

    def _ours(self, event: ToolStarting | ToolFinished) -> bool:
        return (event.provider, event.profile, event.feature) == (self.provider, self.profile, "ratings")

    async def on_starting(self, event: ToolStarting) -> None:
        if self._ours(event):
            self.tool_events.append("starting")
            self.paused, self._finished_at = True, None
            await anyio.sleep(0.2)  # settling in-flight work: the tool must wait for this
            if self.probe is not None:
                self.probed.append(self.probe())

    async def on_finished(self, event: ToolFinished) -> None:
        if self._ours(event):
            self.tool_events.append("finished")
            self._finished_at = anyio.current_time()

    def on_rating(self, event: RatingObserved) -> None:
        if (event.provider, event.profile) != (self.provider, self.profile):
            return
        now = anyio.current_time()
        quiet = self._finished_at is not None and now - max(self._finished_at, self._last_seen) >= self.quiet_s
        if self.paused and quiet:
            self.paused = False
        if self.paused:
            self._last_seen = now
            if event.rating is None:
                self.dropped_unrates += 1
            else:
                self.dropped_rates += 1
            return
        self.forwarded.append(event)

    def unrates(self, since: int = 0) -> list[RatingObserved]:
        return [e for e in self.forwarded[since:] if e.rating is None]


async def plex_ratings_to_bus(
    url: str,
    token: str,
    bus: EventBus,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Timeline frames of the notification websocket -> ``RatingObserved`` (rating read from the item)."""
    headers = {"X-Plex-Token": token, "Accept": "application/json"}
    async with (
        httpx.AsyncClient(base_url=url, headers=headers) as client,
        aconnect_ws(f"{url}/:/websockets/notifications?filters=timeline&X-Plex-Token={token}", client) as ws,
    ):
        task_status.started()
        while True:
            container = json.loads(await ws.receive_text())["NotificationContainer"]
            for entry in container.get("TimelineEntry", []):
                if entry.get("state") != 5:
                    continue
                reply = await client.get(f"/library/metadata/{entry['itemID']}")
                reply.raise_for_status()
                rating = reply.json()["MediaContainer"]["Metadata"][0].get("userRating")
                value = round(rating) if rating else None
                bus.emit(RatingObserved("PLEX", "default", item=entry["itemID"], rating=value, source="websocket"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def saved_plex_token(folder: Path) -> str:
    return json.loads((folder / ".cw_state" / "plex.tokens.json").read_text())["server_token"]


@pytest.mark.anyio
async def test_no_unrate_is_forwarded_while_clear_ratings_runs(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=4, size=30, settings=EmulatorSettings(approve_after_polls=0))
    async with serve_app(emu) as url:
        (tmp_path / "config.toml").write_text('[daemon]\nlisten = ""\n\n' + emu.config_toml(url))
        # the real PIN flow, from the command line (it runs its own event loop: in a thread)
        assert await anyio.to_thread.run_sync(main, ["--config-dir", str(tmp_path), "auth", "plex"]) == 0
        token = saved_plex_token(tmp_path)
        owner = emu.auth.account_of(token)
        rated = sorted(emu.state.users[owner].ratings)
        assert len(rated) >= 5

        host = plugin_host(tmp_path)
        config = load_config(tmp_path, host.sections())
        bus = EventBus()
        guarded = RatingListener("PLEX", "default", probe=lambda: len(emu.state.users[owner].ratings))
        naive = RatingListener("PLEX", "default", guarded=False)  # the control: never pauses
        guarded.subscribe(bus)
        naive.subscribe(bus)
        headers = {"X-Plex-Token": token}
        async with anyio.create_task_group() as tg, httpx.AsyncClient(base_url=url, headers=headers) as plex:
            tg.start_soon(bus.run)
            await tg.start(plex_ratings_to_bus, url, token, bus)
            await wait_until(lambda: emu.websocket_stats()["open"] == 1, what="the websocket")

            async def rate(rk: int, rating: float) -> None:
                params = {"key": str(rk), "identifier": IDENTIFIER, "rating": rating}
                assert (await plex.put("/:/rate", params=params)).status_code == 200

            # a person unrating in Plex with no tool running: forwarded (the pipeline is live)
            await rate(rated[0], -1)
            await wait_until(lambda: [e.item for e in guarded.unrates()] == [str(rated[0])], what="the first unrate")
            to_clear = len(emu.state.users[owner].ratings)
            assert to_clear == len(rated) - 1

            mark = len(guarded.forwarded)
            report = await clear_feature(JobContext(config, host, bus), "plex", "ratings")
            cleared = sum(report.removed["ratings"].values())
            assert report.ok and cleared == to_clear
            assert emu.state.users[owner].ratings == {}
            # every echo of the clear arrives (the control sees each, in the same delivery as the
            # guarded listener), and the guarded listener drops each one, forwarding none
            await wait_until(lambda: len(naive.unrates()) == 1 + cleared, what="the echoes of the clear")
            assert guarded.unrates(mark) == [] and guarded.forwarded[mark:] == []
            assert guarded.dropped_unrates == cleared
            assert guarded.dropped_rates == 0
            # paused once, before the first rating was removed (the tool waited for the listener)
            assert guarded.tool_events == ["starting", "finished"]
            assert guarded.probed == [to_clear]

            # after the quiet period the listener forwards again: it does not block everything
            await anyio.sleep(QUIET_S + 0.3)
            await rate(rated[1], 8)
            await wait_until(lambda: guarded.forwarded[mark:] != [], what="the new rating")
            assert [(e.item, e.rating) for e in guarded.forwarded[mark:]] == [(str(rated[1]), 8)]
            await rate(rated[1], -1)
            await wait_until(lambda: len(guarded.unrates(mark)) == 1, what="the later unrate")
            assert guarded.dropped_unrates == cleared
            tg.cancel_scope.cancel()

    (safety,) = report.safety
    header = CaptureStore(tmp_path).load(safety)
    assert (header.type, header.feature, header.stats.count) == ("safety", "ratings", cleared)


# -- the daemon's guard endpoint, in process --------------------------------------------------

GUARD_TOKEN = "the-daemon-token"
STARTING = {"event": "ToolStarting", "provider": "PLEX", "profile": "default", "feature": "ratings", "tool": "clear"}


def guard_client(bus: EventBus) -> httpx.AsyncClient:
    app = WebApp(dict, core=[guard_route(bus, GUARD_TOKEN)])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://daemon")


@pytest.mark.anyio
async def test_guard_route_publishes_and_answers_after_every_subscriber() -> None:
    bus = EventBus()
    heard: list[Any] = []

    async def slow(event: ToolStarting) -> None:
        await anyio.sleep(0.3)
        heard.append(event)

    bus.subscribe(ToolStarting, slow)
    bus.subscribe(ToolStarting, heard.append)
    async with guard_client(bus) as client:
        auth = {"Authorization": f"Bearer {GUARD_TOKEN}"}
        assert (await client.post("/guard", json=STARTING)).status_code == 403
        wrong = await client.post("/guard", json=STARTING, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403 and heard == []
        began = anyio.current_time()
        reply = await client.post("/guard", json=STARTING, headers=auth)
        assert anyio.current_time() - began >= 0.3
        assert reply.status_code == 200 and reply.json() == {"ok": True, "subscribers": 2}
        assert heard == [ToolStarting("PLEX", "default", "ratings", "clear")] * 2
        finished = {**STARTING, "event": "ToolFinished", "ok": False}
        assert (await client.post("/guard", json=finished, headers=auth)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"event": "RatingObserved"}, {"event": "ToolStarting"}, [], "ToolStarting", 5],
    ids=["not-a-guard-event", "missing-fields", "list", "string", "number"],
)
@pytest.mark.anyio
async def test_guard_route_answers_400_to_a_body_that_is_not_a_guard_event(body: Any) -> None:
    """``guard_route`` refuses what is not a guard event with 400 ("not a guard event: ...").

    Product bug: for a JSON string or number ``guard()`` calls ``body.pop("event")`` on it; the
    AttributeError is not among the caught (ValueError, KeyError, TypeError), so the daemon
    answers 500 and logs a traceback ("Error in ASGI Framework").
    """
    bus = EventBus()
    heard: list[Any] = []
    bus.subscribe(ToolStarting, heard.append)
    async with guard_client(bus) as client:
        reply = await client.post("/guard", json=body, headers={"Authorization": f"Bearer {GUARD_TOKEN}"})
    assert reply.status_code == 400, reply.text
    assert "not a guard event" in reply.json()["error"] and heard == []


@pytest.mark.anyio
async def test_a_guard_request_cut_off_mid_body_is_one_info_line_and_publishes_nothing(
    logs: list[dict[str, Any]],
) -> None:
    """A tool killed while sending its pause: no traceback, nothing published, the daemon goes on."""
    bus = EventBus()
    heard: list[Any] = []
    bus.subscribe(ToolStarting, heard.append)
    app = WebApp(dict, core=[guard_route(bus, GUARD_TOKEN)])
    body = json.dumps(STARTING).encode()
    incoming = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"authorization", f"Bearer {GUARD_TOKEN}".encode()), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "method": "POST", "path": "/guard", "headers": headers, "query_string": b""}
    await app(scope, receive, send)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [400]
    assert heard == []
    assert [(e["event"], e["log_level"]) for e in logs if e["log_level"] != "debug"] == [
        ("guard.request_incomplete", "info")
    ]


# -- across processes ------------------------------------------------------------------------

LISTENER_PLUGIN = """
import json
from pathlib import Path

import anyio
import httpx

from crosswatch import hookimpl
from crosswatch.events import ToolFinished, ToolStarting

OUT = Path(__file__).resolve().parent.parent / "guard-events.jsonl"
PLEX = {plex!r}


async def ratings_on_plex():
    if not PLEX:
        return None
    async with httpx.AsyncClient() as client:
        state = (await client.get(PLEX + "/_emulator/state")).json()
    return len(state["users"]["1"]["ratings"])


async def on_guard(event):
    await anyio.sleep(0.5)  # the sender must wait for this
    line = {{"event": type(event).__name__, **event.__dict__, "ratings_on_plex": await ratings_on_plex()}}
    with open(OUT, "a") as fh:
        fh.write(json.dumps(line) + "\\n")


@hookimpl
def crosswatch_subscribe(bus):
    bus.subscribe(ToolStarting, on_guard)
    bus.subscribe(ToolFinished, on_guard)
"""


def guard_home(folder: Path, port: int, plex_url: str = "", plex_block: str = "") -> Path:
    (folder / "plugins.d").mkdir(parents=True)
    (folder / "plugins.d" / "listener.py").write_text(LISTENER_PLUGIN.format(plex=plex_url))
    (folder / "config.toml").write_text(f'[daemon]\nlisten = "127.0.0.1:{port}"\n\n' + plex_block)
    return folder / "guard-events.jsonl"


def guard_config(folder: Path) -> Any:
    return load_config(folder, plugin_host(folder).sections())


def published(backend: str, guard: DaemonGuard, event: Any) -> float:
    began = time.monotonic()
    anyio.run(guard.publish, event, backend=backend)
    return time.monotonic() - began


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.slow
def test_daemon_guard_reaches_the_daemon_and_waits_for_its_subscribers(tmp_path: Path, backend: str) -> None:
    port = free_port()
    out = guard_home(tmp_path, port)
    guard = DaemonGuard(guard_config(tmp_path))
    daemon = DaemonProcess(tmp_path, backend)
    try:
        daemon.wait_for("daemon.ready", timeout=60)
        starting = ToolStarting("PLEX", "default", "ratings", "clear")
        took = published(backend, guard, starting)
        assert took >= 0.5  # answered only after the subscriber acted
        line = daemon.wait_for("guard.published")
        assert (line["event_type"], line["provider"], line["feature"], line["tool"]) == (
            "ToolStarting",
            "PLEX",
            "ratings",
            "clear",
        )
        assert [json.loads(x)["event"] for x in out.read_text().splitlines()] == ["ToolStarting"]

        # a wrong token: 403, and DaemonGuard refuses to go on
        reply = httpx.post(
            f"http://127.0.0.1:{port}/guard",
            json={"event": "ToolStarting", "provider": "PLEX", "profile": "default", "feature": "ratings", "tool": "x"},
            headers={"Authorization": "Bearer not-the-token"},
        )
        assert reply.status_code == 403
        assert httpx.post(f"http://127.0.0.1:{port}/guard", json={"event": "ToolStarting"}).status_code == 403
        # daemon.json with a stale token: the daemon (alive: it holds its lock) refuses, so does DaemonGuard
        announced = tmp_path / ".cw_state" / DAEMON_FILE
        real = announced.read_text()
        stale = {**json.loads(real), "token": "stolen-or-stale"}
        announced.write_text(json.dumps(stale))
        with pytest.raises(GuardError, match="HTTP 403"):
            anyio.run(DaemonGuard(guard_config(tmp_path)).publish, starting, backend=backend)
        announced.write_text(real)
        # a daemon.json of another directory's daemon says nothing about this one: no daemon holds its lock
        elsewhere = tmp_path / "elsewhere"
        guard_home(elsewhere, port)
        (elsewhere / ".cw_state").mkdir()
        (elsewhere / ".cw_state" / DAEMON_FILE).write_text(json.dumps(stale))
        anyio.run(DaemonGuard(guard_config(elsewhere)).publish, starting, backend=backend)
        assert len(daemon.events("guard.published")) == 1
        assert len(out.read_text().splitlines()) == 1  # the refused ones reached no subscriber
    finally:
        assert daemon.stop() == 0

    # no daemon listening: nothing to pause, publish returns quietly (and at once: far below guard_timeout_s, 60)
    assert published(backend, guard, ToolFinished("PLEX", "default", "ratings", "clear")) < 30
    assert not [line for line in daemon.raw if "Traceback" in line]


@pytest.mark.slow
def test_tools_clear_tells_the_daemon_before_it_writes(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=4, size=30, settings=EmulatorSettings(approve_after_polls=0))
    with serve_in_thread(emu) as url:
        port = free_port()
        out = guard_home(tmp_path, port, url, emu.config_toml(url))
        assert main(["--config-dir", str(tmp_path), "auth", "plex"]) == 0
        before = len(emu.state.users[1].ratings)
        assert before > 0
        daemon = DaemonProcess(tmp_path)
        try:
            daemon.wait_for("daemon.ready", timeout=60)
            result = subprocess.run(
                [CROSSWATCH, "--config-dir", str(tmp_path), "tools", "clear", "--provider", "plex"]
                + ["--feature", "ratings", "--yes"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
            assert "safety capture" in result.stdout
        finally:
            assert daemon.stop() == 0
        assert emu.state.users[1].ratings == {}
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    # the daemon's subscriber heard ToolStarting while every rating was still on Plex
    assert [(x["event"], x["feature"], x["ratings_on_plex"]) for x in lines] == [
        ("ToolStarting", "ratings", before),
        ("ToolFinished", "ratings", 0),
    ]
    assert lines[1]["ok"] is True
    assert [e["event_type"] for e in daemon.events("guard.published")] == ["ToolStarting", "ToolFinished"]


@pytest.mark.slow
def test_a_running_daemon_without_an_endpoint_stops_the_tool(tmp_path: Path) -> None:
    """A daemon with ``daemon.listen = ""`` cannot be told to pause: the command refuses to write."""
    (tmp_path / "config.toml").write_text('[daemon]\nlisten = ""\n')
    daemon = DaemonProcess(tmp_path)
    try:
        daemon.wait_for("daemon.ready", timeout=60)
        config = guard_config(tmp_path)
        with pytest.raises(GuardError, match="no HTTP endpoint"):
            anyio.run(DaemonGuard(config).publish, ToolStarting("PLEX", "default", "ratings", "clear"))
    finally:
        assert daemon.stop() == 0
    assert not (tmp_path / ".cw_state" / DAEMON_FILE).exists()  # removed at a clean stop
    anyio.run(DaemonGuard(guard_config(tmp_path)).publish, ToolStarting("PLEX", "default", "ratings", "clear"))
