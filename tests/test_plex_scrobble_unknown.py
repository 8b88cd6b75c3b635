"""A Plex scrobble whose answer is lost is never sent again: each scrobble Plex applies is one more play.

Seen through the fault suite: a 500 (or a dropped connection) after Plex applied ``/:/scrobble``
was retried like a read, and the title got two plays for one.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

from collections import Counter

import pytest

from tests.faults.test_sync_faults import small_library
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401


@pytest.mark.parametrize("fault", [{"status": 500}, {"drop": True}])
def test_a_lost_scrobble_answer_leaves_one_play_and_the_next_run_adds_none(
    sync_env: SyncEnv, fault: dict[str, object]
) -> None:
    env = sync_env
    small_library(env, "history")
    env.pairs(env.pair("t2p", source="trakt", target="plex", features=["history"]))
    owed = {
        k for k, _ in Counter((kind, trakt) for kind, trakt, _ in env.trakt_view("history"))
    } - env.plex_titles_played()
    assert owed
    env.emu.plex.faults.add({"path": "/:/scrobble", "after_apply": True, **fault})

    first = env.run("t2p", code=None)
    second = env.run("t2p")

    played = Counter((kind, trakt) for kind, trakt, _ in env.plex_view("history"))
    assert {title: n for title, n in played.items() if title in owed and n != 1} == {}
    assert not first["ok"]  # the lost answer is reported as a failed write
    assert not [row for row in second["summary"] if row["target"] == "PLEX" and row["added"]]
