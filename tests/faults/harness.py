"""The fault suite's harness: an operation run against the emulators, stopped at a write boundary.

Every write crosswatch makes passes a named crash point (:mod:`crosswatch.crashpoints`): each
HTTP write to a provider (before it is sent, after its answer), each state file (before, with
the new content on disk but not in place, after), each capture file, each journal record. A
:class:`Scenario` is one operation (``sync run PAIR``, ``capture restore``, ``tools clear``) on a
small library:

1. it runs the operation once with ``CROSSWATCH_CRASH_LOG`` to list the boundaries it crosses;
2. for each chosen boundary (all of them, or a seeded spread of :data:`POINTS` where there are
   many) it puts the emulators and the config directory back, runs the operation in a real
   process that kills itself there (``SIGKILL``, or ``SIGTERM`` where that is the case), runs
   it again to completion, and checks the invariants;
3. emulator faults (a 5xx, a dropped connection, a write applied and its answer lost) go
   through the same loop.

An invariant that does not hold is a violation: the test fails and names the case. Each case
is added to :data:`RESULTS`, which the suite prints at its end (cases run, violations).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crosswatch.crashpoints import AT, LOG, SIGNAL
from tests.daemon_proc import CROSSWATCH
from tests.sync_env import SyncEnv

#: kill points per scenario in the default run (where there are more boundaries than this)
POINTS = int(os.environ.get("CROSSWATCH_FAULT_POINTS", "10"))
#: ``full``: every boundary of every scenario (the long sweep)
SWEEP = os.environ.get("CROSSWATCH_FAULT_SWEEP", "") == "full"
SEED = 20261205


@dataclass
class Tally:
    cases: int = 0
    violations: list[str] = field(default_factory=list)
    scenarios: Counter[str] = field(default_factory=Counter)


RESULTS = Tally()


def choose(points: list[str], seed: str, k: int = POINTS) -> list[str]:
    """All ``points`` when few (or in the full sweep), else the first, the last and a seeded spread."""
    if SWEEP or len(points) <= k:
        return list(points)
    rng = random.Random(f"{SEED}:{seed}")
    middle = sorted(rng.sample(range(1, len(points) - 1), k - 2))
    return [points[0], *(points[i] for i in middle), points[-1]]


def crossings(log: Path) -> list[str]:
    """``name#n`` of every crash point a run crossed, in order."""
    seen: Counter[str] = Counter()
    out = []
    for line in log.read_text().splitlines() if log.exists() else []:
        name = line.split("\t", 1)[0]
        seen[name] += 1
        out.append(f"{name}#{seen[name]}")
    return out


@dataclass
class Snapshot:
    """The emulators' user state and the config directory, to put back before each case."""

    plex: dict[str, Any]
    trakt: dict[str, Any]
    folder: Path


class Scenario:
    """One operation against the emulators, run to be stopped at its write boundaries."""

    def __init__(self, env: SyncEnv, name: str, command: list[str], work: Path) -> None:
        self.env = env
        self.name = name
        self.command = command
        self.work = work
        self.snapshot: Snapshot | None = None
        self.started = 0.0

    @property
    def folder(self) -> Path:
        return self.env.cw.folder

    # -- state ---------------------------------------------------------------------------------

    def freeze(self) -> Snapshot:
        """Keep the present state as the one every case starts from."""
        keep = self.work / "snapshot"
        if keep.exists():
            shutil.rmtree(keep)
        shutil.copytree(self.folder, keep, symlinks=True)
        self.snapshot = Snapshot(self.env.plex_state(), self.env.trakt_state(), keep)
        return self.snapshot

    def restore(self) -> None:
        snap = self.snapshot
        assert snap is not None
        self.env.emu.plex.load_state(json.loads(json.dumps(snap.plex)))
        self.env.load_trakt({k: v for k, v in snap.trakt.items() if k != "tokens"})
        self.env.reset_knobs(self.env.emu.plex.settings.to_json(), self.env.emu.trakt.settings.to_json())
        shutil.rmtree(self.folder)
        shutil.copytree(snap.folder, self.folder, symlinks=True)
        self.started = time.time()

    # -- running -------------------------------------------------------------------------------

    def run(self, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The operation in its own process (``env`` added to the environment)."""
        full = {k: v for k, v in os.environ.items() if k not in (AT, LOG, SIGNAL)}
        full.update(env or {})
        return subprocess.run(
            [CROSSWATCH, "--config-dir", str(self.folder), "--log-format", "json", *self.command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full,
            stdin=subprocess.DEVNULL,
        )

    def boundaries(self) -> list[str]:
        """The crash points one uninterrupted run crosses (the state is put back afterwards)."""
        self.restore()
        log = self.work / f"{self.name}.crossings"
        log.unlink(missing_ok=True)
        done = self.run({LOG: str(log)})
        assert done.returncode in (0, 1), f"{self.name}: the counting run failed: {done.stderr[-2000:]}"
        found = crossings(log)
        self.restore()
        return found

    def crash(self, point: str, signal: str = "KILL") -> subprocess.CompletedProcess[str]:
        """The operation, stopped by ``signal`` at ``point`` (``name#n``)."""
        done = self.run({AT: point, SIGNAL: signal})
        if signal == "KILL":
            assert done.returncode == -9, (
                f"{self.name}: the run was to be killed at {point} but exited {done.returncode}: {done.stderr[-1500:]}"
            )
        else:  # a clean stop (143) or, at the very last boundary, a finished run
            assert done.returncode in (0, 1, 143), f"{self.name} at {point}: exit {done.returncode}: {done.stderr}"
            assert "Traceback" not in done.stderr, done.stderr
        return done


# -- invariants ------------------------------------------------------------------------------------


def state_files_valid(folder: Path) -> list[str]:
    """Every state file parses, none was moved aside as damaged, config.toml is untouched."""
    problems = []
    state = folder / ".cw_state"
    for path in sorted(state.rglob("*")) if state.exists() else []:
        if ".corrupt-" in path.name or ".damaged-" in path.name:
            problems.append(f"{path.name}: a state file was found damaged and moved aside")
        elif path.name == "runs.sqlite3":
            problems += run_history_problems(path)
        elif path.suffix == ".json" and not path.name.startswith("."):
            try:
                json.loads(path.read_bytes())
            except ValueError as exc:
                problems.append(f"{path.name}: does not parse ({exc})")
    return problems


def run_history_problems(path: Path) -> list[str]:
    """The run history is whole, and no run still shows as running (the next command swept it)."""
    db = sqlite3.connect(path)
    try:
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            return [f"{path.name}: the run history is damaged"]
        running = db.execute("SELECT id, job FROM runs WHERE result = 'running'").fetchall()
    finally:
        db.close()
    return [f"{path.name}: run {run_id} ({job}) still shows as running" for run_id, job in running]


def outside_untouched(folder: Path, before: Path) -> list[str]:
    """Nothing but ``.cw_state/`` and ``snapshots/`` changed in the config directory."""
    problems = []
    for path in sorted(before.rglob("*")):
        rel = path.relative_to(before)
        if rel.parts[0] in (".cw_state", "snapshots") or path.is_dir():
            continue
        now = folder / rel
        if not now.exists():
            problems.append(f"{rel}: removed")
        elif now.read_bytes() != path.read_bytes():
            problems.append(f"{rel}: changed")
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] not in (".cw_state", "snapshots") and not (before / rel).exists():
            problems.append(f"{rel}: created outside .cw_state and snapshots")
    return problems


def _match(times: list[int], wanted: list[int], tolerance: float) -> tuple[list[int], list[int]]:
    """Pair each of ``wanted`` with an unused time within ``tolerance``: (unmatched wanted, unused times)."""
    free = sorted(times)
    missing = []
    for t in sorted(wanted):
        hit = next((i for i, x in enumerate(free) if abs(x - t) <= tolerance), None)
        if hit is None:
            missing.append(t)
        else:
            free.pop(hit)
    return missing, free


def by_title(plays: Counter[tuple[str, int, int]]) -> dict[tuple[str, int], list[int]]:
    out: dict[tuple[str, int], list[int]] = {}
    for (kind, trakt, when), n in plays.items():
        out.setdefault((kind, trakt), []).extend([when] * n)
    return out


def history_violations(
    p0: Counter[Any],
    t0: Counter[Any],
    p1: Counter[Any],
    t1: Counter[Any],
    *,
    two_way: bool,
    tolerance: float,
    started: float,
) -> list[str]:
    """No play lost, no phantom or duplicate play on either side, and everything copied that should be."""
    out = []
    if p0 - p1:
        out.append(f"Plex plays lost: {sorted(p0 - p1)[:5]}")
    if t0 - t1:
        out.append(f"Trakt plays lost: {sorted(t0 - t1)[:5]}")
    plex0, trakt0, plex1, trakt1 = by_title(p0), by_title(t0), by_title(p1), by_title(t1)
    for title in set(trakt1) | set(plex0):
        source = plex0.get(title, [])
        old = trakt0.get(title, [])
        new = list((Counter(trakt1.get(title, [])) - Counter(old)).elements())
        # the Plex plays Trakt lacked at the start: the only plays crosswatch may add to Trakt
        owed, _ = _match(old, source, tolerance)
        unexplained, unused = _match(owed, new, tolerance)
        if unexplained:
            out.append(f"Trakt {title}: {len(unexplained)} play(s) nobody made (phantom or duplicate): {unexplained}")
        if unused:
            out.append(f"Trakt {title}: {len(unused)} Plex play(s) never copied: {unused}")
    if not two_way:
        if p1 != p0:
            out.append(f"one-way: Plex (the source) was written: {sorted((p1 - p0) | (p0 - p1))[:5]}")
        return out
    for title in set(plex1) | set(trakt0):
        added = list((Counter(plex1.get(title, [])) - Counter(plex0.get(title, []))).elements())
        had_plex, had_trakt = bool(plex0.get(title)), bool(trakt0.get(title))
        if added and (had_plex or not had_trakt or len(added) > 1):
            out.append(f"Plex {title}: {len(added)} play(s) nobody made (Plex had {len(plex0.get(title, []))})")
        if added and any(t < started - 5 for t in added):
            out.append(f"Plex {title}: a new play dated before the run: {added}")
        if had_trakt and not had_plex and not added:
            out.append(f"Plex {title}: Trakt's plays never reached Plex")
    return out


def titles_violations(feature: str, p0: Any, t0: Any, p1: Any, t1: Any, *, two_way: bool) -> list[str]:
    """Watchlist and ratings: nothing lost, nothing invented, both sides agree (no removal is configured)."""
    out = []
    if feature == "watchlist":
        union = set(p0) | set(t0)
        want_t = union if two_way else set(t0) | set(p0)
        # a Plex watchlist holds movies and shows only: Trakt's seasons and episodes stay unresolved
        want_p = {k for k in union if k[0] in ("movie", "show")} | set(p0) if two_way else set(p0)
        if set(t1) != want_t:
            out.append(f"Trakt watchlist: missing {sorted(want_t - set(t1))[:5]}, extra {sorted(set(t1) - want_t)[:5]}")
        if set(p1) != want_p:
            out.append(f"Plex watchlist: missing {sorted(want_p - set(p1))[:5]}, extra {sorted(set(p1) - want_p)[:5]}")
        return out
    keys = set(p0) | set(t0)
    for key in keys | set(p1) | set(t1):
        originals = {v for v in (p0.get(key), t0.get(key)) if v is not None}
        if key not in keys:
            out.append(f"{key}: rated {p1.get(key)}/{t1.get(key)} though neither side had rated it")
            continue
        if not two_way:
            if p1.get(key) != p0.get(key):
                out.append(f"one-way: Plex (the source) rating of {key} changed")
            want = p0.get(key, t0.get(key))
            if t1.get(key) != want:
                out.append(f"Trakt {key}: rated {t1.get(key)}, the source says {want}")
            continue
        if p1.get(key) not in originals or t1.get(key) not in originals:
            out.append(f"{key}: rated {p1.get(key)} on Plex, {t1.get(key)} on Trakt; the ratings were {originals}")
    return out


def progress_violations(p0: Any, t0: Any, p1: Any, t1: Any, *, two_way: bool) -> list[str]:
    """Resume points: nothing lost, nothing invented, a source position reaches the target."""
    out = []
    for key in set(p1) | set(t1):
        if key not in p0 and key not in t0:
            out.append(f"{key}: a resume point neither side had")
    for key in t0:
        if key not in t1:
            out.append(f"Trakt {key}: resume point lost")
    for key, value in p0.items():
        if key not in p1:
            out.append(f"Plex {key}: resume point lost")
        elif not two_way and abs(p1[key] - value) > 0.5:
            out.append(f"one-way: Plex (the source) resume point of {key} changed")
        if key not in t1:
            out.append(f"Trakt {key}: the source's resume point never arrived")
    return out


def record(scenario: str, case: str, problems: list[str]) -> None:
    RESULTS.cases += 1
    RESULTS.scenarios[scenario] += 1
    RESULTS.violations += [f"{scenario} / {case}: {p}" for p in problems]


Check = Callable[[], list[str]]
