"""Capture schedules end to end: ``capture schedule add`` into a running daemon, firing, retention.

The slow test runs one real daemon against a signed-in Trakt emulator and waits for one
minute boundary; the others drive the same commands without a daemon.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from crosswatch.captures.format import Capture
from crosswatch.captures.retention import prune
from crosswatch.captures.store import CaptureStore, iso, now
from crosswatch.cli import main
from crosswatch.commands.common import plugin_host
from crosswatch.config import load_config
from crosswatch.emulation.server import serve_in_thread
from crosswatch.jobs import JobContext
from crosswatch_trakt.emulator import EmulatorSettings, TraktEmulator
from tests.daemon_proc import DaemonProcess

#: a schedule that lives in config.toml: it never fires during a test (1 January, 03:00)
CONFIG_SCHEDULE = """
[[captures.schedules]]
name = "other"
provider = "trakt"
feature = "watchlist"
cron = "0 3 1 1 *"
max_keep = 1
"""


@dataclass
class Home:
    """A config directory pointed at a running, signed-in Trakt emulator."""

    folder: Path
    emu: TraktEmulator
    url: str
    capsys: pytest.CaptureFixture[str]

    def cli(self, *args: str) -> tuple[int, str, str]:
        """``crosswatch --config-dir FOLDER args...`` in this process: (exit code, stdout, stderr)."""
        self.capsys.readouterr()
        code = main(["--config-dir", str(self.folder), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def context(self) -> JobContext:
        host = plugin_host(self.folder)
        return JobContext(load_config(self.folder, host.sections()), host)

    @property
    def store(self) -> CaptureStore:
        return CaptureStore(self.folder)

    def files(self) -> set[str]:
        return {self.store.rel(p) for p in self.store.files()}


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Home]:
    emu = TraktEmulator(seed=5, size=30, settings=EmulatorSettings(interval=0, approve_after_polls=0, post_limit=0))
    with serve_in_thread(emu) as url:
        (tmp_path / "config.toml").write_text(
            '[daemon]\nlisten = "127.0.0.1:0"\n\n' + emu.config_toml(url) + CONFIG_SCHEDULE
        )
        h = Home(tmp_path, emu, url, capsys)
        code, out, err = h.cli("auth", "trakt")
        assert code == 0, err
        assert "Signed in to Trakt" in out
        yield h


def backdated(home: Home, template: Capture, days: float, kind: str, schedule: str, label: str) -> str:
    """A capture file like ``template`` whose header says it was made ``days`` ago (valid checksum)."""
    when = now() - timedelta(days=days)
    capture = msgspec.structs.replace(
        template,
        created=iso(when),
        type=kind,
        schedule=schedule,
        label=label,
        reason="tools clear" if kind == "safety" else "",
    )
    return home.store.write(capture, when).rel


def seed_captures(home: Home) -> dict[str, list[str]]:
    """A fresh manual capture (made by the CLI), then older ones of every kind, made from it."""
    code, out, err = home.cli("capture", "create", "--provider", "trakt", "--feature", "watchlist", "--json")
    assert code == 0, err
    fresh = json.loads(out)[0]["path"]
    template = home.store.load(fresh)
    return {
        "manual": [fresh, backdated(home, template, 7, "manual", "t", "manual-with-schedule-name")],
        "safety": [backdated(home, template, 6, "safety", "t", "safety-before-clear-watchlist")],
        "other": [backdated(home, template, d, "auto", "other", f"other-{d}") for d in (8, 9, 10)],
        "t": [backdated(home, template, d, "auto", "t", f"t-{d}") for d in (3, 4, 5)],  # newest first
    }


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_schedule_added_by_the_cli_fires_in_the_running_daemon_and_prunes_only_its_own(home: Home) -> None:
    config_bytes = (home.folder / "config.toml").read_bytes()
    seeded = seed_captures(home)
    before = home.files()
    assert len(before) == 2 + 1 + 3 + 3

    daemon = DaemonProcess(home.folder)
    try:
        daemon.wait_for("daemon.ready", timeout=60)
        assert [j["job"] for j in daemon.health()["jobs"]] == ["capture:other"]

        # 1. added through the CLI while the daemon runs: the config watcher reloads it
        mark = daemon.mark()
        code, out, err = home.cli(
            "capture", "schedule", "add", "--provider", "trakt", "--feature", "watchlist",
            "--cron", "* * * * *", "--max-keep", "2", "--name", "t",
        )  # fmt: skip
        assert code == 0, err
        assert "added capture schedule 't'" in out
        reloaded = daemon.wait_for("config.reloaded", timeout=60, after=mark)
        assert reloaded["reason"] == "file changed" and "schedules.toml" in reloaded["changed"]
        nxt = daemon.wait_for("schedule.next", after=mark, where=lambda e: e["job"] == "capture:t")
        assert nxt["cron"] == "* * * * *"
        assert {j["job"] for j in daemon.health()["jobs"]} == {"capture:other", "capture:t"}

        # 2. it fires at the next minute boundary: an auto capture named after the schedule
        fired = daemon.wait_for("schedule.fired", timeout=70, after=mark, where=lambda e: e["job"] == "capture:t")
        scheduled = daemon.wait_for("capture.scheduled", timeout=60, after=mark)
        assert scheduled["schedule"] == "t"
        pruned = daemon.wait_for("capture.pruned", timeout=60, after=mark)
        after = home.files()  # at once: the next slot is a minute away

        new = scheduled["path"]
        header = home.store.load(new)  # loads only with a valid checksum
        assert (header.type, header.schedule, header.provider, header.feature) == ("auto", "t", "TRAKT", "watchlist")
        assert header.label.startswith("auto-trakt-watchlist-")
        assert header.stats.count == len(home.emu.state.watchlist) > 0
        slot = datetime.fromisoformat(fired["slot"])
        assert slot.second == 0 and slot.microsecond == 0

        # 3. pruning: this schedule's oldest auto captures beyond max_keep, nothing else
        assert pruned["schedule"] == "t"
        assert pruned["deleted"] == seeded["t"][1:]  # 4 and 5 days old; kept: the new one and 3 days old
        assert after == (before - set(seeded["t"][1:])) | {new}
        for kept in seeded["manual"] + seeded["safety"] + seeded["other"] + [seeded["t"][0]]:
            assert kept in after, kept

        # 4. prune --dry-run: says what the retention would delete, deletes nothing
        code, out, err = home.cli("capture", "prune", "--dry-run", "--json")
        assert code == 0, err
        results = {r["schedule"]: r for r in json.loads(out)}
        assert results["other"]["deleted"] == seeded["other"][1:]  # max_keep 1 of config.toml
        assert results["other"]["kept"] == seeded["other"][:1]
        assert results["t"] == {"schedule": "t", "kept": [new, seeded["t"][0]], "deleted": []}
        code, out, err = home.cli("capture", "prune", "--dry-run")
        assert code == 0 and "other: kept 1, would delete 2" in out and "t: kept 2, would delete 0" in out
        assert home.files() == after

        # 5. list names each schedule's file; config.toml's cannot be removed by the CLI
        code, out, err = home.cli("capture", "schedule", "list", "--json")
        assert code == 0, err
        rows = {r["name"]: r for r in json.loads(out)}
        assert (rows["t"]["file"], rows["t"]["max_keep"], rows["t"]["cron"]) == ("schedules.toml", 2, "* * * * *")
        assert rows["other"]["file"] == "config.toml" and rows["t"]["next"]
        code, out, err = home.cli("capture", "schedule", "remove", "other")
        assert code == 1
        assert "config.toml" in err and "edit it there" in err

        # 6. removing the CLI's schedule: the daemon drops the job, the captures stay
        mark = daemon.mark()
        code, out, err = home.cli("capture", "schedule", "remove", "t")
        assert code == 0, err
        assert "captures it made are kept" in out
        daemon.wait_for("config.reloaded", timeout=60, after=mark)
        assert [j["job"] for j in daemon.health()["jobs"]] == ["capture:other"]
        assert tomllib.loads((home.folder / "schedules.toml").read_text()) == {"captures": {"schedules": []}}
        assert set(after) <= home.files()
    finally:
        assert daemon.stop() == 0
    assert not [line for line in daemon.raw if "Traceback" in line]
    assert (home.folder / "config.toml").read_bytes() == config_bytes  # never rewritten


def test_prune_keeps_manual_safety_and_other_schedules_captures(home: Home) -> None:
    """In-process retention over the same seeded store: only ``t``'s oldest auto captures go."""
    seeded = seed_captures(home)
    before = home.files()
    code, _, err = home.cli(
        "capture", "schedule", "add", "--provider", "trakt", "--feature", "watchlist",
        "--cron", "0 4 * * *", "--max-keep", "1", "--name", "t",
    )  # fmt: skip
    assert code == 0, err
    ctx = home.context()
    schedule = next(s for s in ctx.config.captures.schedules if s.job_name == "t")
    (result,) = prune(ctx, [schedule])
    assert result.deleted == seeded["t"][1:] and result.kept == seeded["t"][:1]
    assert home.files() == before - set(seeded["t"][1:])


def test_schedule_add_refuses_bad_input_and_never_touches_config_toml(home: Home) -> None:
    config_bytes = (home.folder / "config.toml").read_bytes()
    add = ("capture", "schedule", "add", "--provider", "trakt", "--feature", "watchlist")

    code, _, err = home.cli(*add, "--cron", "0 4 * * *", "--name", "other")
    assert code == 1 and "'other' exists" in err
    code, _, err = home.cli(*add, "--cron", "0 4 * * *", "--max-keep", "-1")
    assert code == 1 and "must not be negative" in err
    code, _, err = home.cli(*add, "--cron", "61 * * * *", "--name", "bad")
    assert code == 1 and "schedules.toml" in err
    assert not (home.folder / "schedules.toml").exists()  # a refused add leaves no file behind

    code, _, err = home.cli(*add, "--cron", "0 4 * * *", "--name", "good")
    assert code == 0, err
    good = (home.folder / "schedules.toml").read_bytes()
    code, _, err = home.cli(*add, "--cron", "0 0 31 2 *", "--name", "never")
    assert code == 1
    assert (home.folder / "schedules.toml").read_bytes() == good  # the previous file is put back

    code, _, err = home.cli("capture", "schedule", "remove", "nosuch")
    assert code == 1 and "no capture schedule named 'nosuch'" in err
    assert (home.folder / "config.toml").read_bytes() == config_bytes
