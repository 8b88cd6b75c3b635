"""``crosswatch status`` and ``/healthz``: a failure shows, says why, and clears when things work again."""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from crosswatch.status import Reason, Status, assess
from tests.capture_env import merged
from tests.daemon_proc import DaemonProcess, write_atomically
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401
from tests.test_runs import closed_port

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))


def status(env: SyncEnv) -> tuple[int, dict[str, Any]]:
    result = env.cli("status", "--json")
    return result.code, json.loads(result.out)


def test_status_is_ok_after_a_good_run_and_failing_with_the_reason_after_a_failed_one(sync_env: SyncEnv) -> None:
    env = sync_env
    pair = env.pair("p", features=["watchlist"])
    env.pairs(pair)
    env.run("p")
    code, said = status(env)
    assert (code, said["status"], said["reasons"]) == (0, "ok", [])
    [job] = said["jobs"]
    assert (job["job"], job["last"]["result"], job["next"]) == ("sync:p", "ok", None)  # no schedule: never fires
    assert {s["provider"]: s["signed_in"] for s in said["sign_ins"]} == {"plex": True, "trakt": True}
    text = env.cli("status")
    assert text.code == 0 and text.out.startswith("crosswatch: OK")

    env.cw.configure({"pairs": [pair], "trakt": {"api_url": f"http://127.0.0.1:{closed_port()}", "max_retries": 0}})
    assert env.cli("sync", "run", "p").code == 1
    code, said = status(env)
    assert (code, said["status"]) == (1, "failing")
    [reason] = said["reasons"]
    assert reason["what"] == "sync:p" and "failed" in reason["message"] and "ConnectError" in reason["message"]
    text = env.cli("status")
    assert text.code == 1 and text.out.startswith("crosswatch: FAILING") and reason["message"] in text.out


def test_a_scheduled_job_without_a_daemon_and_a_missing_sign_in_need_attention(sync_env: SyncEnv) -> None:
    env = sync_env
    env.pairs(env.pair("p", features=["watchlist"], schedule="0 3 * * *"))
    (env.cw.folder / ".cw_state" / "trakt.tokens.json").unlink()
    code, said = status(env)
    assert code == 1 and said["status"] == "failing"
    whats = {r["what"]: r for r in said["reasons"]}
    assert set(whats) == {"sign-in:trakt", "daemon"}
    assert "crosswatch auth trakt" in whats["sign-in:trakt"]["message"]
    assert whats["daemon"]["level"] == "degraded" and "scheduled jobs do not fire" in whats["daemon"]["message"]
    assert said["jobs"][0]["next"] is not None


def test_a_sign_in_failure_stays_until_a_run_using_that_provider_goes_well(sync_env: SyncEnv) -> None:
    env = sync_env
    env.pairs(env.pair("p", features=["watchlist"]))
    tokens = env.cw.folder / ".cw_state" / "trakt.tokens.json"
    saved = tokens.read_bytes()
    tokens.unlink()
    env.cli("sync", "run", "p")
    tokens.write_bytes(saved)  # signed in again
    code, said = status(env)
    assert code == 1 and "sign-in:trakt" in {r["what"] for r in said["reasons"]}
    env.run("p")
    code, said = status(env)
    assert (code, said["reasons"]) == (0, [])


def test_the_rules_for_an_interrupted_or_refused_run_and_a_crash_looping_service() -> None:
    from crosswatch.config.types import Config
    from crosswatch.runs import Run
    from crosswatch.status import JobStatus

    config = Config(Path("/nonexistent"))
    jobs = [
        JobStatus("sync:a", "sync", "a", "", True, Run(1, "sync:a", "sync", "schedule", 1.0, "interrupted", ended=2.0)),
        JobStatus("sync:b", "sync", "b", "", True, Run(2, "sync:b", "sync", "schedule", 1.0, "refused", ended=2.0)),
        JobStatus("sync:c", "sync", "c", "", True, Run(3, "sync:c", "sync", "schedule", 1.0, "running")),
    ]
    found = assess(config, Status(jobs=jobs), {"crash_looping": {"plex:watcher": 4}})
    assert [(r.what, r.level) for r in found] == [
        ("sync:a", "degraded"),
        ("sync:b", "degraded"),
        ("service:plex:watcher", "failing"),
    ]
    assert Status(reasons=[Reason("degraded", "x", "y")]).verdict == "degraded"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_failed_scheduled_sync_turns_healthz_failing_until_a_good_run(sync_env: SyncEnv, backend: str) -> None:
    env = sync_env
    folder = env.cw.folder
    pair = env.pair("p", features=["watchlist"], schedule="0 3 1 1 *")
    good = merged(env.emu.config(), {"pairs": [pair], "daemon": {"listen": "127.0.0.1:0"}})
    bad = merged(good, {"trakt": {"api_url": f"http://127.0.0.1:{closed_port()}", "max_retries": 0}})
    (folder / "config.toml").write_text(tomli_w.dumps(bad))
    daemon = DaemonProcess(folder, backend)
    try:
        ready = daemon.wait_for("daemon.ready")
        url = f"http://{ready['listen']}"
        token = json.loads((folder / ".cw_state" / "daemon.json").read_text())["token"]

        def run_job() -> None:
            mark = daemon.mark()
            reply = httpx.post(f"{url}/jobs/sync:p/run", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert reply.status_code == 202, reply.text
            daemon.wait_for("job.finished", after=mark, timeout=60)

        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        run_job()
        health = httpx.get(f"{url}/healthz", timeout=10)
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "failing"
        [reason] = body["reasons"]
        assert reason["what"] == "sync:p" and "ConnectError" in reason["message"]
        said = subprocess.run(
            [CROSSWATCH, "--config-dir", str(folder), "status"], capture_output=True, text=True, timeout=60
        )
        assert said.returncode == 1 and reason["message"] in said.stdout and "daemon      running" in said.stdout

        mark = daemon.mark()
        write_atomically(folder / "config.toml", tomli_w.dumps(good))
        daemon.wait_for("config.reloaded", after=mark, timeout=30)
        run_job()
        health = httpx.get(f"{url}/healthz", timeout=10)
        assert (health.status_code, health.json()["status"], health.json()["reasons"]) == (200, "ok", [])
        said = subprocess.run(
            [CROSSWATCH, "--config-dir", str(folder), "status", "--json"], capture_output=True, text=True, timeout=60
        )
        assert said.returncode == 0, said.stdout
        live = json.loads(said.stdout)["daemon"]
        assert live["backend"] == backend and live["trakt_budget"]["default"] > 0  # reads left in the window
    finally:
        assert daemon.stop() == 0
