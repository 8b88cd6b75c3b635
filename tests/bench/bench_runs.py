"""Run history benchmark: what recording a run costs, and ``crosswatch status`` over a long history.

Run: ``python -m tests.bench.bench_runs [--runs 10000] [--repeat 5]``; prints JSON. Targets (the
"see and trust what the daemon does" issue): recording a run (its start and its end, two
transactions) adds <= 5 ms; ``crosswatch status`` answers in <= 0.3 s with 10,000 runs recorded
(a fresh process each time, the way a person or a monitoring script runs it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crosswatch.runs import RunHistory
from crosswatch.state import StateDir
from tests.bench.bench_core import CROSSWATCH, machine

CONFIG = """
[daemon]
listen = ""

[trakt]
client_id = "bench"

[[pairs]]
name = "plex-to-trakt"
source = "plex"
target = "trakt"
schedule = "0 3 * * *"

[[pairs]]
name = "trakt-to-plex"
source = "trakt"
target = "plex"
features = ["watchlist"]

[[captures.schedules]]
name = "nightly"
provider = "trakt"
cron = "0 4 * * *"
max_keep = 7
"""


def fill(history: RunHistory, runs: int) -> None:
    """``runs`` finished runs of the configured jobs, a few failed, written in one transaction."""
    jobs = [("sync:plex-to-trakt", "sync", "plex-to-trakt"), ("sync:trakt-to-plex", "sync", None)]
    jobs += [("capture:nightly", "capture", None), ("prune:nightly", "prune", None)]
    run = history.start("sync:seed", "sync", "command")
    history.finish(run, "ok")
    import sqlite3

    now = time.time() - runs * 60
    rows = []
    for n in range(runs):
        job, kind, pair = jobs[n % len(jobs)]
        result = "failed" if n % 97 == 0 else "ok"
        counts = json.dumps({"added": n % 13, "removed": 0, "failed": int(result == "failed")})
        rows.append((job, kind, "schedule", pair, now + n * 60, now + n * 60 + 3, result, counts))
    with sqlite3.connect(history.path) as db:
        db.executemany(
            "INSERT INTO runs (job, kind, trigger, pair, started, ended, result, counts) VALUES (?,?,?,?,?,?,?,?)",
            rows,
        )


def record_ms(history: RunHistory, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run = history.start("sync:plex-to-trakt", "sync", "command", pair="plex-to-trakt")
        history.finish(run, "ok", counts={"added": 3, "removed": 0}, requests=12)
        times.append((time.perf_counter() - began) * 1000)
    return times


def status_s(folder: Path, repeat: int) -> tuple[list[float], int]:
    times, code = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        done = subprocess.run(
            [CROSSWATCH, "--config-dir", str(folder), "status", "--json"], capture_output=True, text=True, check=False
        )
        times.append(time.perf_counter() - began)
        code = done.returncode
        json.loads(done.stdout)  # it answered in full
    return times, code


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "config.toml").write_text(CONFIG)
        history = RunHistory(StateDir(folder))
        fill(history, args.runs)
        recording = record_ms(history, max(args.repeat * 20, 20))
        status, code = status_s(folder, args.repeat)
        result = {
            "benchmark": "runs",
            "machine": machine(),
            "runs_recorded": history.count(),
            "record_run_ms": {"median": round(statistics.median(recording), 2), "max": round(max(recording), 2)},
            "status_s": {"median": round(statistics.median(status), 3), "min": round(min(status), 3)},
            "status_exit": code,
            "targets": {"record_run_ms": 5, "status_s": 0.3},
        }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
