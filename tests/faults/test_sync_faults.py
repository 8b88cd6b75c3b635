"""Sync pairs stopped at every write boundary: one-way and two-way, each feature, Plex <-> Trakt.

Each test is one scenario (a feature, a direction): the operation is ``crosswatch sync run``
of a pair on a small library where both sides differ, stopped (``SIGKILL``; ``SIGTERM`` for a
few) at each chosen write boundary, then run to completion; emulator faults go through the
same loop. After every case the invariants of :mod:`tests.faults.harness` must hold.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import (
    Scenario,
    choose,
    history_violations,
    outside_untouched,
    progress_violations,
    record,
    state_files_valid,
    titles_violations,
)
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401

pytestmark = pytest.mark.slow

PAIR = "faults"
TOLERANCE = 120
#: entries kept on each side: small enough for many cases, large enough that the sides differ
KEEP = {"watchlist": 6, "ratings": 8, "history": 10, "progress": 5}
PLEX_KEY = {"watchlist": "watchlist", "ratings": "ratings", "history": "plays", "progress": "progress"}
TRAKT_KEY = {"watchlist": "watchlist", "ratings": "ratings", "history": "history", "progress": "playback"}


def small_library(env: SyncEnv, feature: str) -> None:
    """Both sides hold a few titles with external ids, some on both sides and some on one."""
    env.keep_only_titles_with_ids()
    n = KEEP[feature]

    def plex(user: dict[str, Any]) -> None:
        for name in ("watchlist", "ratings", "plays", "progress", "marked_watched"):
            user[name] = user[name][:n] if name == PLEX_KEY[feature] else []

    def trakt(state: dict[str, Any]) -> None:
        for name in ("watchlist", "ratings", "history", "playback", "collection"):
            state[name] = state[name][:n] if name == TRAKT_KEY[feature] else []

    env.edit_plex(plex)
    env.edit_trakt(trakt)


def views(env: SyncEnv, feature: str) -> tuple[Any, Any]:
    return env.plex_view(feature), env.trakt_view(feature)


def complete(env: SyncEnv, runs: int = 3) -> list[str]:
    """Run the pair until a run has nothing to write; a problem if it never settles or fails."""
    for _ in range(runs):
        report = env.run(PAIR, code=None)
        if not report["ok"] or report["refused"]:
            return [f"the completing run did not succeed: ok={report['ok']} refused={report['refused']}"]
        if not report["plan"]:
            return []
    return [f"still writing after {runs} completing runs: {report['plan']}"]


def emulator_faults(feature: str, two_way: bool) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, emulator, fault) cases for the loop: each hits a write of the run."""
    trakt_write = {"method": "POST", "path": "/sync/*"}
    cases = [
        ("trakt 500 after applying", "trakt", {**trakt_write, "status": 500, "after_apply": True}),
        ("trakt drop after applying", "trakt", {**trakt_write, "drop": True, "after_apply": True}),
        ("trakt 503 before applying", "trakt", {**trakt_write, "status": 503, "times": 2}),
    ]
    if two_way:
        plex_write = {"path": "/:/*", "method": "*"} if feature != "watchlist" else {"path": "/actions/*"}
        cases += [
            (
                "plex 500 after applying the 2nd write",
                "plex",
                {**plex_write, "status": 500, "after_apply": True, "skip": 1},
            ),
            ("plex drop after applying", "plex", {**plex_write, "drop": True, "after_apply": True}),
        ]
    return cases


def run_scenario(env: SyncEnv, tmp_path: Path, feature: str, mode: str) -> None:
    two_way = mode == "two-way"
    small_library(env, feature)
    env.pairs(env.pair(PAIR, mode=mode, features=[feature]), sync={"history_tolerance_s": TOLERANCE})
    name = f"sync {mode} {feature}"
    scenario = Scenario(env, name, ["sync", "run", PAIR, "--json"], tmp_path)
    scenario.freeze()
    p0, t0 = views(env, feature)

    def check(case: str) -> None:
        problems = complete(env)
        p1, t1 = views(env, feature)
        if feature == "history":
            problems += history_violations(
                p0, t0, p1, t1, two_way=two_way, tolerance=TOLERANCE, started=scenario.started
            )
        elif feature == "progress":
            problems += progress_violations(p0, t0, p1, t1, two_way=two_way)
        else:
            problems += titles_violations(feature, p0, t0, p1, t1, two_way=two_way)
        problems += state_files_valid(scenario.folder)
        assert scenario.snapshot is not None
        problems += outside_untouched(scenario.folder, scenario.snapshot.folder)
        record(name, case, problems)

    points = scenario.boundaries()
    assert any(p.startswith("http.write.") for p in points), f"{name}: the run wrote nothing: {points}"
    chosen = choose(points, name)
    for i, point in enumerate(chosen):
        signal = "TERM" if i % 4 == 3 else "KILL"  # every fourth: a clean stop (systemctl stop)
        scenario.restore()
        scenario.crash(point, signal)
        check(f"{signal} at {point}")
    emulators_by_name: dict[str, Callable[[dict[str, Any]], None]] = {
        "plex": lambda fault: env.emu.plex.faults.add(fault),
        "trakt": lambda fault: env.emu.trakt.faults.add(fault),
    }
    for label, emulator, fault in emulator_faults(feature, two_way):
        scenario.restore()
        emulators_by_name[emulator](dict(fault))
        first = scenario.run()
        assert "Traceback" not in first.stderr, first.stderr
        for emu in (env.emu.plex, env.emu.trakt):
            emu.faults.pending.clear()
        check(label)


@pytest.mark.parametrize("mode", ["one-way", "two-way"])
@pytest.mark.parametrize("feature", ["watchlist", "ratings", "history", "progress"])
def test_a_pair_stopped_at_any_write_converges_with_nothing_lost_or_invented(
    sync_env: SyncEnv, tmp_path: Path, feature: str, mode: str
) -> None:
    from tests.faults.harness import RESULTS

    before = len(RESULTS.violations)
    run_scenario(sync_env, tmp_path, feature, mode)
    found = RESULTS.violations[before:]
    assert not found, "\n".join(found[:20])
