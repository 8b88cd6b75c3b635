"""Progress on long work: bars on a terminal, plain lines in a pipe, job.progress in the daemon."""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import httpx
import pytest
import structlog
import tomli_w

from crosswatch import progress
from tests.capture_env import merged
from tests.daemon_proc import DaemonProcess
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\r")
BATCH = 4
WRITE_LINE = re.compile(r"TRAKT history: writing (\d+)/(\d+) \((\d+)%\)")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def long_write(env: SyncEnv) -> None:
    """A Plex -> Trakt history pair whose first run writes every play in small, slow batches."""
    env.cw.configure({"pairs": [env.pair("p", features=["history"])], "trakt": {"batch_size": BATCH}})
    env.emu.trakt.settings.update({"latency_ms": 30})


def plays_written(said: str) -> int:
    """N of the command's own ``TRAKT history: writing N...`` line (it says so before the write)."""
    found = re.search(r"TRAKT history: writing (\d+)\.\.\.", said)
    assert found, said
    assert int(found[1]) > 10 * BATCH, "the seeded Plex library has too few plays for a long write"
    return int(found[1])


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")}
    return {**env, "TERM": "xterm-256color", **extra}


def in_terminal(args: list[str], timeout: float = 120.0) -> tuple[int, str]:
    """Run ``crosswatch args`` with stdin, stdout and stderr on a pseudo-terminal: (exit code, all it showed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen([CROSSWATCH, *args], stdin=slave, stdout=slave, stderr=slave, env=child_env())
    os.close(slave)
    shown = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, shown.decode("utf-8", "replace")


def piped(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CROSSWATCH, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, env=child_env(**env), timeout=120
    )


# -- the command line, for real ---------------------------------------------------------------


@pytest.mark.slow
def test_a_long_write_on_a_terminal_shows_a_progress_bar_with_counts(sync_env: SyncEnv) -> None:
    long_write(sync_env)
    code, shown = in_terminal(["--config-dir", str(sync_env.cw.folder), "sync", "run", "p"])
    assert code == 0, shown
    text = ANSI.sub("", shown)
    plays = plays_written(text)
    assert "\x1b[" in shown  # rich drew it: colours and cursor moves
    assert re.search(rf"TRAKT history: writing\s.*━.*\s{plays}/{plays}\s", text), text[-3000:]
    assert "reading PLEX history..." in text and "sync p: PLEX -> TRAKT" in text  # ctx.say and the report still print


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_long_write_with_stderr_piped_prints_plain_progress_lines(sync_env: SyncEnv, backend: str) -> None:
    long_write(sync_env)
    folder = str(sync_env.cw.folder)
    done = piped(
        ["--config-dir", folder, "sync", "run", "p"], CROSSWATCH_BACKEND=backend, **{progress.INTERVAL_ENV: "0"}
    )
    assert done.returncode == 0, done.stderr
    plays = plays_written(done.stderr)
    assert "\x1b" not in done.stderr and "\r" not in done.stderr
    counts = [(int(a), int(b), int(p)) for a, b, p in WRITE_LINE.findall(done.stderr)]
    assert len(counts) >= plays // BATCH, done.stderr
    assert all(total == plays and percent == 100 * n // plays for n, total, percent in counts)
    assert [n for n, _, _ in counts] == sorted(n for n, _, _ in counts) and counts[-1][0] == plays
    assert re.search(r"TRAKT history: writing \d+/\d+ \(\d+%\), ETA \d+s", done.stderr)
    assert re.search(rf"TRAKT history: writing {plays}/{plays} \(100%\), took \d+s", done.stderr)
    assert "sync p: PLEX -> TRAKT" in done.stdout


@pytest.mark.slow
def test_no_progress_shows_neither_bars_nor_lines(sync_env: SyncEnv) -> None:
    long_write(sync_env)
    folder = str(sync_env.cw.folder)
    fresh = shutil.copytree(folder, sync_env.cw.folder.with_name("fresh"))  # the same first run, twice
    code, shown = in_terminal(["--config-dir", folder, "--no-progress", "sync", "run", "p"])
    assert code == 0, shown
    assert "━" not in shown and not WRITE_LINE.search(ANSI.sub("", shown))
    assert "TRAKT history: writing" in shown  # what the command says is not progress
    sync_env.emu.reset()
    done = piped(["--config-dir", str(fresh), "--no-progress", "sync", "run", "p"], **{progress.INTERVAL_ENV: "0"})
    assert done.returncode == 0, done.stderr
    assert not WRITE_LINE.search(done.stderr) and "TRAKT history: writing" in done.stderr


@pytest.mark.slow
def test_long_reads_show_progress_per_provider_and_feature(sync_env: SyncEnv) -> None:
    def three_times_the_plays(user: dict) -> None:  # Plex lists history 200 rows a page: three pages
        user["plays"] += [
            {**play, "historyKey": play["historyKey"] + 100_000 * k, "viewedAt": play["viewedAt"] - 86_400_000 * k}
            for k in (1, 2)
            for play in list(user["plays"])
        ]

    sync_env.edit_plex(three_times_the_plays)
    plays = len(sync_env.emu.plex.state_json()["users"]["1"]["plays"])
    assert plays > 400
    sync_env.cw.configure({"trakt": {"page_size": 10}})  # Trakt's seeded history: many pages of 10
    folder, fast = str(sync_env.cw.folder), {progress.INTERVAL_ENV: "0"}

    plex = piped(["--config-dir", folder, "capture", "create", "--provider", "plex", "--feature", "history"], **fast)
    assert plex.returncode == 0, plex.stderr
    read = [(int(n), int(t)) for n, t in re.findall(r"PLEX history: reading (\d+)/(\d+) \(\d+%\)", plex.stderr)]
    assert len(read) >= 2 and {t for _, t in read} == {plays}, plex.stderr
    assert read[-1][0] == plays and [n for n, _ in read] == sorted(n for n, _ in read)

    trakt = piped(["--config-dir", folder, "capture", "create", "--provider", "trakt", "--feature", "history"], **fast)
    assert trakt.returncode == 0, trakt.stderr
    pages = [(int(n), int(t)) for n, t in re.findall(r"TRAKT history: reading (\d+)/(\d+) pages", trakt.stderr)]
    listings = {t for _, t in pages}  # one per media type
    assert listings and all((t, t) in pages for t in listings), trakt.stderr
    assert sum(listings) >= len(sync_env.emu.trakt.state_json()["history"]) // 10


def test_help_does_not_import_rich_nor_does_progress_off_a_terminal() -> None:
    code = (
        "import io, sys\n"
        "rich = lambda: sorted(m for m in sys.modules if m == 'rich' or m.startswith('rich.'))\n"
        "from crosswatch.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('help', rich(), file=sys.stderr)\n"
        "from crosswatch import progress\n"
        "import crosswatch.commands.stopping\n"  # what every command's async work goes through
        "with progress.reporting(progress.for_command(io.StringIO())):\n"
        "    progress.task('TRAKT history: writing', total=3).advance(3)\n"
        "print('piped', rich(), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "usage: crosswatch" in done.stdout, done.stderr
    assert done.stderr.splitlines() == ["help []", "piped []"]


# -- the interval logic, with a clock moved by hand ---------------------------------------------


def test_plain_lines_come_once_per_interval_with_the_eta_from_the_pace() -> None:
    clock, out = Clock(), io.StringIO()
    with progress.reporting(progress.PlainReporter(out, interval=5, clock=clock)):
        bar = progress.task("TRAKT history: writing", total=2739)
        for now, n in ((1, 100), (4.9, 100), (5, 100)):  # 300 of 2739 in 5 s
            clock.now = 1000 + now
            bar.advance(n)
        clock.now = 1006
        bar.advance(100)  # 1 s after the last line: nothing
        clock.now = 1010
        bar.advance(100)  # 500 in 10 s: 2239 left at 50/s
        clock.now = 1012
        bar.done()
        quick = progress.task("PLEX ratings: writing", total=3)
        quick.advance(3)
        quick.done()
    assert out.getvalue().splitlines() == [
        "TRAKT history: writing 300/2739 (10%), ETA 41s",
        "TRAKT history: writing 500/2739 (18%), ETA 45s",
        "TRAKT history: writing 500/2739 (18%), took 12s",
    ]


def test_without_a_reporter_a_task_costs_nothing_and_unknown_totals_count_up() -> None:
    assert progress.task("anything", total=5) is progress.NO_TASK
    clock, out = Clock(), io.StringIO()
    reporter = progress.PlainReporter(out, interval=0, clock=clock)
    with progress.reporting(reporter), progress.task("TRAKT watchlist: reading", unit="pages") as pages:
        pages.advance(2)
    assert out.getvalue().splitlines() == [
        "TRAKT watchlist: reading 2 pages",
        "TRAKT watchlist: reading 2 pages, took 0s",
    ]


def test_no_eta_once_every_unit_is_done() -> None:
    clock, out = Clock(), io.StringIO()
    with progress.reporting(progress.PlainReporter(out, interval=0, clock=clock)):
        bar = progress.task("PLEX history: reading", total=400)
        clock.now += 1
        bar.advance(200)
        clock.now += 1
        bar.advance(200)
    assert out.getvalue().splitlines() == [
        "PLEX history: reading 200/400 (50%), ETA 1s",
        "PLEX history: reading 400/400 (100%)",
        "PLEX history: reading 400/400 (100%), took 2s",
    ]


def test_the_daemon_reporter_logs_job_progress_about_every_ten_seconds() -> None:
    clock = Clock()
    captured = structlog.testing.CapturingLogger()
    logger = structlog.wrap_logger(captured, processors=[], wrapper_class=structlog.BoundLogger)
    with progress.reporting(progress.LogReporter(logger, clock=clock, job="sync:p")):
        bar = progress.task("TRAKT history: writing", total=1000)
        for second in range(1, 31):
            clock.now = 1000 + second
            bar.advance(10)
    lines = [{"level": c.method_name, **c.kwargs} for c in captured.calls if c.kwargs["event"] == "job.progress"]
    assert [(e["done"], e["elapsed_s"], e["eta_s"], e["finished"]) for e in lines] == [
        (100, 10.0, 90.0, False),
        (200, 20.0, 80.0, False),
        (300, 30.0, 70.0, False),
        (300, 30.0, None, True),  # closing the reporter ends what was left open
    ]
    assert {(e["job"], e["what"], e["total"], e["percent"], e["level"]) for e in lines[:1]} == {
        ("sync:p", "TRAKT history: writing", 1000, 10.0, "info")
    }


@pytest.mark.slow
def test_a_scheduled_job_in_the_daemon_logs_job_progress(sync_env: SyncEnv) -> None:
    long_write(sync_env)
    folder = sync_env.cw.folder
    config = merged(sync_env.emu.config(), {"daemon": {"listen": "127.0.0.1:0"}})
    pair = sync_env.pair("p", features=["history"], schedule="0 3 1 1 *")
    (folder / "config.toml").write_text(
        tomli_w.dumps(merged(config, {"pairs": [pair], "trakt": {"batch_size": BATCH}}))
    )
    daemon = DaemonProcess(folder, env={progress.LOG_INTERVAL_ENV: "0"})
    try:
        ready = daemon.wait_for("daemon.ready")
        token = json.loads((folder / ".cw_state" / "daemon.json").read_text())["token"]
        mark = daemon.mark()
        reply = httpx.post(
            f"http://{ready['listen']}/jobs/sync:p/run", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert reply.status_code == 202, reply.text
        daemon.wait_for("job.finished", after=mark, timeout=90)
        lines = [e for e in daemon.events("job.progress") if e["what"] == "TRAKT history: writing"]
        assert lines and all(e["job"] == "sync:p" and e["level"] == "info" for e in lines)
        assert lines[-1]["finished"] and lines[-1]["done"] == lines[-1]["total"] > 10 * BATCH
    finally:
        daemon.stop()
