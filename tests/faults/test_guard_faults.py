"""The write guard under faults: a daemon that cannot be told, a hung daemon, a writer killed mid-clear.

A real daemon forwards Plex rating changes to Trakt (the websocket watcher, ratings on). What a
person notices is checked: whether ``tools clear`` refused or ran, what Plex and Trakt hold, the
daemon's forwarded and dropped counts, and whether a real rating made afterwards reaches Trakt.

- Seen: with ``daemon.json`` deleted or truncated, ``tools clear --feature ratings`` ran as if
  no daemon ran, and the daemon forwarded the clear's unrates to Trakt.
- Seen: after ``kill -STOP`` of the daemon, a ``tools clear`` that gave up, and ``kill -CONT``,
  the daemon acted on the stale "starting" request and stayed paused for good; the same after
  ``kill -9`` of ``tools clear`` mid-removal.
"""

# ruff: noqa: F811  (the emulators fixture imported from tests.capture_env is an argument here)
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crosswatch.emulation.server import serve_in_thread
from tests.capture_env import Emulators, emulators  # noqa: F401  (pytest fixture)
from tests.daemon_proc import CROSSWATCH, write_atomically
from tests.test_scrobble_daemon import Live, merged, start_daemon, stop_daemon

pytestmark = pytest.mark.slow

WATCH = {"watcher": {"enabled": True, "ratings": True}, "resume_quiet_s": 0.5}


def clear_ratings(live: Live, **popen: Any) -> subprocess.Popen[str]:
    args = ["--config-dir", str(live.folder), "tools", "clear", "--provider", "plex", "--feature", "ratings"]
    return subprocess.Popen(
        [CROSSWATCH, *args, "--yes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def plex_ratings(live: Live) -> int:
    return len(live.emu.plex.state.users[live.emu.plex.state.owner.id].ratings)


def unrates(live: Live) -> int:
    return int(live.scrobble_stats()["forwarded"].get("unrate", 0))


def reconfigure(live: Live, extra: dict[str, Any]) -> None:
    mark = live.daemon.mark()
    live.config = merged(live.config, extra)
    write_atomically(live.folder / "config.toml", tomli_w.dumps(live.config))
    live.daemon.wait_for("config.reloaded", after=mark)


def wait_until(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.05)


def a_real_rating_reaches_trakt(live: Live) -> None:
    """A person rates a title on Plex: the daemon forwards it (the listeners are not paused)."""
    movie = next(m for m in live.movies if live.trakt_rating(m) is None)
    mark = live.daemon.mark()
    live.rate(movie, 9)
    live.wait_forwarded(movie, "rate", mark, timeout=20)
    assert live.trakt_rating(movie) == 9


@pytest.fixture(params=["asyncio", "trio"])
def live(request: pytest.FixtureRequest, emulators: Emulators, tmp_path: Path) -> Any:
    daemon = start_daemon(emulators, tmp_path / "config", request.param, WATCH)
    try:
        daemon.daemon.wait_for("plex.watcher_connected", timeout=30)
        daemon.settle()
        yield daemon
    finally:
        stop_daemon(daemon)


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_tools_clear_refuses_while_a_daemon_runs_that_cannot_be_told_to_pause(live: Live, damage: str) -> None:
    rated, trakt_before, forwarded = plex_ratings(live), live.emu.trakt.state_json()["ratings"], unrates(live)
    assert rated >= 10
    announced = live.folder / ".cw_state" / "daemon.json"
    if damage == "deleted":
        announced.unlink()
    else:
        announced.write_text("")

    refused = clear_ratings(live)
    _, err = refused.communicate(timeout=60)

    assert refused.returncode == 1, err
    problem = [line for line in err.splitlines() if line.startswith("crosswatch:")]
    assert len(problem) == 1 and "cannot be told to pause" in problem[0] and "nothing was written" in problem[0], err
    assert "reading" not in err  # refused before it read (or captured) anything
    assert plex_ratings(live) == rated
    assert live.emu.trakt.state_json()["ratings"] == trakt_before

    # a reload (systemctl reload) writes daemon.json again; then the clear runs, guarded
    mark = live.daemon.mark()
    live.daemon.signal(signal.SIGHUP)
    live.daemon.wait_for("daemon.reannounced", after=mark)
    done = clear_ratings(live)
    _, err = done.communicate(timeout=60)
    assert done.returncode == 0, err
    assert plex_ratings(live) == 0
    wait_until(lambda: live.scrobble_stats()["dropped_by_guard"].get("PLEX:ratings", 0) >= rated, "the echoes")
    live.settle()
    assert unrates(live) == forwarded
    assert live.emu.trakt.state_json()["ratings"] == trakt_before


def test_a_tool_that_gave_up_on_a_stopped_daemon_leaves_no_pause_behind(live: Live) -> None:
    reconfigure(live, {"daemon": {"guard_timeout_s": 3.0, "guard_lease_s": 4.0}})
    rated = plex_ratings(live)
    live.daemon.signal(signal.SIGSTOP)
    try:
        gave_up = clear_ratings(live)
        _, err = gave_up.communicate(timeout=60)
    finally:
        mark = live.daemon.mark()
        live.daemon.signal(signal.SIGCONT)
    assert gave_up.returncode == 1, err
    assert "did not confirm" in err
    assert plex_ratings(live) == rated  # it wrote nothing

    # the daemon reads the old request when it runs again: too late to act on
    live.daemon.wait_for("guard.stale_request", after=mark, timeout=20)
    assert not live.daemon.events("scrobble.paused")

    a_real_rating_reaches_trakt(live)


def test_a_tool_killed_mid_clear_leaves_a_pause_that_lifts_by_itself(live: Live) -> None:
    told: list[dict[str, Any]] = []

    async def receive(request: Request) -> JSONResponse:
        told.append(await request.json())
        return JSONResponse({"ok": True})

    with serve_in_thread(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as url:
        target = {"name": "ops", "url": f"{url}/hook", "on": ["guard"]}
        reconfigure(
            live, {"daemon": {"guard_lease_s": 3.0}, "plex": {"rating_workers": 1}, "notify": {"targets": [target]}}
        )
        killed_mid_clear(live)
        wait_until(lambda: told, "the guard notification")
    [note] = told
    assert note["event"] == "guard" and "expired" in note["text"]


def killed_mid_clear(live: Live) -> None:
    live.emu.plex.settings.update({"latency_ms": 150})
    rated, forwarded = plex_ratings(live), unrates(live)
    mark = live.daemon.mark()
    try:
        tool = clear_ratings(live)
        wait_until(lambda: plex_ratings(live) <= rated - 2, "the clear to remove two ratings")
        tool.kill()
        tool.communicate(timeout=30)
    finally:
        live.emu.plex.settings.update({"latency_ms": 0})
    assert 0 < plex_ratings(live) < rated  # killed half-way

    expired = live.daemon.wait_for("guard.lease_expired", after=mark, timeout=30)
    assert expired["cause"] == "ToolStarting"
    health = live.daemon.health()["guard"]
    assert health["paused"] == [] and health["expired"][-1]["lease"] == expired["lease"]
    live.settle()
    assert unrates(live) == forwarded  # the clear's own unrates were dropped, not forwarded

    a_real_rating_reaches_trakt(live)


def test_a_long_clear_renews_its_pause_and_forwards_no_unrate(live: Live) -> None:
    lease_s, latency_s = 2.0, 0.25
    # the listeners stay paused a while after the clear ends, so that its last echoes, however
    # late a loaded machine delivers them, are still the clear's (5 s is the default)
    quiet = {"resume_quiet_s": 5.0}
    reconfigure(live, {"daemon": {"guard_lease_s": lease_s}, "plex": {"rating_workers": 1}, "scrobble": quiet})
    rated, forwarded = plex_ratings(live), unrates(live)
    assert rated * latency_s > 2 * lease_s  # one removal at a time: the clear outlives its lease
    live.emu.plex.settings.update({"latency_ms": latency_s * 1000})
    try:
        done = clear_ratings(live)
        _, err = done.communicate(timeout=120)
    finally:
        live.emu.plex.settings.update({"latency_ms": 0})
    assert done.returncode == 0, err
    assert live.daemon.health()["guard"]["renewals"] >= 1
    assert plex_ratings(live) == 0
    wait_until(lambda: live.scrobble_stats()["dropped_by_guard"].get("PLEX:ratings", 0) >= rated, "the echoes")
    live.settle()
    assert not live.daemon.events("guard.lease_expired")
    assert unrates(live) == forwarded
