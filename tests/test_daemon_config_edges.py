"""A running daemon whose config.toml is emptied or deleted keeps the config in force."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.daemon_proc import DaemonProcess, write_atomically

pytestmark = pytest.mark.slow

CONFIG = """
[daemon]
listen = "127.0.0.1:0"

[trakt]
client_id = "abc"

[[pairs]]
name = "{name}"
source = "plex"
target = "trakt"
schedule = "{cron}"

[[captures.schedules]]
name = "nightly"
provider = "trakt"
cron = "0 4 1 1 *"
"""

JOBS = ["capture:nightly", "sync:p2t"]


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def jobs(daemon: DaemonProcess) -> dict[str, str]:
    return {row["job"]: row["cron"] for row in daemon.health()["jobs"]}


def test_emptied_or_deleted_config_is_rejected_and_a_later_edit_applies(tmp_path: Path, backend: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(name="p2t", cron="0 3 1 1 *"))
    daemon = DaemonProcess(tmp_path, backend)
    try:
        daemon.wait_for("daemon.ready")
        assert sorted(jobs(daemon)) == JOBS

        steps = [
            ("file changed", lambda: write_atomically(config, ""), "empty"),
            ("file changed", lambda: write_atomically(config, "# [[pairs]]\n\n   \n# name = 'p2t'\n"), "empty"),
            ("file changed", config.unlink, "missing"),
            ("SIGHUP", lambda: daemon.signal(signal.SIGHUP), "missing"),
        ]
        for n, (reason, act, word) in enumerate(steps, 1):
            mark = daemon.mark()
            act()
            rejected = daemon.wait_for("config.rejected", after=mark, where=lambda e, r=reason: e["reason"] == r)
            assert rejected["level"] == "error"
            assert f"{config}: " in rejected["issue"] and word in rejected["issue"]
            assert "previous config stays" in rejected["issue"]
            assert daemon.proc.poll() is None
            health = daemon.health()
            assert sorted(row["job"] for row in health["jobs"]) == JOBS
            assert health["rejected_reloads"] == n and health["reloads"] == 0
        assert not daemon.events("config.reloaded") and not daemon.events("schedule.none")

        # the file comes back with an edit: applied
        mark = daemon.mark()
        write_atomically(config, CONFIG.format(name="p2t", cron="30 5 1 1 *"))
        daemon.wait_for("config.reloaded", after=mark)
        assert jobs(daemon)["sync:p2t"] == "30 5 1 1 *"

        # a pair whose state files would be another pair's is rejected the same way
        mark = daemon.mark()
        clash = (
            CONFIG.format(name="p2t", cron="30 5 1 1 *")
            + '\n[[pairs]]\nname = "P2T"\nsource = "trakt"\ntarget = "plex"\n'
        )
        write_atomically(config, clash)
        rejected = daemon.wait_for("config.rejected", after=mark)
        assert "pairs[1].name" in rejected["issue"] and "'P2T'" in rejected["issue"] and "'p2t'" in rejected["issue"]
        assert sorted(jobs(daemon)) == JOBS
    finally:
        code = daemon.stop()
    assert code == 0
    assert not [line for line in daemon.raw if "Traceback" in line]
