"""The sync planner and its guards, pure: what a pair would add, update and remove (no HTTP).

Two small providers stand in for the real ones: ``TRAKT`` keeps the ``watched_at`` it is
given, ``PLEX`` records a written play at "now" (``keeps_watched_at=False``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from crosswatch.config import CONFIG_FILE, Config, load_config
from crosswatch.config.schema import SyncConfig
from crosswatch.model import Feature, Item, MediaType
from crosswatch.plugins import PluginHost
from crosswatch.profiles import Profile
from crosswatch.provider import FeatureSupport, ProviderRegistry, ProviderSpec
from crosswatch.sync.baseline import Baseline, Echo
from crosswatch.sync.diff import (
    Changes,
    Side,
    epoch,
    plan_feature,
    plan_plays,
    plan_progress,
    plan_titles,
)
from crosswatch.sync.engine import Options, PairState, make_plans
from crosswatch.sync.pairs import Pair, resolve_pairs
from crosswatch.sync.safety_rules import removal_refusal, shrink_refusal

TOL = 120.0
T0 = datetime(2024, 3, 1, 20, 0, tzinfo=UTC)


def _never_built(ctx: Any) -> Any:
    raise AssertionError("the planner must never build a provider")


def spec(provider_id: str, *, keeps: bool = True, **overrides: FeatureSupport) -> ProviderSpec:
    features = {f: FeatureSupport() for f in Feature}
    if not keeps:
        features[Feature.HISTORY] = FeatureSupport(keeps_watched_at=False)
    features.update({Feature(k): v for k, v in overrides.items()})
    return ProviderSpec(provider_id, _never_built, features)


TRAKT = Profile(spec("TRAKT"), "default", None)
PLEX = Profile(spec("PLEX", keeps=False), "default", None)
OTHER = Profile(spec("TRAKT", keeps=True), "work", None)  # TRAKT.work: another keeps-watched_at side


def at(seconds: float = 0) -> str:
    """An ISO time ``seconds`` after T0, as Plex and Trakt write it (UTC, ``Z``)."""
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def movie(imdb: str | None = None, tmdb: str | None = None, title: str = "Heat", **fields: Any) -> Item:
    ids = {k: v for k, v in (("imdb", imdb), ("tmdb", tmdb)) if v}
    return Item(type=MediaType.MOVIE, ids=ids, title=title, year=1995, **fields)


def episode(
    show_ids: dict[str, str], season: int, number: int, ids: dict[str, str] | None = None, **fields: Any
) -> Item:
    return Item(
        type=MediaType.EPISODE,
        ids=ids or {},
        show_ids=show_ids,
        show_title="Show",
        season=season,
        episode=number,
        **fields,
    )


def when(item: Item) -> float:
    value = epoch(item.watched_at)
    assert value is not None
    return value


def one(changes: list[Changes], source: str, target: str) -> Changes:
    found = [c for c in changes if (c.source, c.target) == (source, target)]
    assert len(found) == 1, f"expected one {source}->{target} Changes, got {changes}"
    return found[0]


# -- watchlist: matching ---------------------------------------------------------------------


def test_watchlist_title_is_found_by_any_shared_strong_id() -> None:
    # PLEX knows only the imdb id, TRAKT has tmdb + imdb: one title, nothing to add either way
    a = Side(PLEX, [movie(imdb="tt0113277")], None)
    b = Side(TRAKT, [movie(imdb="tt0113277", tmdb="949")], None)

    forward, back = plan_titles(Feature.WATCHLIST, a, b, two_way=True, add=True, remove=False)

    assert forward.empty and back.empty


def test_watchlist_title_missing_on_the_target_is_added() -> None:
    heat, alien = movie(imdb="tt0113277"), movie(imdb="tt0078748", title="Alien")
    a = Side(PLEX, [heat, alien], None)
    b = Side(TRAKT, [movie(imdb="tt0113277", tmdb="949")], None)

    [forward] = plan_titles(Feature.WATCHLIST, a, b, two_way=False, add=True, remove=False)

    assert forward.add == [alien] and not forward.remove and not forward.update


def test_watchlist_never_matches_by_title_only() -> None:
    # the same title and year with different ids (a remake, a wrong match) are two titles
    a = Side(PLEX, [movie(imdb="tt0113277", title="Heat")], None)
    b = Side(TRAKT, [movie(tmdb="949", imdb="tt9999999", title="Heat")], None)

    forward, back = plan_titles(Feature.WATCHLIST, a, b, two_way=True, add=True, remove=False)

    assert forward.add == a.items and back.add == b.items


def test_watchlist_same_id_number_of_a_movie_and_a_show_are_different_titles() -> None:
    # tmdb numbers movies and shows separately: tmdb 1399 the movie is not tmdb 1399 the show
    show = Item(type=MediaType.SHOW, ids={"tmdb": "1399"}, title="Thrones")
    film = Item(type=MediaType.MOVIE, ids={"tmdb": "1399"}, title="Other")
    a = Side(PLEX, [show], None)
    b = Side(TRAKT, [film], None)

    [forward] = plan_titles(Feature.WATCHLIST, a, b, two_way=False, add=True, remove=False)

    assert forward.add == [show]


def test_add_false_adds_nothing() -> None:
    a = Side(PLEX, [movie(imdb="tt1")], None)
    b = Side(TRAKT, [movie(imdb="tt2")], None)

    changes = plan_titles(Feature.WATCHLIST, a, b, two_way=True, add=False, remove=True)

    assert all(c.empty for c in changes)


def test_one_way_never_writes_the_source() -> None:
    a = Side(PLEX, [movie(imdb="tt1")], [movie(imdb="tt1")])
    b = Side(TRAKT, [movie(imdb="tt2", title="Only on Trakt")], [movie(imdb="tt1")])

    changes = plan_feature(Feature.WATCHLIST, a, b, two_way=False, add=True, remove=True, tolerance=TOL, baseline=None)

    assert [(c.source, c.target) for c in changes] == [("PLEX", "TRAKT")]


# -- ratings ---------------------------------------------------------------------------------


def test_one_way_rating_that_differs_is_updated_with_the_sources() -> None:
    mine = movie(imdb="tt1", rating=9, rated_at=at(0))
    theirs = movie(imdb="tt1", tmdb="5", rating=6, rated_at=at(3600))  # newer, but one-way: the source wins
    a, b = Side(PLEX, [mine], None), Side(TRAKT, [theirs], None)

    [forward] = plan_titles(Feature.RATINGS, a, b, two_way=False, add=True, remove=False)

    assert forward.update == [mine] and not forward.add


def test_same_rating_is_no_update() -> None:
    a = Side(PLEX, [movie(imdb="tt1", rating=7, rated_at=at(0))], None)
    b = Side(TRAKT, [movie(imdb="tt1", rating=7, rated_at=at(99))], None)

    changes = plan_titles(Feature.RATINGS, a, b, two_way=True, add=True, remove=False)

    assert all(c.empty for c in changes)


@pytest.mark.parametrize("newer", ["PLEX", "TRAKT"])
def test_two_way_newer_rated_at_wins(newer: str) -> None:
    plex_item = movie(imdb="tt1", rating=8, rated_at=at(3600 if newer == "PLEX" else 0))
    trakt_item = movie(imdb="tt1", rating=5, rated_at=at(3600 if newer == "TRAKT" else 0))
    a, b = Side(PLEX, [plex_item], None), Side(TRAKT, [trakt_item], None)

    forward, back = plan_titles(Feature.RATINGS, a, b, two_way=True, add=True, remove=False)

    if newer == "PLEX":
        assert forward.update == [plex_item] and back.empty
    else:
        assert back.update == [trakt_item] and forward.empty


@pytest.mark.parametrize("changed", ["PLEX", "TRAKT"])
def test_two_way_without_rated_at_the_side_that_changed_since_the_baseline_wins(changed: str) -> None:
    old = movie(imdb="tt1", rating=6)
    plex_item = movie(imdb="tt1", rating=9 if changed == "PLEX" else 6)
    trakt_item = movie(imdb="tt1", rating=3 if changed == "TRAKT" else 6)
    a, b = Side(PLEX, [plex_item], [old]), Side(TRAKT, [trakt_item], [old])

    forward, back = plan_titles(Feature.RATINGS, a, b, two_way=True, add=True, remove=False)

    if changed == "PLEX":
        assert forward.update == [plex_item] and back.empty
    else:
        assert back.update == [trakt_item] and forward.empty


def test_two_way_rating_changed_on_both_sides_without_times_is_skipped_as_a_conflict() -> None:
    old = movie(imdb="tt1", rating=6)
    plex_item, trakt_item = movie(imdb="tt1", rating=9), movie(imdb="tt1", rating=3)
    a, b = Side(PLEX, [plex_item], [old]), Side(TRAKT, [trakt_item], [old])

    forward, back = plan_titles(Feature.RATINGS, a, b, two_way=True, add=True, remove=False)

    assert forward.empty and back.empty
    [(item, why)] = forward.skipped
    assert item == plex_item and "9" in why and "3" in why and "TRAKT" in why


def test_two_way_rating_conflict_without_a_baseline_is_skipped() -> None:
    a = Side(PLEX, [movie(imdb="tt1", rating=9)], None)
    b = Side(TRAKT, [movie(imdb="tt1", rating=3)], None)

    forward, back = plan_titles(Feature.RATINGS, a, b, two_way=True, add=True, remove=False)

    assert forward.empty and back.empty and len(forward.skipped) == 1


# -- removals of titles ----------------------------------------------------------------------


def test_title_gone_from_the_source_since_the_baseline_is_removed_from_the_target() -> None:
    heat, alien = movie(imdb="tt1"), movie(imdb="tt2", title="Alien")
    a = Side(PLEX, [heat], [heat, alien])
    b = Side(TRAKT, [heat, alien], [heat, alien])

    [forward] = plan_titles(Feature.WATCHLIST, a, b, two_way=False, add=True, remove=True)

    assert forward.remove == [alien] and not forward.add


def test_title_never_on_the_source_is_not_removed_from_the_target() -> None:
    heat, alien = movie(imdb="tt1"), movie(imdb="tt2", title="Alien")
    a = Side(PLEX, [heat], [heat])  # alien was never on PLEX
    b = Side(TRAKT, [heat, alien], [heat, alien])

    [forward] = plan_titles(Feature.WATCHLIST, a, b, two_way=False, add=True, remove=True)

    assert forward.empty


def test_no_removal_without_a_baseline() -> None:
    heat, alien = movie(imdb="tt1"), movie(imdb="tt2", title="Alien")
    a = Side(PLEX, [heat], None)
    b = Side(TRAKT, [heat, alien], [heat, alien])

    changes = plan_titles(Feature.WATCHLIST, a, b, two_way=True, add=True, remove=True)

    assert all(not c.remove for c in changes)
    assert one(changes, "TRAKT", "PLEX").add == [alien]  # two-way without a baseline: it is new to PLEX


def test_removal_is_judged_by_the_baseline_of_the_side_it_vanished_from() -> None:
    # TRAKT's baseline held alien, PLEX's did not: alien missing on PLEX is not a removal there
    heat, alien = movie(imdb="tt1"), movie(imdb="tt2", title="Alien")
    a = Side(PLEX, [heat], [heat])
    b = Side(TRAKT, [heat, alien], [heat, alien])

    forward, back = plan_titles(Feature.WATCHLIST, a, b, two_way=True, add=True, remove=True)

    assert not forward.remove and back.add == [alien]


@pytest.mark.parametrize("gone_from", ["PLEX", "TRAKT"])
def test_two_way_removal_on_either_side_is_propagated(gone_from: str) -> None:
    heat, alien = movie(imdb="tt1"), movie(imdb="tt2", title="Alien")
    both = [heat, alien]
    a = Side(PLEX, [heat] if gone_from == "PLEX" else both, both)
    b = Side(TRAKT, [heat] if gone_from == "TRAKT" else both, both)

    forward, back = plan_titles(Feature.WATCHLIST, a, b, two_way=True, add=True, remove=True)

    toward_gone_side, other = (back, forward) if gone_from == "PLEX" else (forward, back)
    assert not toward_gone_side.remove and not toward_gone_side.add
    assert other.remove == [alien] and not other.add


@pytest.mark.parametrize("gone_from", ["PLEX", "TRAKT"])
def test_two_way_with_remove_false_neither_removes_nor_re_adds_a_deleted_title(gone_from: str) -> None:
    heat, alien = movie(imdb="tt1"), movie(imdb="tt2", title="Alien")
    both = [heat, alien]
    a = Side(PLEX, [heat] if gone_from == "PLEX" else both, both)
    b = Side(TRAKT, [heat] if gone_from == "TRAKT" else both, both)

    changes = plan_titles(Feature.WATCHLIST, a, b, two_way=True, add=True, remove=False)

    assert all(c.empty for c in changes)
    skipped = [(item, why) for c in changes for item, why in c.skipped]
    assert [item for item, _ in skipped] == [alien]
    assert f"removed on {gone_from}" in skipped[0][1]


def test_one_way_re_adds_a_title_removed_on_the_target_while_the_source_still_has_it() -> None:
    heat, alien = movie(imdb="tt1"), movie(imdb="tt2", title="Alien")
    a = Side(PLEX, [heat, alien], [heat, alien])
    b = Side(TRAKT, [heat], [heat, alien])

    [forward] = plan_titles(Feature.WATCHLIST, a, b, two_way=False, add=True, remove=True)

    assert forward.add == [alien] and not forward.remove and not forward.skipped


def test_rating_removed_on_the_source_is_removed_from_the_target() -> None:
    rated = movie(imdb="tt1", rating=8)
    a = Side(PLEX, [], [rated])
    b = Side(TRAKT, [rated], [rated])

    [forward] = plan_titles(Feature.RATINGS, a, b, two_way=False, add=True, remove=True)

    assert forward.remove == [rated]


# -- history: adds ---------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [TOL - 5, -(TOL - 5)])
def test_play_within_tolerance_of_a_target_play_is_not_added(offset: float) -> None:
    src = Side(PLEX, [movie(imdb="tt1", watched_at=at(0))], None)
    dst = Side(TRAKT, [movie(imdb="tt1", tmdb="9", watched_at=at(offset))], None)

    changes = plan_plays(src, dst, TOL, add=True, remove=False, echoes=[])

    assert changes.empty


def test_play_beyond_tolerance_of_every_target_play_is_added() -> None:
    play = movie(imdb="tt1", watched_at=at(0))
    src = Side(PLEX, [play], None)
    dst = Side(TRAKT, [movie(imdb="tt1", watched_at=at(TOL + 5)), movie(imdb="tt1", watched_at=at(-TOL - 5))], None)

    changes = plan_plays(src, dst, TOL, add=True, remove=False, echoes=[])

    assert changes.add == [play]


def test_each_target_play_matches_one_source_play_only() -> None:
    # two plays 10 s apart on the source, one near them on the target: one of them is new
    first, second = movie(imdb="tt1", watched_at=at(0)), movie(imdb="tt1", watched_at=at(10))
    src = Side(TRAKT, [second, first], None)
    dst = Side(OTHER, [movie(imdb="tt1", watched_at=at(5))], None)

    changes = plan_plays(src, dst, TOL, add=True, remove=False, echoes=[])

    assert len(changes.add) == 1 and changes.add[0] in (first, second)


def test_target_plays_of_one_title_read_with_different_ids_are_one_title() -> None:
    plays = [movie(imdb="tt1", watched_at=at(0)), movie(imdb="tt1", watched_at=at(86_400))]
    src = Side(PLEX, plays, None)
    dst = Side(TRAKT, [movie(tmdb="949", watched_at=at(0)), movie(imdb="tt1", tmdb="949", watched_at=at(86_400))], None)

    assert plan_plays(src, dst, TOL, add=True, remove=False, echoes=[]).empty


def test_plays_of_another_title_do_not_count() -> None:
    play = movie(imdb="tt1", watched_at=at(0))
    src = Side(PLEX, [play], None)
    dst = Side(TRAKT, [movie(imdb="tt2", title="Alien", watched_at=at(0))], None)

    assert plan_plays(src, dst, TOL, add=True, remove=False, echoes=[]).add == [play]


def test_play_without_a_date_is_skipped_with_a_reason() -> None:
    undated, dated = movie(imdb="tt1"), movie(imdb="tt2", title="Alien", watched_at=at(0))
    src = Side(PLEX, [undated, dated], None)
    dst = Side(TRAKT, [], None)

    changes = plan_plays(src, dst, TOL, add=True, remove=False, echoes=[])

    assert changes.add == [dated]
    [(item, why)] = changes.skipped
    assert item == undated and "date" in why


def test_new_titles_duplicate_rows_in_the_same_second_are_sent_once() -> None:
    rows = [
        movie(imdb="tt1", watched_at=at(0)),
        movie(imdb="tt1", watched_at=at(0)),
        movie(imdb="tt1", watched_at=at(600)),
    ]
    src = Side(PLEX, rows, None)
    dst = Side(TRAKT, [], None)

    changes = plan_plays(src, dst, TOL, add=True, remove=False, echoes=[])

    assert sorted(when(p) for p in changes.add) == [T0.timestamp(), T0.timestamp() + 600]


def test_duplicate_rows_of_a_play_the_target_already_holds_are_not_sent_again() -> None:
    # the first run sent the two rows of one play once (test above); the next run must not
    # send the second row now that the title is on the target
    rows = [movie(imdb="tt1", watched_at=at(0)), movie(imdb="tt1", watched_at=at(0))]
    src = Side(PLEX, rows, rows)
    dst = Side(TRAKT, [movie(imdb="tt1", watched_at=at(0))], [movie(imdb="tt1", watched_at=at(0))])

    changes = plan_plays(src, dst, TOL, add=True, remove=False, echoes=[])

    assert changes.add == [], "the second row of one play was sent again: a duplicate play on the target"


def test_plex_like_target_gets_the_newest_play_of_each_title_it_has_none_of() -> None:
    old, newest, middle = (movie(imdb="tt1", watched_at=at(s)) for s in (0, 86_400 * 3, 86_400))
    other = movie(imdb="tt2", title="Alien", watched_at=at(50))
    src = Side(TRAKT, [old, newest, middle, other], None)
    dst = Side(PLEX, [], None)

    changes = plan_plays(src, dst, TOL, add=True, remove=False, echoes=[])

    assert sorted(changes.add, key=lambda p: p.title or "") == [other, newest]


def test_plex_like_target_gets_nothing_for_a_title_it_already_has_a_play_of() -> None:
    # its play is far from every source play (it was recorded at "now"): the title is watched there
    src = Side(TRAKT, [movie(imdb="tt1", watched_at=at(0)), movie(imdb="tt1", watched_at=at(86_400))], None)
    dst = Side(PLEX, [movie(imdb="tt1", watched_at=at(5 * 86_400))], None)

    assert plan_plays(src, dst, TOL, add=True, remove=False, echoes=[]).empty


def test_plex_like_target_does_not_get_back_a_play_the_last_run_wrote_there_and_a_person_deleted() -> None:
    # the last run wrote Heat to PLEX (dated "now" there, so kept apart from the baseline's items)
    heat, alien = movie(imdb="tt1", watched_at=at(0)), movie(imdb="tt2", title="Alien", watched_at=at(50))
    src = Side(TRAKT, [heat, alien], [heat, alien])

    deleted = plan_plays(src, Side(PLEX, [], [], sent_now=[heat]), TOL, add=True, remove=True, echoes=[])
    assert deleted.add == [alien] and deleted.remove == []
    assert deleted.skipped == [(heat, "deleted on PLEX since the last sync")]
    # still there: nothing to do for it; a keeps-watched_at target goes by its plays' times instead
    there = Side(PLEX, [movie(imdb="tt1", watched_at=at(9 * 86_400))], [], sent_now=[heat])
    assert plan_plays(src, there, TOL, add=True, remove=True, echoes=[]).add == [alien]
    assert plan_plays(src, Side(OTHER, [], [], sent_now=[heat]), TOL, add=True, remove=True, echoes=[]).add == [
        heat,
        alien,
    ]


def test_a_play_crosswatch_wrote_to_plex_and_a_person_deleted_there_removes_the_one_it_was_copied_from() -> None:
    heat, alien = movie(imdb="tt1", watched_at=at(0)), movie(imdb="tt2", title="Alien", watched_at=at(50))
    trakt = Side(TRAKT, [heat, alien], [heat, alien])
    written = T0.timestamp() + 10 * 86_400
    echo = movie(imdb="tt1", watched_at=at(10 * 86_400 + 20))  # PLEX's record of crosswatch's write
    echoes = [Echo(side="PLEX", item=heat, at=written)]
    # a later run read it back (it is in PLEX's baseline as an echo), then it was deleted there
    read_back = Side(PLEX, [], [echo])
    assert plan_plays(read_back, trakt, TOL, add=True, remove=True, echoes=echoes).remove == [heat]
    assert plan_plays(read_back, trakt, TOL, add=True, remove=False, echoes=echoes).remove == []
    # without the record, its date matches no play of the target: nothing is removed
    assert plan_plays(read_back, trakt, TOL, add=True, remove=True, echoes=[]).remove == []
    # deleted before any read showed it: the last run's write stands for it the same way
    unseen = Side(PLEX, [], [], sent_now=[heat])
    assert plan_plays(unseen, trakt, TOL, add=True, remove=True, echoes=[]).remove == [heat]
    still = Side(PLEX, [movie(imdb="tt1", watched_at=at(10 * 86_400 + 20))], [], sent_now=[heat])
    assert plan_plays(still, trakt, TOL, add=True, remove=True, echoes=[]).remove == []


def test_keeps_watched_at_target_gets_every_missing_play() -> None:
    plays = [movie(imdb="tt1", watched_at=at(s)) for s in (0, 86_400, 2 * 86_400)]
    src = Side(PLEX, plays, None)
    dst = Side(TRAKT, [movie(imdb="tt1", watched_at=at(86_400 + 30))], None)

    changes = plan_plays(src, dst, TOL, add=True, remove=False, echoes=[])

    assert sorted(when(p) for p in changes.add) == [T0.timestamp(), T0.timestamp() + 2 * 86_400]


def test_play_dated_before_crosswatchs_write_is_not_taken_for_its_echo() -> None:
    earlier = movie(imdb="tt1", watched_at=at(-600))  # ten minutes before crosswatch wrote the title
    src = Side(PLEX, [earlier], None)
    dst = Side(TRAKT, [], None)

    echoes = [Echo(side="PLEX", item=movie(imdb="tt1"), at=T0.timestamp())]
    assert plan_plays(src, dst, TOL, add=True, remove=False, echoes=echoes).add == [earlier]


def test_plex_echo_is_not_sent_back_but_a_real_later_play_is() -> None:
    heat = movie(imdb="tt1")
    written = T0.timestamp() + 10 * 86_400  # crosswatch marked it watched on PLEX then
    echo = movie(imdb="tt1", watched_at=at(10 * 86_400 + 20))  # PLEX's record of that write
    rewatch = movie(imdb="tt1", watched_at=at(10 * 86_400 + 2 * 3600))  # a real play two hours later
    src = Side(PLEX, [echo, rewatch], None)
    dst = Side(TRAKT, [movie(imdb="tt1", watched_at=at(0))], None)  # the original play

    changes = plan_plays(src, dst, TOL, add=True, remove=False, echoes=[Echo(side="PLEX", item=heat, at=written)])

    assert changes.add == [rewatch]


def test_echoes_of_the_other_side_hide_nothing() -> None:
    play = movie(imdb="tt1", watched_at=at(20))
    src = Side(PLEX, [play], None)
    dst = Side(TRAKT, [], None)

    echoes = [Echo(side="TRAKT", item=movie(imdb="tt1"), at=T0.timestamp())]
    assert plan_plays(src, dst, TOL, add=True, remove=False, echoes=echoes).add == [play]


def test_echo_hides_only_its_own_title() -> None:
    alien = movie(imdb="tt2", title="Alien", watched_at=at(20))
    src = Side(PLEX, [alien], None)
    dst = Side(TRAKT, [], None)

    echoes = [Echo(side="PLEX", item=movie(imdb="tt1"), at=T0.timestamp())]
    assert plan_plays(src, dst, TOL, add=True, remove=False, echoes=echoes).add == [alien]


def test_plan_feature_uses_the_baselines_echoes_for_history() -> None:
    echo = movie(imdb="tt1", watched_at=at(30))
    base = Baseline(sides={}, echoes=[Echo(side="PLEX", item=movie(imdb="tt1"), at=T0.timestamp())])
    a = Side(TRAKT, [movie(imdb="tt1", watched_at=at(-86_400))], [])
    b = Side(PLEX, [echo], [])

    changes = plan_feature(Feature.HISTORY, a, b, two_way=True, add=True, remove=False, tolerance=TOL, baseline=base)

    assert all(c.empty for c in changes)


def test_full_run_still_does_not_send_plex_echoes_back() -> None:
    # `sync run --full` ignores the baselines for removals; its own echoes must still be known
    # ("full: push the whole source state (still no duplicates)")
    pair = Pair("t2p", TRAKT, PLEX, "two-way", {Feature.HISTORY: (True, False)})
    original = movie(imdb="tt1", watched_at=at(0))
    echo = movie(imdb="tt1", watched_at=at(86_400 + 15))
    base = Baseline(
        sides={"TRAKT": [original], "PLEX": [echo]},
        echoes=[Echo(side="PLEX", item=movie(imdb="tt1"), at=T0.timestamp() + 86_400)],
    )
    state = PairState(reads={Feature.HISTORY: {"TRAKT": [original], "PLEX": [echo]}}, baselines={Feature.HISTORY: base})
    ctx: Any = SimpleNamespace(config=SimpleNamespace(sync=SyncConfig()))

    [plan] = make_plans(ctx, pair, state, Options(full=True))

    assert one(plan.changes, "PLEX", "TRAKT").add == [], "PLEX's echo of crosswatch's own write was sent back to TRAKT"


def test_episode_plays_match_by_show_ids_and_numbers() -> None:
    show = {"tvdb": "81189", "imdb": "tt0903747"}
    s1e1 = episode(show, 1, 1, ids={"trakt": "73482"}, watched_at=at(0))
    s1e2 = episode(show, 1, 2, ids={"trakt": "73483"}, watched_at=at(3000))
    other_show = episode({"tvdb": "999"}, 1, 1, watched_at=at(0))
    src = Side(TRAKT, [s1e1, s1e2, other_show], None)
    dst = Side(PLEX, [episode({"tvdb": "81189"}, 1, 1, watched_at=at(7 * 86_400))], None)

    changes = plan_plays(src, dst, TOL, add=True, remove=False, echoes=[])

    assert sorted(changes.add, key=lambda p: (p.show_ids.get("tvdb", ""), p.episode or 0)) == [s1e2, other_show]


def test_episode_play_within_tolerance_on_a_keeps_target_is_not_added() -> None:
    src = Side(PLEX, [episode({"tvdb": "81189"}, 2, 3, watched_at=at(0))], None)
    dst = Side(
        TRAKT, [episode({"tvdb": "81189", "imdb": "tt0903747"}, 2, 3, ids={"trakt": "1"}, watched_at=at(60))], None
    )

    assert plan_plays(src, dst, TOL, add=True, remove=False, echoes=[]).empty


# -- history: removals -----------------------------------------------------------------------


def test_keeps_target_loses_the_play_matching_a_source_play_removed_since_the_baseline() -> None:
    p1, p2 = movie(imdb="tt1", watched_at=at(0)), movie(imdb="tt1", watched_at=at(86_400))
    t1, t2 = movie(imdb="tt1", watched_at=at(30)), movie(imdb="tt1", watched_at=at(86_400))
    src = Side(PLEX, [p2], [p1, p2])
    dst = Side(TRAKT, [t2, t1], [t2, t1])

    changes = plan_plays(src, dst, TOL, add=True, remove=True, echoes=[])

    assert changes.remove == [t1] and changes.add == []


def test_plex_like_target_loses_a_title_only_when_the_source_has_no_play_of_it_left() -> None:
    h1, h2 = movie(imdb="tt1", watched_at=at(0)), movie(imdb="tt1", watched_at=at(86_400))
    alien = movie(imdb="tt2", title="Alien", watched_at=at(500))
    plex_heat = movie(imdb="tt1", watched_at=at(9 * 86_400))
    plex_alien = [movie(imdb="tt2", title="Alien", watched_at=at(9 * 86_400 + s)) for s in (0, 4000)]
    src = Side(TRAKT, [h2], [h1, h2, alien])  # one Heat play and the Alien play removed
    dst = Side(PLEX, [plex_heat, *plex_alien], [plex_heat, *plex_alien])

    changes = plan_plays(src, dst, TOL, add=True, remove=True, echoes=[])

    assert sorted(changes.remove, key=when) == plex_alien


@pytest.mark.parametrize(
    ("has_baseline", "remove"), [(False, True), (True, False)], ids=["no-baseline", "remove-false"]
)
def test_no_history_removal_without_a_baseline_or_with_remove_false(has_baseline: bool, remove: bool) -> None:
    gone = movie(imdb="tt1", watched_at=at(0))
    src = Side(PLEX, [], [gone] if has_baseline else None)
    dst = Side(TRAKT, [gone], [gone])

    changes = plan_plays(src, dst, TOL, add=True, remove=remove, echoes=[])

    assert changes.remove == []


def test_two_way_history_removal_does_not_re_add_the_removed_play() -> None:
    # a play deleted on PLEX since the last sync is removed from TRAKT; the other direction must
    # not write it back to PLEX at the same time
    play = movie(imdb="tt1", watched_at=at(0))
    a = Side(TRAKT, [], [play])
    b = Side(OTHER, [play], [play])

    changes = plan_feature(
        Feature.HISTORY, a, b, two_way=True, add=True, remove=True, tolerance=TOL, baseline=Baseline(sides={})
    )

    assert one(changes, "TRAKT", "TRAKT.work").remove == [play]
    assert one(changes, "TRAKT.work", "TRAKT").add == [], "the removed play is also planned to be added back"


# -- progress --------------------------------------------------------------------------------


def resume(percent: float, paused: float | None, imdb: str = "tt1") -> Item:
    return movie(imdb=imdb, progress=percent, paused_at=at(paused) if paused is not None else None)


def test_one_way_progress_moves_forward() -> None:
    ahead = resume(60, 0)
    a, b = Side(PLEX, [ahead], None), Side(TRAKT, [resume(20, 100)], None)

    [forward] = plan_progress(a, b, two_way=False, add=True)

    assert forward.update == [ahead]


def test_one_way_progress_does_not_move_back_to_an_older_position() -> None:
    a, b = Side(PLEX, [resume(20, 0)], None), Side(TRAKT, [resume(60, 100)], None)

    changes = plan_progress(a, b, two_way=False, add=True)

    assert len(changes) == 1 and changes[0].empty


def test_progress_missing_on_the_target_is_added() -> None:
    item = resume(35, 0)
    a, b = Side(PLEX, [item], None), Side(TRAKT, [], None)

    assert plan_progress(a, b, two_way=False, add=True)[0].add == [item]


def test_progress_within_half_a_percent_is_no_update() -> None:
    a, b = Side(PLEX, [resume(50.3, 100)], None), Side(TRAKT, [resume(50.0, 0)], None)

    assert all(c.empty for c in plan_progress(a, b, two_way=True, add=True))


@pytest.mark.parametrize("plex_ahead", [False, True])
@pytest.mark.parametrize("newer", ["PLEX", "TRAKT"])
def test_two_way_progress_newer_paused_at_wins_forwards_or_backwards(newer: str, plex_ahead: bool) -> None:
    plex_item = resume(70 if plex_ahead else 30, 500 if newer == "PLEX" else 0)
    trakt_item = resume(30 if plex_ahead else 70, 500 if newer == "TRAKT" else 0)
    a, b = Side(PLEX, [plex_item], None), Side(TRAKT, [trakt_item], None)

    forward, back = plan_progress(a, b, two_way=True, add=True)

    if newer == "PLEX":
        assert forward.update == [plex_item] and back.empty
    else:
        assert back.update == [trakt_item] and forward.empty


def test_progress_is_never_removed() -> None:
    gone = resume(40, 0)
    a, b = Side(PLEX, [], [gone]), Side(TRAKT, [gone], [gone])

    changes = plan_feature(
        Feature.PROGRESS, a, b, two_way=False, add=True, remove=True, tolerance=TOL, baseline=Baseline(sides={})
    )

    assert all(not c.remove for c in changes)


def test_progress_with_add_false_writes_nothing() -> None:
    a, b = Side(PLEX, [resume(90, 500)], None), Side(TRAKT, [resume(10, 0, imdb="tt2")], None)

    assert all(c.empty for c in plan_progress(a, b, two_way=True, add=False))


def test_progress_from_milliseconds_is_compared_as_a_percentage() -> None:
    half = movie(imdb="tt1", progress_ms=3_000_000, duration_ms=6_000_000, paused_at=at(0))  # 50 %
    third = movie(imdb="tt2", progress_ms=2_000_000, duration_ms=6_000_000, paused_at=at(0))  # 33 %
    a = Side(PLEX, [half, third], None)
    b = Side(TRAKT, [resume(50.2, 0), resume(20, 0, imdb="tt2")], None)

    [forward] = plan_progress(a, b, two_way=False, add=True)

    assert forward.update == [third] and not forward.add


# -- guards ----------------------------------------------------------------------------------


def many(n: int, **fields: Any) -> list[Item]:
    return [movie(imdb=f"tt{i:07d}", title=f"M{i}", **fields) for i in range(n)]


@pytest.mark.parametrize("now", [0, 4])
def test_shrink_refusal_when_a_source_reads_empty_or_far_smaller(now: int) -> None:
    base = Baseline(sides={"PLEX": many(10)}, synced_at=T0.timestamp())
    side = Side(PLEX, many(now), many(10))

    why = shrink_refusal("p2t", "watchlist", [side], base, SyncConfig(min_source_ratio=0.5))

    assert "p2t" in why and "watchlist" in why and "--allow-shrink" in why
    assert f"read {now} items" in why and "10 at the last sync" in why


def test_no_shrink_refusal_at_the_ratio_or_without_a_baseline() -> None:
    settings = SyncConfig(min_source_ratio=0.5)
    base = Baseline(sides={"PLEX": many(10)})

    assert shrink_refusal("p2t", "watchlist", [Side(PLEX, many(5), many(10))], base, settings) == ""
    assert shrink_refusal("p2t", "watchlist", [Side(PLEX, [], None)], None, settings) == ""


def test_shrink_refusal_checks_every_source_of_a_two_way_pair() -> None:
    base = Baseline(sides={"PLEX": many(4), "TRAKT": many(10)})
    sides = [Side(PLEX, many(4), many(4)), Side(TRAKT, [], many(10))]

    why = shrink_refusal("both", "ratings", sides, base, SyncConfig())

    assert why.startswith("TRAKT ratings read 0 items")


def test_removal_refusal_above_max_remove_ratio() -> None:
    target = Side(TRAKT, many(10), many(10))
    change = Changes("PLEX", "TRAKT", remove=many(2))

    why = removal_refusal("p2t", "history", [change], {"TRAKT": target}, SyncConfig(max_remove_ratio=0.1))

    assert "p2t" in why and "history" in why and "--allow-removals" in why
    assert "remove 2 of 10" in why and "TRAKT" in why


def test_removals_at_the_ratio_are_allowed() -> None:
    target = Side(TRAKT, many(20), many(20))
    change = Changes("PLEX", "TRAKT", remove=many(2))

    assert removal_refusal("p2t", "watchlist", [change], {"TRAKT": target}, SyncConfig(max_remove_ratio=0.1)) == ""


@pytest.mark.parametrize("held", [0, 1, 3])
def test_one_removal_is_always_allowed(held: int) -> None:
    target = Side(TRAKT, many(held), many(held))
    change = Changes("PLEX", "TRAKT", remove=many(1))

    assert removal_refusal("p2t", "watchlist", [change], {"TRAKT": target}, SyncConfig(max_remove_ratio=0.0)) == ""


def test_make_plans_refuses_a_shrunken_source_and_writes_none_of_that_feature() -> None:
    pair = Pair("p2t", PLEX, TRAKT, "one-way", {Feature.WATCHLIST: (True, True)})
    base = Baseline(sides={"PLEX": many(10), "TRAKT": many(10)})
    state = PairState(reads={Feature.WATCHLIST: {"PLEX": [], "TRAKT": many(10)}}, baselines={Feature.WATCHLIST: base})
    ctx: Any = SimpleNamespace(config=SimpleNamespace(sync=SyncConfig()))

    [plan] = make_plans(ctx, pair, state, Options())
    [allowed] = make_plans(ctx, pair, state, Options(allow_shrink=True, allow_removals=True))

    assert "--allow-shrink" in plan.refused
    assert allowed.refused == "" and len(allowed.changes[0].remove) == 10


# -- pairs -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host() -> PluginHost:
    found = PluginHost(None)
    found.load()
    assert {"PLEX", "TRAKT"} <= set(found.providers.ids())
    return found


def config(folder: Path, host: PluginHost, text: str) -> Config:
    (folder / CONFIG_FILE).write_text(text, encoding="utf-8")
    return load_config(folder, host.sections())


def pair_toml(name: str, source: str, target: str, **keys: Any) -> str:
    lines = [f'[[pairs]]\nname = "{name}"\nsource = "{source}"\ntarget = "{target}"']
    for key, value in keys.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
        else:
            lines.append(f'{key} = "{value}"')
    return "\n".join(lines) + "\n"


def test_valid_pairs_resolve(tmp_path: Path, host: PluginHost) -> None:
    cfg = config(tmp_path, host, pair_toml("p2t", "plex", "trakt", features=["watchlist", "history"], remove=True))

    pairs, errors = resolve_pairs(cfg, host.providers)

    assert errors == []
    [pair] = pairs
    assert (pair.source.name, pair.target.name, pair.two_way) == ("PLEX", "TRAKT", False)
    assert pair.features == {Feature.WATCHLIST: (True, True), Feature.HISTORY: (True, True)}


def test_pair_that_would_remove_progress_from_plex_is_an_error(tmp_path: Path, host: PluginHost) -> None:
    text = pair_toml("t2p", "trakt", "plex", features=["progress"], remove=True) + pair_toml("ok", "plex", "trakt")
    cfg = config(tmp_path, host, text)

    pairs, errors = resolve_pairs(cfg, host.providers)

    assert [p.name for p in pairs] == ["ok"]
    [error] = errors
    assert "'t2p'" in error and "PLEX cannot remove progress" in error and "remove = false" in error


def test_two_way_pair_checks_the_writes_back_to_its_source(tmp_path: Path, host: PluginHost) -> None:
    cfg = config(tmp_path, host, pair_toml("both", "plex", "trakt", mode="two-way", features=["progress"], remove=True))

    pairs, errors = resolve_pairs(cfg, host.providers)

    assert pairs == [] and len(errors) == 1 and "PLEX cannot remove progress" in errors[0]


def test_progress_without_removals_into_plex_is_fine(tmp_path: Path, host: PluginHost) -> None:
    cfg = config(tmp_path, host, pair_toml("t2p", "trakt", "plex", features=["progress"]))

    pairs, errors = resolve_pairs(cfg, host.providers)

    assert errors == [] and [p.name for p in pairs] == ["t2p"]


def registry_with_plex(**overrides: FeatureSupport) -> ProviderRegistry:
    registry = ProviderRegistry()
    registry.add(spec("PLEX", keeps=False, **overrides), "test")
    registry.add(spec("TRAKT"), "test")
    return registry


@pytest.mark.parametrize(
    ("support", "source", "target", "words"),
    [
        ({"watchlist": FeatureSupport(read=False)}, "plex", "trakt", "PLEX cannot read watchlist"),
        ({"watchlist": FeatureSupport(add=False)}, "trakt", "plex", "PLEX cannot add watchlist"),
        ({"watchlist": FeatureSupport(remove=False)}, "trakt", "plex", "PLEX cannot remove watchlist"),
    ],
)
def test_pair_needing_what_a_provider_cannot_do_is_an_error(
    tmp_path: Path, host: PluginHost, support: dict, source: str, target: str, words: str
) -> None:
    cfg = config(tmp_path, host, pair_toml("p", source, target, features=["watchlist"], remove=True))

    pairs, errors = resolve_pairs(cfg, registry_with_plex(**support))

    assert pairs == []
    [error] = errors
    assert words in error and "'p'" in error


def test_pair_with_a_feature_the_provider_lacks_is_an_error(tmp_path: Path, host: PluginHost) -> None:
    registry = ProviderRegistry()
    registry.add(ProviderSpec("PLEX", _never_built, {Feature.WATCHLIST: FeatureSupport()}), "test")
    registry.add(spec("TRAKT"), "test")
    cfg = config(tmp_path, host, pair_toml("p", "trakt", "plex", features=["ratings"]))

    pairs, errors = resolve_pairs(cfg, registry)

    assert pairs == [] and len(errors) == 1 and "PLEX cannot" in errors[0] and "ratings" in errors[0]


def test_one_way_pair_into_a_target_that_cannot_read_the_feature_is_an_error(tmp_path: Path, host: PluginHost) -> None:
    # the planner reads the target too (what it holds decides what is added): a target that
    # cannot read the feature fails every run, so the pair must be refused before a write
    cfg = config(tmp_path, host, pair_toml("t2p", "trakt", "plex", features=["watchlist"]))

    pairs, errors = resolve_pairs(cfg, registry_with_plex(watchlist=FeatureSupport(read=False)))

    assert pairs == [], "a one-way pair was accepted although its target cannot read watchlist"
    assert len(errors) == 1 and "PLEX cannot read watchlist" in errors[0]


def test_source_and_target_the_same_profile_is_an_error(tmp_path: Path, host: PluginHost) -> None:
    # "plex" and "plex.default" pass the config's text check but are one profile
    cfg = config(tmp_path, host, pair_toml("loop", "plex", "plex.default"))

    pairs, errors = resolve_pairs(cfg, host.providers)

    assert pairs == []
    [error] = errors
    assert "'loop'" in error and "same profile" in error


def test_profiles_of_one_provider_can_be_paired(tmp_path: Path, host: PluginHost) -> None:
    text = '[plex.profiles.kids]\nuser = "Kids"\n' + pair_toml("kids", "plex", "plex.kids", features=["watchlist"])
    cfg = config(tmp_path, host, text)

    pairs, errors = resolve_pairs(cfg, host.providers)

    assert errors == [] and [(p.source.name, p.target.name) for p in pairs] == [("PLEX", "PLEX.kids")]


def test_opposite_direction_pairs_of_one_feature_are_both_refused(tmp_path: Path, host: PluginHost) -> None:
    text = (
        pair_toml("p2t", "plex", "trakt", features=["watchlist", "ratings"])
        + pair_toml("t2p", "trakt", "plex", features=["ratings"])
        + pair_toml("other", "plex", "trakt", features=["history"])
    )
    cfg = config(tmp_path, host, text)

    pairs, errors = resolve_pairs(cfg, host.providers)

    assert [p.name for p in pairs] == ["other"]
    [error] = errors
    assert "'p2t'" in error and "'t2p'" in error and "ratings" in error and "two-way" in error


def test_opposite_directions_of_different_features_are_fine(tmp_path: Path, host: PluginHost) -> None:
    text = pair_toml("p2t", "plex", "trakt", features=["watchlist"]) + pair_toml(
        "t2p", "trakt", "plex", features=["ratings"]
    )
    cfg = config(tmp_path, host, text)

    pairs, errors = resolve_pairs(cfg, host.providers)

    assert errors == [] and sorted(p.name for p in pairs) == ["p2t", "t2p"]


def test_a_two_way_pair_and_a_one_way_pair_over_the_same_feature_conflict(tmp_path: Path, host: PluginHost) -> None:
    text = pair_toml("both", "trakt", "plex", mode="two-way", features=["watchlist"]) + pair_toml(
        "p2t", "plex", "trakt", features=["watchlist"]
    )
    cfg = config(tmp_path, host, text)

    pairs, errors = resolve_pairs(cfg, host.providers)

    assert pairs == [] and len(errors) >= 1 and all("'both'" in e and "'p2t'" in e for e in errors)


def test_disabled_pair_is_not_resolved(tmp_path: Path, host: PluginHost) -> None:
    cfg = config(tmp_path, host, pair_toml("off", "trakt", "plex", features=["progress"], remove=True, enabled=False))

    assert resolve_pairs(cfg, host.providers) == ([], [])
