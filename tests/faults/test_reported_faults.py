"""The phantom plays once seen on a two-way Plex <-> Trakt history pair, each as it was reported.

Plex records a play crosswatch writes at "now". Those plays were remembered only when a whole
feature finished, inside the pair's baseline (which the README lets people delete):

- ``kill -9`` / ``kill -TERM`` of ``crosswatch sync run`` while it wrote to Plex: the next run
  sent ~180 of them to Trakt as new plays dated today;
- ``systemctl stop`` (SIGTERM to the daemon) during a scheduled run of the pair: 177;
- the baseline deleted, or damaged and moved aside, then one real new Plex play: 367.

Here the process is stopped from outside, the way a person or systemd does it (not at a
crash point), once the Plex emulator has applied some of the run's writes.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from crosswatch.sync.baseline import file_name
from tests.daemon_proc import CROSSWATCH, DaemonProcess
from tests.faults.harness import history_violations, state_files_valid
from tests.faults.test_sync_faults import PAIR, TOLERANCE, small_library
from tests.sync_env import OWNER, SyncEnv, cw_env, emulators, sync_env  # noqa: F401

pytestmark = pytest.mark.slow


def plex_plays(env: SyncEnv) -> int:
    return len(env.plex_state()["users"][OWNER]["plays"])


def wait_until(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.02)


def two_way_history(env: SyncEnv, latency_ms: float = 200) -> tuple[Counter[Any], Counter[Any]]:
    """A two-way history pair whose run writes several plays to Plex, each taking ``latency_ms``."""
    small_library(env, "history")
    env.pairs(
        env.pair(PAIR, mode="two-way", features=["history"], schedule="0 3 1 1 *"),
        sync={"history_tolerance_s": TOLERANCE},
    )
    env.emu.plex.settings.update({"latency_ms": latency_ms})
    p0, t0 = env.plex_view("history"), env.trakt_view("history")
    owed = {(kind, trakt) for kind, trakt, _ in t0} - {(kind, trakt) for kind, trakt, _ in p0}
    assert len(owed) >= 4, f"the run must write several plays to Plex: {owed}"
    return p0, t0


def converged(env: SyncEnv, p0: Counter[Any], t0: Counter[Any], started: float) -> list[str]:
    env.emu.plex.settings.update({"latency_ms": 0})
    for _ in range(3):
        report = env.run(PAIR)
        if not report["plan"]:
            break
    return history_violations(
        p0, t0, env.plex_view("history"), env.trakt_view("history"), two_way=True, tolerance=TOLERANCE, started=started
    ) + state_files_valid(env.cw.folder)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_sync_run_stopped_while_it_writes_to_plex_sends_no_plex_echo_to_trakt(sync_env: SyncEnv, sig: int) -> None:
    env = sync_env
    p0, t0 = two_way_history(env)
    started = time.time()
    before = plex_plays(env)
    proc = subprocess.Popen(
        [CROSSWATCH, "--config-dir", str(env.cw.folder), "sync", "run", PAIR, "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: plex_plays(env) >= before + 2 or proc.poll() is not None, "two of the run's plays")
        assert proc.poll() is None, f"the run ended before it was stopped: {proc.communicate()[1][-2000:]}"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -sig if sig == signal.SIGKILL else proc.returncode in (143, 0), err
    assert "Traceback" not in err
    assert plex_plays(env) > before  # the run was stopped half-way: Plex holds some of its writes

    problems = converged(env, p0, t0, started)

    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_daemon_stopped_during_a_scheduled_run_sends_no_plex_echo_to_trakt(sync_env: SyncEnv, backend: str) -> None:
    env = sync_env
    p0, t0 = two_way_history(env)
    env.cw.configure(
        {
            "pairs": [env.pair(PAIR, mode="two-way", features=["history"], schedule="0 3 1 1 *")],
            "sync": {"history_tolerance_s": TOLERANCE},
            "daemon": {"listen": "127.0.0.1:0"},
        }
    )
    started = time.time()
    before = plex_plays(env)
    daemon = DaemonProcess(env.cw.folder, backend)
    try:
        daemon.wait_for("daemon.ready", timeout=30)
        announced = json.loads((env.cw.folder / ".cw_state" / "daemon.json").read_text())
        job = next(j["job"] for j in daemon.health()["jobs"] if PAIR in j["job"])
        reply = httpx.post(
            f"{announced['url']}/jobs/{job}/run", headers={"Authorization": f"Bearer {announced['token']}"}, timeout=10
        )
        assert reply.status_code == 202, reply.text
        wait_until(lambda: plex_plays(env) >= before + 1, "Plex to apply the scheduled run's first play")
        assert daemon.stop(timeout=30) == 0  # systemctl stop: SIGTERM, within the unit's stop timeout
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert not [line for line in daemon.raw if "Traceback" in line], "".join(daemon.raw[-30:])
    env.cw.configure(
        {"pairs": [env.pair(PAIR, mode="two-way", features=["history"])], "sync": {"history_tolerance_s": TOLERANCE}}
    )

    problems = converged(env, p0, t0, started)

    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("damage", ["deleted", "corrupt"])
def test_a_lost_baseline_then_one_new_plex_play_sends_that_play_only(sync_env: SyncEnv, damage: str) -> None:
    env = sync_env
    p0, _ = two_way_history(env, latency_ms=0)
    first = env.run(PAIR)
    assert first["ok"] and any(row["target"] == "PLEX" for row in first["summary"])  # Plex got plays at "now"
    baseline = env.cw.folder / ".cw_state" / file_name(PAIR, "history")
    assert baseline.exists()
    if damage == "deleted":
        baseline.unlink()
    else:
        baseline.write_text('{"version": 1, "sides": {"PLEX": [')  # cut off mid-write by hand
    trakt_before = env.trakt_view("history")
    # a person watches a title Plex had played before the sync (not one crosswatch wrote)
    lib = env.emu.plex.library
    title = next(iter({(kind, trakt) for kind, trakt, _ in p0}))
    movie_or_episode = lib.catalog.get(*title)
    reply = httpx.post(
        env.emu.plex_url + "/_emulator/play",
        json={"ratingKey": str(lib.rk(movie_or_episode)), "states": ["playing", "stopped"], "progress": 0.97},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text

    report = env.run(PAIR)

    added = env.trakt_view("history") - trakt_before
    assert sum(added.values()) == 1, f"Trakt got {sum(added.values())} plays for one real new play: {sorted(added)}"
    assert {(kind, trakt) for kind, trakt, _ in added} == {title}
    assert report["ok"]
    assert "history" in report["first_run"]  # the run says it assumed a first run (no removals)
    if damage == "corrupt":
        assert list(baseline.parent.glob(baseline.name + ".corrupt-*")), "the damaged baseline was not kept aside"
