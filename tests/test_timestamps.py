"""One rule for a timestamp without a zone: it is UTC, in the planner and in the Trakt adapter alike."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from crosswatch.model import Item, MediaType, epoch_seconds
from crosswatch.sync.diff import Side, plan_plays
from crosswatch_trakt.writes import epoch as trakt_epoch
from tests.test_sync_plan import PLEX, TRAKT


@pytest.fixture
def host_in_new_york() -> Iterator[None]:
    """The host's local zone is five hours behind UTC for the test."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def play(stamp: str) -> Item:
    return Item(type=MediaType.MOVIE, ids={"imdb": "tt0113277"}, title="Heat", year=1995, watched_at=stamp)


def test_a_zoneless_time_is_utc_whatever_the_host_zone(host_in_new_york: None) -> None:
    assert epoch_seconds("2024-03-01T20:00:00") == epoch_seconds("2024-03-01T20:00:00Z")
    assert trakt_epoch("2024-03-01T20:00:00") == int(epoch_seconds("2024-03-01T20:00:00.000Z") or 0)


def test_a_zoneless_play_and_its_utc_copy_are_one_play_to_the_planner(host_in_new_york: None) -> None:
    # a provider that writes times without a zone, and Trakt's copy of the same play
    source = Side(PLEX, [play("2024-03-01T20:00:00")], None)
    target = Side(TRAKT, [play("2024-03-01T20:00:00.000Z")], None)

    changes = plan_plays(source, target, tolerance=60, add=True, remove=False, echoes=[])

    assert changes.add == [], "the same play, read in another zone, would be sent again"


def test_unreadable_and_missing_times_are_none() -> None:
    assert epoch_seconds(None) is None
    assert epoch_seconds("") is None
    assert epoch_seconds("yesterday") is None
    assert trakt_epoch("yesterday") is None
