"""The daemon stopped by SIGTERM (``systemctl stop``) at the write boundaries of a scheduled pair run.

The pair is two-way Plex <-> Trakt history, the case where a run stopped half-way once sent
crosswatch's own Plex plays back to Trakt. The daemon runs the pair's job (``POST
/jobs/<job>/run``) and, at the chosen boundary, gets SIGTERM; it must exit 0 within its stop
timeout, then a ``sync run`` completes the work and the invariants must hold.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from crosswatch.crashpoints import AT, LOG, SIGNAL
from tests.daemon_proc import DaemonProcess, wait_until
from tests.faults.harness import (
    Scenario,
    choose,
    crossings,
    history_violations,
    outside_untouched,
    record,
    state_files_valid,
)
from tests.faults.test_sync_faults import PAIR, TOLERANCE, complete, small_library
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401

pytestmark = pytest.mark.slow

POINTS = 6


def run_job(folder: Path, backend: str, env: dict[str, str]) -> DaemonProcess:
    """Start the daemon, run the pair's job now; returns once the daemon has exited."""
    daemon = DaemonProcess(folder, backend, env=env)
    try:
        deadline = time.monotonic() + 60
        while not daemon.events("daemon.ready"):
            if daemon.proc.poll() is not None:
                break
            assert time.monotonic() < deadline, "the daemon did not start"
            time.sleep(0.02)
        if daemon.proc.poll() is None:
            announced = json.loads((folder / ".cw_state" / "daemon.json").read_text())
            job = f"sync:{PAIR}"
            try:
                reply = httpx.post(
                    f"{announced['url']}/jobs/{job}/run",
                    headers={"Authorization": f"Bearer {announced['token']}"},
                    timeout=10,
                )
            except httpx.TransportError:
                # the crash point's SIGTERM came while the daemon was still answering: it is stopping
                wait_until(
                    lambda: daemon.proc.poll() is not None or daemon.events("daemon.stopping"),
                    what="the daemon to stop after the connection broke",
                )
            else:
                assert reply.status_code in (202, 409) or daemon.proc.poll() is not None, reply.text
            # done when the run finished (then stop it as systemd would) or the signal stopped the daemon
            while daemon.proc.poll() is None and not daemon.events("sync.finished"):
                assert time.monotonic() < deadline, "the scheduled run neither finished nor stopped"
                time.sleep(0.02)
        # after the crash point's SIGTERM only wait: systemd sends one, not two
        code = daemon.proc.wait(30) if daemon.events("daemon.stopping") else daemon.stop(timeout=30)
        assert code == 0, f"the daemon exited {code} on SIGTERM: {''.join(daemon.raw[-20:])}"
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert not [line for line in daemon.raw if "Traceback" in line], "".join(daemon.raw[-30:])
    return daemon


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_daemon_stopped_anywhere_in_a_scheduled_run_sends_no_echo_and_loses_nothing(
    sync_env: SyncEnv, tmp_path: Path, backend: str
) -> None:
    env = sync_env
    small_library(env, "history")
    env.cw.configure(
        {
            "pairs": [env.pair(PAIR, mode="two-way", features=["history"], schedule="0 3 1 1 *")],
            "sync": {"history_tolerance_s": TOLERANCE},
            "daemon": {"listen": "127.0.0.1:0"},
        }
    )
    name = f"daemon SIGTERM two-way history ({backend})"
    scenario = Scenario(env, name, ["sync", "run", PAIR, "--json"], tmp_path)
    snapshot = scenario.freeze()
    p0, t0 = env.plex_view("history"), env.trakt_view("history")
    folder = scenario.folder

    scenario.restore()
    log = tmp_path / "daemon.crossings"
    run_job(folder, backend, {LOG: str(log)})
    points = crossings(log)
    assert any(p.startswith("http.write.") for p in points), points
    for point in choose(points, name, POINTS):
        scenario.restore()
        run_job(folder, backend, {AT: point, SIGNAL: "TERM"})
        problems = complete(env)
        problems += history_violations(
            p0,
            t0,
            env.plex_view("history"),
            env.trakt_view("history"),
            two_way=True,
            tolerance=TOLERANCE,
            started=scenario.started,
        )
        problems += state_files_valid(folder) + outside_untouched(folder, snapshot.folder)
        record(name, f"TERM at {point}", problems)
    from tests.faults.harness import RESULTS

    found = [v for v in RESULTS.violations if v.startswith(name)]
    assert not found, "\n".join(found[:20])
