"""Plays crosswatch writes to Trakt are carried into its history index without ids that are not Trakt's.

Seen through the fault suite: a capture's plays keep the Trakt history ids they had when the
capture was made. A clear-mode restore removes the plays and sends the capture's plays again
(Trakt gives them new ids), and the index took the capture's plays with their old ids; a later
removal by those ids found nothing ("play not on Trakt") and every play stayed.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.capture_env are arguments here)
from __future__ import annotations

import json

from tests.capture_env import CwEnv
from tests.faults.test_sync_faults import small_library
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401


def test_plays_restored_to_trakt_can_be_removed_afterwards(cw_env: CwEnv) -> None:
    env = cw_env
    made = env.json("capture", "create", "--provider", "trakt", "--feature", "history", "--label", "all", "--json")
    plays = len(env.trakt_state()["history"])
    assert plays > 10

    restored = env.json("capture", "restore", made[0]["path"], "--mode", "clear", "--yes", "--json")
    assert not restored["features"][0]["failed"]
    assert len(env.trakt_state()["history"]) == plays

    code, out, err = env.cli("tools", "clear", "--provider", "trakt", "--feature", "history", "--yes", "--json")

    report = json.loads(out)
    assert report["failed"] == [], report["failed"][:3]
    assert code == 0, err
    assert env.trakt_state()["history"] == []


def test_a_removal_whose_answer_was_lost_is_not_carried_over_into_the_index(sync_env: SyncEnv) -> None:
    """Seen through the fault suite: Trakt applied a restore's removal and answered 500; the retry found
    nothing ("play not on Trakt"), the adds were then carried into an index that still held the removed
    plays, and the next run tried to remove plays that were gone."""
    env = sync_env
    small_library(env, "history")
    made = env.cw.json("capture", "create", "--provider", "trakt", "--feature", "history", "--json")
    env.edit_trakt(lambda state: state.update(history=state["history"][::2]))
    env.cw.json("capture", "create", "--provider", "trakt", "--feature", "history", "--json")
    plays = env.trakt_view("history")
    env.emu.trakt.faults.add({"method": "POST", "path": "/sync/*", "status": 500, "after_apply": True})
    env.cli("capture", "restore", made[0]["path"], "--mode", "clear", "--yes", "--json")

    code, out, err = env.cli("capture", "restore", made[0]["path"], "--mode", "clear", "--yes", "--json")

    assert code == 0, err + out
    assert [f for feature in json.loads(out)["features"] for f in feature["failed"]] == []
    assert sum(env.trakt_view("history").values()) > sum(plays.values())
