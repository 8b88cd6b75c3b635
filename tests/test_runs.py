"""The run history: what a person sees in ``crosswatch runs`` after syncs, captures and failures."""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crosswatch.config.schema import HistoryConfig
from crosswatch.crashpoints import AT
from crosswatch.runs import RUNS_FILE, RunHistory
from crosswatch.state import StateDir
from crosswatch.web import bind_socket
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))


def closed_port() -> int:
    sock = bind_socket("127.0.0.1:0")
    port = sock.getsockname()[1]
    sock.close()
    return port


def runs(env: SyncEnv, *args: str) -> list[dict]:
    return env.cw.json("runs", "--json", *args)


def unreachable_trakt(env: SyncEnv, pair: dict) -> None:
    env.cw.configure({"pairs": [pair], "trakt": {"api_url": f"http://127.0.0.1:{closed_port()}", "max_retries": 0}})


def test_a_sync_run_and_a_capture_are_recorded_with_the_numbers_the_commands_printed(sync_env: SyncEnv) -> None:
    env = sync_env
    env.pairs(env.pair("p", features=["watchlist", "ratings"]))
    report = env.run("p")
    created = env.cw.json("capture", "create", "--provider", "trakt", "--feature", "watchlist", "--json")

    capture, sync = runs(env)  # newest first
    assert (sync["job"], sync["kind"], sync["trigger"], sync["pair"], sync["result"]) == (
        "sync:p",
        "sync",
        "command",
        "p",
        "ok",
    )
    assert sync["summary"] == report["summary"]
    added = sum(row["added"] for row in report["summary"])
    assert added > 0 and sync["counts"]["added"] == added
    assert sync["requests"] > 0 and sync["ended"] >= sync["started"]
    assert (capture["kind"], capture["provider"], capture["feature"], capture["result"]) == (
        "capture",
        "TRAKT",
        "watchlist",
        "ok",
    )
    assert capture["counts"] == {"watchlist": created[0]["count"]}


def test_a_failed_run_shows_its_error_line_and_the_filters_find_it(sync_env: SyncEnv) -> None:
    env = sync_env
    pair = env.pair("p", features=["watchlist"])
    env.pairs(pair)
    env.run("p")
    unreachable_trakt(env, pair)
    failed = env.cli("sync", "run", "p")
    assert failed.code == 1

    assert [r["result"] for r in runs(env)] == ["failed", "ok"]
    [only] = runs(env, "--failed")
    said = failed.err.strip().splitlines()[-1].removeprefix("crosswatch: ")
    assert only["result"] == "failed" and only["error"] == said
    assert runs(env, "--pair", "other") == []
    assert len(runs(env, "--limit", "1")) == 1
    text = env.cli("runs")
    assert text.code == 0 and "failed" in text.out and only["error"] in text.out


@pytest.mark.slow
def test_a_run_killed_mid_write_shows_as_interrupted_on_the_next_command(sync_env: SyncEnv) -> None:
    env = sync_env
    env.pairs(env.pair("p", features=["watchlist"]))
    killed = subprocess.run(
        [CROSSWATCH, "--config-dir", str(env.cw.folder), "sync", "run", "p"],
        env={**os.environ, AT: "http.write.before"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr

    [run] = runs(env)
    assert run["result"] == "interrupted" and run["ended"] is not None
    assert "stopped before the run ended" in run["error"]


def test_a_missing_sign_in_is_recorded_as_a_failed_sign_in_too(sync_env: SyncEnv) -> None:
    env = sync_env
    env.pairs(env.pair("p", features=["watchlist"]))
    (env.cw.folder / ".cw_state" / "trakt.tokens.json").unlink()
    assert env.cli("sync", "run", "p").code == 1

    sign_in, sync = runs(env)
    assert sync["result"] == "failed"
    assert (sign_in["kind"], sign_in["job"], sign_in["result"]) == ("sign-in", "sign-in:TRAKT.default", "failed")
    assert "crosswatch auth trakt" in sign_in["error"]


WRITER = """
import sys
from pathlib import Path
from crosswatch.runs import RunHistory
from crosswatch.state import StateDir
history = RunHistory(StateDir(Path(sys.argv[1])))
for n in range(int(sys.argv[2])):
    run = history.start(f"sync:{sys.argv[3]}", "sync", "command", pair=sys.argv[3])
    history.finish(run, "ok", counts={"added": n})
"""


@pytest.mark.slow
def test_processes_writing_at_once_lose_no_run(tmp_path: Path) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "60", f"p{n}"], stderr=subprocess.PIPE)
        for n in range(4)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    history = RunHistory(StateDir(tmp_path))
    assert history.count() == 240
    assert {r.result for r in history.list(limit=1000)} == {"ok"}
    assert os.stat(tmp_path / ".cw_state" / RUNS_FILE).st_mode & 0o777 == 0o600


def test_the_history_keeps_its_limits(tmp_path: Path) -> None:
    history = RunHistory(StateDir(tmp_path), HistoryConfig(keep_days=1, keep_runs=10))
    old = history.start("sync:old", "sync", "schedule", pair="old")
    history.finish(old, "ok")
    with sqlite3.connect(tmp_path / ".cw_state" / RUNS_FILE) as db:
        db.execute("UPDATE runs SET started = ? WHERE id = ?", (time.time() - 2 * 86_400, old.id))
    for _ in range(3):
        history.finish(history.start("sync:p", "sync", "schedule", pair="p"), "ok")
    assert history.get(old.id) is None  # older than keep_days
    for _ in range(20):
        history.finish(history.start("sync:p", "sync", "schedule", pair="p"), "ok")
    running = history.start("sync:q", "sync", "schedule", pair="q")
    history.finish(history.start("sync:p", "sync", "schedule", pair="p"), "ok")
    assert history.count() == 10  # keep_runs at most, the one still running among them
    assert history.get(running.id) is not None


def test_a_damaged_history_is_set_aside_and_the_job_still_runs(sync_env: SyncEnv) -> None:
    env = sync_env
    env.pairs(env.pair("p", features=["watchlist"]))
    path = env.cw.folder / ".cw_state" / RUNS_FILE
    path.write_bytes(b"this is not a database" * 100)
    env.run("p")
    assert [r["result"] for r in runs(env)] == ["ok"]
    assert [p.name for p in path.parent.glob(RUNS_FILE + ".damaged-*")] != []


def test_the_previous_result_of_a_job_comes_back_with_each_finish(tmp_path: Path) -> None:
    history = RunHistory(StateDir(tmp_path))
    results = ["ok", "failed", "failed", "ok"]
    previous = [history.finish(history.start("sync:p", "sync", "command"), r) for r in results]
    assert previous == [None, "ok", "failed", "failed"]
    assert json.loads(json.dumps(history.list()[0].to_json()))["result"] == "ok"


def test_listing_an_empty_history_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from crosswatch.cli import main

    assert main(["--config-dir", str(tmp_path), "runs"]) == 0
    assert "no runs recorded" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    assert main(["--config-dir", str(tmp_path / "missing"), "runs"]) == 1
    assert "no such config directory" in capsys.readouterr().err


def test_a_run_keeps_the_items_it_could_not_write_and_why(sync_env: SyncEnv) -> None:
    env = sync_env
    env.pairs(env.pair("p"))
    report = env.run("p")
    not_written = sum(row["unresolved"] + row["failed"] for row in report["summary"])
    assert not_written > 0  # the emulated library holds titles without ids: frozen, unresolved
    [run] = runs(env)
    assert len(run["problems"]) == not_written
    assert {p["kind"] for p in run["problems"]} <= {"unresolved", "failed"}
    assert all(p["item"] and p["why"] and p["target"] in ("PLEX", "TRAKT") for p in run["problems"])


def test_a_history_from_before_problems_were_kept_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / ".cw_state" / RUNS_FILE
    path.parent.mkdir()
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, kind TEXT NOT NULL,"
            " trigger TEXT NOT NULL, pair TEXT, provider TEXT, profile TEXT, feature TEXT, started REAL NOT NULL,"
            " ended REAL, result TEXT NOT NULL, counts TEXT NOT NULL DEFAULT '{}', requests INTEGER, error TEXT,"
            " safety TEXT NOT NULL DEFAULT '[]', summary TEXT NOT NULL DEFAULT '[]', pid INTEGER, pid_start TEXT)"
        )
        db.execute(
            "INSERT INTO runs (job, kind, trigger, started, ended, result) VALUES ('sync:p', 'sync', 'command', 1, 2, 'ok')"
        )
    history = RunHistory(StateDir(tmp_path))
    [old] = history.list()
    assert (old.result, old.problems) == ("ok", [])
    run = history.start("sync:p", "sync", "command")
    history.finish(run, "failed", problems=[{"item": "Movie (2001)", "kind": "failed", "why": "HTTP 500"}])
    assert history.get(run.id).problems == [{"item": "Movie (2001)", "kind": "failed", "why": "HTTP 500"}]
