"""Destructive tools stopped at every write boundary: ``capture restore --mode clear`` and ``tools clear``.

Each scenario takes a capture, lets a person change the provider, then runs the tool, stopped
(``SIGKILL``; ``SIGTERM`` for every fourth case) at each chosen boundary and run again to
completion. Invariants: the provider ends exactly as the tool promises (the capture's items; an
empty feature), nothing it held before is lost (each item is still there or in a safety capture
taken before it was removed), no play is duplicated, every state file is valid, nothing outside
``snapshots/`` is touched, and, with a daemon running, its listeners' pause is lifted.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from crosswatch.captures.store import CaptureStore
from crosswatch.model import Item, item_key
from tests.daemon_proc import DaemonProcess
from tests.faults.harness import Scenario, choose, outside_untouched, record, state_files_valid
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401

pytestmark = pytest.mark.slow


def keyed(items: list[Item]) -> Counter[str]:
    """Items as a person compares them: which title (and play time), with its rating."""
    return Counter(f"{item_key(i)}={i.rating}" if i.rating is not None else item_key(i) for i in items)


def capture(env: SyncEnv, provider: str, feature: str, label: str) -> str:
    rows = env.cw.json("capture", "create", "--provider", provider, "--feature", feature, "--label", label, "--json")
    return str(rows[0]["path"])


def items_of(folder: Path, rel: str) -> list[Item]:
    return list(CaptureStore(folder).load(rel).items)


def safety_items(folder: Path, since: set[str]) -> Counter[str]:
    """The items of every safety capture made since the snapshot (names not in ``since``)."""
    store = CaptureStore(folder)
    found: Counter[str] = Counter()
    for ref in store.refs():
        if ref.rel in since or ref.header is None or ref.header.type != "safety" or ref.is_bundle:
            continue
        found |= keyed(list(store.load(ref.path).items))
    return found


def person_changes(env: SyncEnv, provider: str, feature: str) -> None:
    """A person's edits since the capture: half the entries gone, and (ratings) the rest re-rated."""
    if provider == "trakt":
        key = {"ratings": "ratings", "history": "history", "watchlist": "watchlist"}[feature]

        def trakt(state: dict[str, Any]) -> None:
            kept = state[key][::2]
            if feature == "ratings":
                for entry in kept:
                    entry["rating"] = 11 - entry["rating"] if entry["rating"] != 5 else 6
            state[key] = kept

        env.edit_trakt(trakt)
    else:

        def plex(user: dict[str, Any]) -> None:
            kept = user["ratings"][::2]
            for entry in kept:
                entry["rating"] = 11.0 - entry["rating"] if entry["rating"] != 5 else 6.0
            user["ratings"] = kept

        env.edit_plex(plex)


def trim(env: SyncEnv, n: int = 10) -> None:
    """A small library: each feature of each side keeps ``n`` entries with external ids."""
    env.keep_only_titles_with_ids()

    def plex(user: dict[str, Any]) -> None:
        for name in ("watchlist", "ratings", "plays", "progress"):
            user[name] = user[name][:n]
        user["marked_watched"] = []

    def trakt(state: dict[str, Any]) -> None:
        for name in ("watchlist", "ratings", "history", "playback"):
            state[name] = state[name][:n]
        state["collection"] = []

    env.edit_plex(plex)
    env.edit_trakt(trakt)


def emulator_faults(env: SyncEnv, provider: str) -> list[tuple[str, Callable[[], None]]]:
    """(name, arm) cases: each arms a fault on the provider's next writes."""
    emu = env.emu.trakt if provider == "trakt" else env.emu.plex
    write = {"method": "POST", "path": "/sync/*"} if provider == "trakt" else {"path": "/:/*"}
    faults = [
        ("500 after applying", {**write, "status": 500, "after_apply": True}),
        ("drop after applying the 2nd", {**write, "drop": True, "after_apply": True, "skip": 1}),
        ("503 twice", {**write, "status": 503, "times": 2}),
    ]
    return [(f"{provider} {name}", lambda fault=fault: emu.faults.add(dict(fault))) for name, fault in faults]


def loop(
    scenario: Scenario,
    check: Callable[[], list[str]],
    complete: Callable[[], None],
    between: Callable[[], None] = lambda: None,
    faults: Sequence[tuple[str, Callable[[], None]]] = (),
) -> None:
    points = scenario.boundaries()
    assert any(p.startswith("http.write.") for p in points), f"{scenario.name}: no provider write: {points}"
    for i, point in enumerate(choose(points, scenario.name)):
        signal = "TERM" if i % 4 == 3 else "KILL"
        scenario.restore()
        between()
        scenario.crash(point, signal)
        complete()
        record(scenario.name, f"{signal} at {point}", check())
    for name, arm in faults:
        scenario.restore()
        between()
        arm()
        first = scenario.run()
        assert "Traceback" not in first.stderr, first.stderr
        scenario.env.reset_knobs(scenario.env.emu.plex.settings.to_json(), scenario.env.emu.trakt.settings.to_json())
        complete()
        record(scenario.name, name, check())


@pytest.mark.parametrize(("provider", "feature"), [("trakt", "history"), ("trakt", "ratings"), ("plex", "ratings")])
def test_a_clear_mode_restore_stopped_anywhere_ends_as_the_capture_and_loses_nothing(
    sync_env: SyncEnv, tmp_path: Path, provider: str, feature: str
) -> None:
    env = sync_env
    trim(env)
    rel = capture(env, provider, feature, "good")
    person_changes(env, provider, feature)
    before = capture(env, provider, feature, "before")  # what the restore is about to clear
    folder = env.cw.folder
    wanted, held = keyed(items_of(folder, rel)), keyed(items_of(folder, before))
    assert wanted != held
    command = ["capture", "restore", rel, "--mode", "clear", "--yes", "--json"]
    scenario = Scenario(env, f"restore clear {provider} {feature}", command, tmp_path)
    snapshot = scenario.freeze()
    known = {ref.rel for ref in CaptureStore(folder).refs()}

    def complete() -> None:
        result = env.cli(*command)
        assert result.code == 0, result.err + result.out

    def check() -> list[str]:
        problems = []
        now = keyed(items_of(folder, capture(env, provider, feature, "after")))
        if now != wanted:
            problems.append(f"the provider holds {sorted((now - wanted) | (wanted - now))[:5]} beyond the capture")
        lost = held - now - safety_items(folder, known)
        if lost:
            problems.append(f"items cleared without a safety capture: {sorted(lost)[:5]}")
        return problems + state_files_valid(folder) + outside_untouched(folder, snapshot.folder)

    loop(scenario, check, complete, faults=emulator_faults(env, provider))


@pytest.mark.parametrize(("provider", "feature"), [("trakt", "watchlist"), ("plex", "ratings")])
def test_tools_clear_stopped_anywhere_ends_empty_loses_nothing_and_lifts_the_daemons_pause(
    sync_env: SyncEnv, tmp_path: Path, provider: str, feature: str
) -> None:
    env = sync_env
    trim(env)
    folder = env.cw.folder
    held = keyed(items_of(folder, capture(env, provider, feature, "before")))
    assert held
    # a daemon runs beside the tool: its listeners must never stay paused after a kill
    env.cw.configure({"daemon": {"listen": "127.0.0.1:0", "guard_lease_s": 2.0}, "scrobble": {"resume_quiet_s": 0.2}})
    command = ["tools", "clear", "--provider", provider, "--feature", feature, "--yes", "--json"]
    scenario = Scenario(env, f"tools clear {provider} {feature}", command, tmp_path)
    snapshot = scenario.freeze()
    known = {ref.rel for ref in CaptureStore(folder).refs()}
    daemon: list[DaemonProcess] = []

    def start_daemon() -> None:
        daemon.append(DaemonProcess(folder))
        daemon[-1].wait_for("daemon.ready", timeout=30)

    def stop_daemon() -> None:
        while daemon:
            assert daemon.pop().stop(timeout=30) == 0

    def guard_lifted() -> list[str]:
        deadline = time.monotonic() + 30
        while (paused := daemon[-1].health()["guard"]["paused"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        return [f"the daemon's listeners are still paused: {json.dumps(paused)}"] if paused else []

    def complete() -> None:
        result = env.cli(*command)
        assert result.code == 0, result.err + result.out

    def check() -> list[str]:
        problems = guard_lifted()
        now = keyed(items_of(folder, capture(env, provider, feature, "after")))
        if now:
            problems.append(f"the feature is not empty after the clear: {sorted(now)[:5]}")
        lost = held - safety_items(folder, known)
        if lost:
            problems.append(f"items cleared without a safety capture: {sorted(lost)[:5]}")
        stop_daemon()
        return problems + state_files_valid(folder) + outside_untouched(folder, snapshot.folder)

    try:
        loop(scenario, check, complete, between=start_daemon, faults=emulator_faults(env, provider))
    finally:
        stop_daemon()
