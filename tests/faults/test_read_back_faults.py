"""A run that reads a written side back, stopped at each of its write boundaries.

The pair is two-way between two drop-in shelves (:mod:`tests.test_sync_read_back`); the target
declares ``reads_back``, so after its writes the run reads it back, saves the baseline a
second time and records the settled inputs. Wherever the run stops, running the pair again
must bring both sides to the same titles and ratings, and then to a quiet run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from crosswatch.crashpoints import AT, LOG, SIGNAL
from tests.daemon_proc import CROSSWATCH
from tests.faults.harness import RESULTS, choose, crossings, record, state_files_valid
from tests.test_sync_read_back import CONFIG, SHELVES

pytestmark = pytest.mark.slow

NAME = "sync two-way ratings, a target that reads back"
A = {"title": "A", "rating": 8, "at": "2024-05-01T20:00:00Z"}
B = {"title": "B", "rating": 6, "at": "2024-05-01T20:00:00Z"}
B_LATER = {"title": "B", "rating": 9, "at": "2024-06-01T20:00:00Z"}
C = {"title": "C", "rating": 4, "at": "2024-06-01T20:00:00Z"}
#: where both sides must end: A removed on the source, B rated again there, C new there
WANTED = {"tt02": 9, "tt03": 4}


def sync(folder: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in (AT, LOG, SIGNAL)}
    full.update(env or {})
    return subprocess.run(
        [CROSSWATCH, "--config-dir", str(folder), "--no-progress", "sync", "run", "to-right", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=full,
        stdin=subprocess.DEVNULL,
    )


def ratings(folder: Path, side: str) -> dict[str, int]:
    return {k: v["rating"] for k, v in json.loads((folder / f"{side}.json").read_text()).items()}


def problems_after_completing(folder: Path) -> list[str]:
    out = []
    for _ in range(2):
        done = sync(folder)
        if done.returncode != 0:
            out.append(f"a run after the stop failed ({done.returncode}): {done.stderr[-800:]}")
    for side in ("left", "right"):
        if ratings(folder, side) != WANTED:
            out.append(f"{side} holds {ratings(folder, side)}, not {WANTED}")
    quiet = sync(folder)
    report = json.loads(quiet.stdout) if quiet.returncode == 0 else {}
    if report.get("summary") or report.get("settled") != ["ratings"]:
        out.append(f"the run after converging was not a quiet one: {quiet.stdout[-800:]} {quiet.stderr[-800:]}")
    return out + state_files_valid(folder)


def test_a_run_that_reads_back_stopped_at_any_write_converges(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    (folder / "plugins.d").mkdir(parents=True)
    (folder / "plugins.d" / "shelves.py").write_text(SHELVES)
    (folder / "config.toml").write_text(CONFIG)
    (folder / "left.json").write_text(json.dumps({"tt01": A, "tt02": B}))
    (folder / "right.json").write_text(json.dumps({}))
    assert sync(folder).returncode == 0  # the pair's first run: both sides hold A and B
    (folder / "left.json").write_text(json.dumps({"tt02": B_LATER, "tt03": C}))
    start = tmp_path / "start"
    shutil.copytree(folder, start)

    def restore() -> None:
        shutil.rmtree(folder)
        shutil.copytree(start, folder)

    log = tmp_path / "crossings"
    counted = sync(folder, {LOG: str(log)})
    assert counted.returncode == 0, counted.stderr
    points = crossings(log)
    # the baseline is saved twice: as written, then as read back (before the settled inputs)
    saved = [line for line in log.read_text().splitlines() if line.startswith("file.write.replace")]
    assert sum("ratings.baseline" in line for line in saved) == 2, saved
    before = len(RESULTS.violations)
    for i, point in enumerate(choose(points, NAME)):
        restore()
        signal = "TERM" if i % 4 == 3 else "KILL"
        stopped = sync(folder, {AT: point, SIGNAL: signal})
        if signal == "KILL":
            assert stopped.returncode == -9, f"not stopped at {point}: {stopped.returncode} {stopped.stderr[-800:]}"
        else:
            assert stopped.returncode in (0, 1, 143), f"{point}: exit {stopped.returncode}: {stopped.stderr[-800:]}"
        record(NAME, f"{signal} at {point}", problems_after_completing(folder))
    found = RESULTS.violations[before:]
    assert not found, "\n".join(found[:20])
