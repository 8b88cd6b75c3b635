"""Sync pairs end to end, as a person runs them: ``crosswatch sync run|plan|apply`` against the
Plex and Trakt emulators over real HTTP on loopback, checked in the emulators' own state.

Titles are compared on both sides by their catalogue key ``(type, trakt id)`` (both emulators
are seeded from one catalogue). Unless a test says otherwise, both sides first keep only the
titles the Plex server shows an external id for (:meth:`SyncEnv.keep_only_titles_with_ids`):
a title with none cannot be matched, and what happens to it has its own test.
"""

# ruff: noqa: F811  (the pytest fixtures imported from tests.sync_env are test arguments)
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.sync_env import (  # noqa: F401  (pytest fixtures)
    FEATURES,
    SyncEnv,
    at_the_start_of_a_second,
    canonical,
    cw_env,
    emulators,
    epoch,
    iso,
    keys_of,
    sync_env,
)

TOLERANCE = 120  # sync.history_tolerance_s
FEW_REQUESTS = 12  # a run of one feature that finds nothing to do


# -- helpers ------------------------------------------------------------------------------


def totals(report: dict[str, Any], target: str | None = None) -> Counter[str]:
    """The summary's added/updated/removed/failed/unresolved, summed (for one target side)."""
    out: Counter[str] = Counter()
    for row in report["summary"]:
        if target is None or row["target"] == target:
            out.update({k: row[k] for k in ("added", "updated", "removed", "failed", "unresolved")})
    return out


def planned(report: dict[str, Any], target: str | None = None) -> Counter[str]:
    out: Counter[str] = Counter()
    for row in report["plan"]:
        if target is None or row["target"] == target:
            out.update({k: row[k] for k in ("add", "update", "remove")})
    return out


def assert_nothing_to_do(report: dict[str, Any], requests: int = FEW_REQUESTS) -> None:
    """A run that found both sides in step: no plan, no writes, a handful of requests."""
    assert report["ok"] and report["refused"] == {}, report
    assert report["plan"] == [], report["plan"]
    assert report["summary"] == [], report["summary"]
    assert report["safety_captures"] == []
    assert report["requests"] <= requests, f"{report['requests']} requests for a run with nothing to do"


def near(plays: Counter, kind: str, trakt: int, when: int, tolerance: int = TOLERANCE) -> bool:
    return any(k == kind and t == trakt and abs(w - when) <= tolerance for k, t, w in plays.elements())


def new_plays(source: Counter, target: Counter) -> Counter:
    """The plays of ``source`` a target holding ``target`` lacks (each title's second once)."""
    out: Counter = Counter()
    for play in sorted(set(source)):
        if not near(target, *play):
            out[play] = 1
    return out


def other_than(rating: int) -> int:
    """A rating that differs from ``rating``."""
    return 3 if rating != 3 else 4


def as_trakt(ratings: dict[tuple[str, int], float]) -> dict[tuple[str, int], int]:
    return {k: int(v) for k, v in ratings.items()}


def baselines(env: SyncEnv) -> list[str]:
    return sorted(p.name for p in (env.cw.folder / ".cw_state").glob("sync_*.baseline.json"))


def safety_captures(env: SyncEnv) -> list[dict[str, Any]]:
    return env.cw.json("capture", "list", "--type", "safety", "--json")


def some_title(view: Any, *, exclude: set = frozenset(), kind: str | None = None) -> tuple[str, int]:
    """The first title of a view (sorted), for a test to act on."""
    return next(k for k in sorted(keys_of(view)) if k not in exclude and (kind is None or k[0] == kind))


def unrated_title(env: SyncEnv, kind: str = "movie") -> tuple[str, int]:
    """A title of the catalogue rated nowhere, that the Plex server shows ids for."""
    rated = keys_of(env.plex_view("ratings")) | keys_of(env.trakt_view("ratings"))
    catalog = env.emu.plex.catalog
    pool = catalog.movies if kind == "movie" else catalog.shows
    return next((kind, m.trakt) for m in pool if (kind, m.trakt) not in rated and env.plex_has_ids(m))


def plex_rate(env: SyncEnv, key: tuple[str, int], rating: float, at: int) -> None:
    """Rate a title on Plex at ``at`` (epoch seconds)."""

    def change(user: dict[str, Any]) -> None:
        user["ratings"] = [e for e in user["ratings"] if (e["type"], e["ids"]["trakt"]) != key]
        user["ratings"].append({"type": key[0], "trakt": key[1], "rating": rating, "ratedAt": at})

    env.edit_plex(change)


def trakt_rate(env: SyncEnv, key: tuple[str, int], rating: int, at: int) -> None:
    def change(state: dict[str, Any]) -> None:
        state["ratings"] = [e for e in state["ratings"] if (e["type"], e["trakt"]) != key]
        state["ratings"].append({"type": key[0], "trakt": key[1], "rating": rating, "rated_at": iso(at)})

    env.edit_trakt(change)


def unplayed_movie(env: SyncEnv, exclude: frozenset[tuple[str, int]] = frozenset()) -> tuple[str, int]:
    """A movie played on neither side (nor in ``exclude``), that the Plex server shows ids for."""
    played = env.plex_titles_played() | keys_of(env.trakt_view("history")) | exclude
    return next(
        ("movie", m.trakt)
        for m in env.emu.plex.catalog.movies
        if ("movie", m.trakt) not in played and env.plex_has_ids(m)
    )


# -- one-way: the target ends holding what the source has; the source is never written ---


def one_old_trakt_play(env: SyncEnv) -> tuple[tuple[str, int], int]:
    """Trakt's history becomes one play, 30 days old, of a movie played nowhere; (movie, when)."""
    movie = unplayed_movie(env)
    watched = int(time.time()) - 30 * 86_400
    env.edit_trakt(
        lambda state: state.update(history=[{"type": "movie", "trakt": movie[1], "watched_at": iso(watched)}])
    )
    return movie, watched


def prepare_progress(env: SyncEnv) -> tuple[str, int]:
    """Trakt keeps its own resume positions, one of a title Plex has further on and newer.

    Returns that title (the one-way run must move it forward on Trakt).
    """
    plex = env.plex_view("progress")
    behind = sorted(plex)[0]

    def change(state: dict[str, Any]) -> None:
        state["playback"] = [e for e in state["playback"] if (e["type"], e["trakt"]) not in plex]
        state["playback"].append(
            {"type": behind[0], "trakt": behind[1], "progress": 1.0, "paused_at": "2020-01-01T00:00:00.000Z"}
        )

    env.edit_trakt(change)
    assert env.trakt_view("progress")[behind] == 1.0 < plex[behind] - 1
    return behind


@pytest.mark.parametrize("feature", FEATURES)
def test_one_way_plex_to_trakt_copies_the_feature_and_never_writes_plex(sync_env: SyncEnv, feature: str) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    behind = prepare_progress(env) if feature == "progress" else None
    env.pairs(env.pair("p", features=[feature]))
    plex_before = canonical(env.plex_state())
    source, target = env.plex_view(feature), env.trakt_view(feature)
    assert source and target, "both sides hold some of this feature"
    env.emu.plex.stats.reset()

    first = env.run("p")
    assert first["ok"] and first["refused"] == {}
    done = totals(first)
    assert done["added"] > 0 and done["failed"] == done["unresolved"] == done["removed"] == 0, first["summary"]
    after = env.trakt_view(feature)
    if feature == "watchlist":
        assert after == target | source
    elif feature == "ratings":
        assert after == {**target, **as_trakt(source)}  # one-way: the source's rating wins
        assert done["updated"] == sum(1 for k in source if k in target and target[k] != int(source[k]))
    elif feature == "history":
        assert after == target + new_plays(source, target)
    else:
        assert set(after) == set(target) | set(source)
        for key, percent in source.items():
            assert after[key] == pytest.approx(percent, abs=0.01), key
        assert after[behind] > 1.0
        assert {k: v for k, v in after.items() if k not in source} == {
            k: v for k, v in target.items() if k not in source
        }
    assert sum(r["add"] + r["update"] for r in first["plan"]) == done["added"] + done["updated"]

    for emulator in (env.emu.plex, env.emu.trakt):
        emulator.stats.reset()
    second = env.run("p")
    assert_nothing_to_do(second)
    counted = sum(sum(e.stats.requests.values()) for e in (env.emu.plex, env.emu.trakt))
    assert second["requests"] == counted, "the report counts the requests the servers saw"
    assert env.trakt_view(feature) == after
    assert canonical(env.plex_state()) == plex_before, "a one-way run wrote to its source"
    assert env.emu.plex.stats.writes == []


# -- two-way: both sides end holding everything of both ------------------------------------


def plex_progress_percent_close(env: SyncEnv) -> None:
    plex, trakt = env.plex_view("progress"), env.trakt_view("progress")
    assert set(plex) == set(trakt)
    for key in plex:
        assert plex[key] == pytest.approx(trakt[key], abs=0.5), key


@pytest.mark.parametrize("feature", FEATURES)
def test_two_way_leaves_both_sides_holding_everything(sync_env: SyncEnv, feature: str) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    env.pairs(env.pair("p", mode="two-way", features=[feature]))
    plex, trakt = env.plex_view(feature), env.trakt_view(feature)
    plex_times, trakt_times = env.rated_at()
    at_the_start_of_a_second()
    began = int(time.time())

    first = env.run("p")
    assert first["ok"], first
    assert totals(first, "PLEX")["added"] > 0 and totals(first, "TRAKT")["added"] > 0
    assert totals(first)["failed"] == 0
    plex_after, trakt_after = env.plex_view(feature), env.trakt_view(feature)
    if feature == "watchlist":
        assert trakt_after == trakt | plex
        # a Plex watchlist holds movies and shows: a listed episode or season cannot go there
        listable = {k for k in trakt if k[0] in ("movie", "show")}
        assert plex_after == plex | listable
        assert totals(first, "PLEX")["unresolved"] == len(trakt - listable - plex)
    elif feature == "ratings":
        # a title rated differently on both: the newer rating wins
        expected = {**as_trakt(plex), **trakt}
        for key in set(plex) & set(trakt):
            if plex_times[key] > trakt_times[key]:
                expected[key] = int(plex[key])
        assert trakt_after == expected
        assert as_trakt(plex_after) == expected
    elif feature == "history":
        assert trakt_after == trakt + new_plays(plex, trakt)
        # Plex records a play at "now": one for each title it had no play of, none of the others
        gained = plex_after - plex
        assert keys_of(gained) == keys_of(trakt) - keys_of(plex)
        assert all(n == 1 for n in gained.values()) and all(when >= began for _, _, when in gained)
    else:
        assert set(plex_after) == set(plex) | set(trakt)
        plex_progress_percent_close(env)

    plex_now, trakt_now = canonical(env.plex_state()), canonical(env.trakt_state())
    second = env.run("p")
    assert_nothing_to_do(second)
    assert canonical(env.plex_state()) == plex_now and canonical(env.trakt_state()) == trakt_now


def test_two_way_a_play_written_to_plex_is_not_sent_back_as_a_new_play(sync_env: SyncEnv) -> None:
    """Plex records a play crosswatch writes at "now": read back, it is crosswatch's echo, not a new play."""
    env = sync_env
    env.keep_only_titles_with_ids()
    movie, watched = one_old_trakt_play(env)
    env.pairs(env.pair("p", mode="two-way", features=["history"]))

    at_the_start_of_a_second()
    began = int(time.time())
    first = env.run("p")
    assert totals(first, "PLEX") == Counter(added=1)
    (echo,) = [p for p in env.plex_view("history") if p[:2] == movie]
    assert echo[2] >= began, "Plex records the play at the time it is written"

    second = env.run("p")
    assert second["plan"] == [], "crosswatch's own write to Plex was planned back to Trakt as a new play"
    assert [p for p in env.trakt_view("history").elements() if p[:2] == movie] == [(*movie, watched)]


@pytest.mark.parametrize("remove", [True, False], ids=["remove", "keep"])
@pytest.mark.parametrize("read_back", [False, True], ids=["before-the-next-run", "after-a-run-read-it"])
def test_two_way_a_play_written_to_plex_and_deleted_there_is_not_written_back(
    sync_env: SyncEnv, remove: bool, read_back: bool
) -> None:
    """Plex dates crosswatch's write "now": deleting it there is deleting the Trakt play it was
    copied from (``remove = true``: gone from Trakt too, for good), also when the person was
    quicker than the next run. Without ``remove`` Trakt keeps it and Plex is not written to."""
    env = sync_env
    env.keep_only_titles_with_ids()
    movie, watched = one_old_trakt_play(env)
    env.pairs(env.pair("p", mode="two-way", features=["history"], remove=remove))
    first = env.run("p")
    assert totals(first, "PLEX") == Counter(added=1)
    if read_back:
        assert env.run("p")["summary"] == []
    drop_from_plex(env, "history", movie)
    trakt = env.trakt_view("history")

    second = env.run("p")
    assert second["ok"] and totals(second, "PLEX") == Counter(), second["summary"]
    assert movie not in env.plex_titles_played(), "the play deleted on Plex was written back"
    if not remove:
        assert totals(second) == Counter() and env.trakt_view("history") == trakt
        return
    assert totals(second, "TRAKT") == Counter(removed=1), second["summary"]
    assert env.trakt_view("history") == trakt - Counter({(*movie, watched): 1})
    # an unrelated play later: the next run carries it, and not the deleted one
    other = unplayed_movie(env, exclude=frozenset({movie}))
    env.edit_trakt(
        lambda state: state["history"].append({"type": "movie", "trakt": other[1], "watched_at": iso(watched)})
    )
    third = env.run("p")
    assert totals(third) == Counter(added=1) and other in env.plex_titles_played()
    assert movie not in env.plex_titles_played() and movie not in keys_of(env.trakt_view("history"))


def test_titles_without_ids_are_reported_once_then_left_out(sync_env: SyncEnv) -> None:
    """The seeded library as it is: some titles carry only a ``local://`` or id-less guid on Plex."""
    env = sync_env
    env.pairs(env.pair("p", features=["watchlist", "ratings", "history", "progress"]))
    first = env.run("p")
    assert first["ok"] and totals(first)["unresolved"] > 0 and totals(first)["failed"] == 0
    frozen = env.cw.json("unresolved", "list", "--json")
    assert frozen, "the titles Trakt could not take are listed"
    trakt = canonical(env.trakt_state())

    second = env.run("p")
    assert_nothing_to_do(second, requests=4 * FEW_REQUESTS)
    assert canonical(env.trakt_state()) == trakt


# -- removals: only what the baseline says was removed, and only with remove = true -------


def drop_from_plex(env: SyncEnv, feature: str, key: tuple[str, int]) -> None:
    """Remove a title from the Plex owner's ``feature`` (history: every play of it)."""
    field = {"watchlist": "watchlist", "ratings": "ratings", "history": "plays"}[feature]

    def change(user: dict[str, Any]) -> None:
        before = len(user[field])
        user[field] = [e for e in user[field] if (e["type"], e["ids"]["trakt"]) != key]
        assert len(user[field]) < before

    env.edit_plex(change)


@pytest.mark.parametrize("remove", [True, False], ids=["remove", "keep"])
@pytest.mark.parametrize("feature", ["watchlist", "ratings", "history"])
def test_a_removal_at_the_source_reaches_the_target_only_with_remove_on(
    sync_env: SyncEnv, feature: str, remove: bool
) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    source, target = env.plex_view(feature), env.trakt_view(feature)
    only_on_trakt = some_title(target, exclude=keys_of(source))
    env.pairs(env.pair("p", features=[feature], remove=remove))

    first = env.run("p")  # no baseline yet: nothing is removed, whatever the switch
    assert totals(first)["removed"] == 0 and planned(first)["remove"] == 0
    synced = env.trakt_view(feature)
    gone = some_title(source, kind="movie", exclude=keys_of(target))  # on Trakt by the first run
    assert gone in keys_of(synced) and only_on_trakt in keys_of(synced)
    drop_from_plex(env, feature, gone)

    second = env.run("p", code=None)
    after = env.trakt_view(feature)
    assert only_on_trakt in keys_of(after), "a title only ever on the target was removed"
    if remove:
        removed = sum(n for p, n in synced.items() if p[:2] == gone) if feature == "history" else 1
        assert totals(second) == Counter(removed=removed), second["summary"]
        assert second["ok"] and gone not in keys_of(after)
        if feature == "history":  # the plays of that title, and no other play
            assert after == Counter({p: n for p, n in synced.items() if p[:2] != gone})
    else:
        assert second["ok"] and second["plan"] == [] and second["summary"] == []
        assert after == synced
    assert_nothing_to_do(env.run("p"))


# -- two-way: changes on each side, conflicting ratings ------------------------------------


def test_two_way_carries_a_change_made_on_each_side_to_the_other(sync_env: SyncEnv) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    env.edit_trakt(lambda state: state.update(history=[]))  # the first run writes no play to Plex
    env.pairs(env.pair("p", mode="two-way", features=["watchlist", "ratings", "history"]))
    env.run("p")
    assert_nothing_to_do(env.run("p"), requests=3 * FEW_REQUESTS)

    now = int(time.time())
    # Trakt: a rating changed, a movie played; Plex: a title put on the watchlist, a movie played.
    # (Plex dates a rating crosswatch wrote at the write: a change made after it is later.)
    rated = some_title(env.trakt_view("ratings"), kind="movie")
    new_rating = other_than(env.trakt_view("ratings")[rated])
    trakt_rate(env, rated, new_rating, now + 60)
    on_trakt = unplayed_movie(env)

    def play_on_trakt(state: dict[str, Any]) -> None:
        state["history"].append({"type": "movie", "trakt": on_trakt[1], "watched_at": iso(now - 7200)})

    env.edit_trakt(play_on_trakt)
    on_plex = unplayed_movie(env)
    listed = next(
        ("movie", m.trakt)
        for m in env.emu.plex.catalog.movies
        if ("movie", m.trakt) not in env.plex_view("watchlist") | env.trakt_view("watchlist")
    )

    def plex_changes(user: dict[str, Any]) -> None:
        user["watchlist"].append({"type": "movie", "trakt": listed[1], "watchlistedAt": now - 30})
        user["plays"].append({"type": "movie", "trakt": on_plex[1], "viewedAt": now - 3600})

    env.edit_plex(plex_changes)
    report = env.run("p")
    assert report["plan"] == [
        {"feature": "watchlist", "target": "TRAKT", "type": "movie", "add": 1, "update": 0, "remove": 0},
        {"feature": "ratings", "target": "PLEX", "type": "movie", "add": 0, "update": 1, "remove": 0},
        {"feature": "history", "target": "TRAKT", "type": "movie", "add": 1, "update": 0, "remove": 0},
        {"feature": "history", "target": "PLEX", "type": "movie", "add": 1, "update": 0, "remove": 0},
    ]
    assert report["ok"] and totals(report) == Counter(added=3, updated=1)
    assert env.plex_view("ratings")[rated] == new_rating
    assert listed in env.trakt_view("watchlist") and listed in env.plex_view("watchlist")
    assert env.trakt_view("history")[(*on_plex, now - 3600)] == 1
    assert on_trakt in env.plex_titles_played()
    assert env.plex_view("history")[(*on_plex, now - 3600)] == 1


def test_two_way_conflicting_ratings_go_to_the_newer_one(sync_env: SyncEnv) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    env.pairs(env.pair("p", mode="two-way", features=["ratings"]))
    env.run("p")
    both = sorted(keys_of(env.trakt_view("ratings")) & keys_of(env.plex_view("ratings")))
    plex_wins, trakt_wins, changed_on_plex, changed_on_trakt = both[:4]
    now = int(time.time()) + 300  # after the first run (Plex dates the ratings crosswatch wrote at the write)
    plex_rate(env, plex_wins, 2, now - 100)
    trakt_rate(env, plex_wins, 9, now - 200)
    plex_rate(env, trakt_wins, 1, now - 200)
    trakt_rate(env, trakt_wins, 10, now - 100)
    synced = env.trakt_view("ratings")
    new_on_plex, new_on_trakt = other_than(synced[changed_on_plex]), other_than(synced[changed_on_trakt])
    plex_rate(env, changed_on_plex, new_on_plex, now - 50)
    trakt_rate(env, changed_on_trakt, new_on_trakt, now - 50)
    # a title rated on both for the first time since the last sync, differently
    fresh = unrated_title(env)
    plex_rate(env, fresh, 7, now - 10)
    trakt_rate(env, fresh, 4, now - 20)

    report = env.run("p")
    assert report["ok"] and totals(report) == Counter(updated=5), report["summary"]
    plex, trakt = env.plex_view("ratings"), env.trakt_view("ratings")
    assert as_trakt(plex) == trakt
    assert (trakt[plex_wins], trakt[trakt_wins], trakt[fresh]) == (2, 10, 7)
    assert (trakt[changed_on_plex], trakt[changed_on_trakt]) == (new_on_plex, new_on_trakt)
    assert_nothing_to_do(env.run("p"))


# -- guards: an outage removes nothing, a mass removal needs a yes -------------------------


@pytest.mark.parametrize("mode", ["one-way", "two-way"])
def test_a_source_that_reads_empty_is_refused_and_the_target_untouched(sync_env: SyncEnv, mode: str) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    env.pairs(env.pair("p", mode=mode, features=["watchlist", "ratings"], remove=True))
    env.run("p")
    held = {f: len(env.plex_view(f)) for f in ("watchlist", "ratings")}

    def empty(user: dict[str, Any]) -> None:  # the server answers, with nothing: another account?
        user["watchlist"], user["ratings"] = [], []

    env.edit_plex(empty)
    plex, trakt = canonical(env.plex_state()), canonical(env.trakt_state())
    report = env.run("p", code=1)
    assert not report["ok"] and report["summary"] == []
    assert set(report["refused"]) == {"watchlist", "ratings"}
    for feature, message in report["refused"].items():
        assert f"PLEX {feature} read 0 items, {held[feature]} at the last sync" in message
        assert "looks like an outage or another account" in message
        assert f"crosswatch sync run p --feature {feature} --allow-shrink" in message
    assert canonical(env.trakt_state()) == trakt and canonical(env.plex_state()) == plex
    text = env.cli("sync", "run", "p")
    assert text.code == 1 and "REFUSED" in text.out and "--allow-shrink" in text.out


@pytest.mark.parametrize("down", ["plex", "trakt"])
def test_a_provider_answering_5xx_fails_the_run_and_writes_nothing(sync_env: SyncEnv, down: str) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    env.pairs(env.pair("p", mode="two-way", features=["watchlist", "ratings"], remove=True))
    env.run("p")
    # a change on each side, so that a run would write to both
    env.edit_plex(lambda user: user["ratings"].pop())
    env.edit_trakt(lambda state: state["watchlist"].pop())
    plex, trakt = canonical(env.plex_state()), canonical(env.trakt_state())
    files = {p.name: p.read_bytes() for p in (env.cw.folder / ".cw_state").glob("sync_*.baseline.json")}
    env.cw.configure(
        {
            "pairs": [env.pair("p", mode="two-way", features=["watchlist", "ratings"], remove=True)],
            "plex": {"max_retries": 1},
            "trakt": {"max_retries": 1},
        }
    )
    emulator = env.emu.plex if down == "plex" else env.emu.trakt
    emulator.settings.update({"error_rate": 1.0})

    result = env.cli("sync", "run", "p", "--json")
    assert result.code == 1 and result.out == ""
    message = result.err.strip().splitlines()[-1]
    assert message.startswith("crosswatch: ") and down.upper() in message.upper(), result.err
    assert any(str(status) in message for status in (500, 502, 503)), message
    emulator.settings.update({"error_rate": 0.0})
    assert canonical(env.plex_state()) == plex and canonical(env.trakt_state()) == trakt
    assert {p.name: p.read_bytes() for p in (env.cw.folder / ".cw_state").glob("sync_*.baseline.json")} == files


def test_a_mass_removal_is_refused_until_allowed_once(sync_env: SyncEnv) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    env.pairs(env.pair("p", features=["ratings"], remove=True))
    env.run("p")
    rated = env.plex_view("ratings")
    held = len(env.trakt_view("ratings"))
    doomed = sorted(rated)[: len(rated) // 3]  # a third of the source: not an outage, too many to remove
    assert len(doomed) > 0.10 * held

    def unrate(user: dict[str, Any]) -> None:
        user["ratings"] = [e for e in user["ratings"] if (e["type"], e["ids"]["trakt"]) not in doomed]

    env.edit_plex(unrate)
    trakt = canonical(env.trakt_state())
    refused = env.run("p", code=1)
    message = refused["refused"]["ratings"]
    assert f"the plan would remove {len(doomed)} of {held} ratings items" in message
    assert "more than sync.max_remove_ratio (10%)" in message
    assert "to allow it once, run `crosswatch sync run p --feature ratings --allow-removals`" in message
    assert refused["summary"] == [] and canonical(env.trakt_state()) == trakt
    env.run("p", code=1)  # refused again: the yes is for one run only

    allowed = env.run("p", "--feature", "ratings", "--allow-removals")
    assert allowed["ok"] and totals(allowed) == Counter(removed=len(doomed))
    assert not set(doomed) & set(env.trakt_view("ratings"))
    assert_nothing_to_do(env.run("p"))


# -- a run that failed half-way, run again: no play twice ----------------------------------


def test_a_run_that_failed_half_way_then_runs_again_adds_each_play_once(sync_env: SyncEnv) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    env.cw.configure({"pairs": [env.pair("p", features=["history"])], "trakt": {"batch_size": 25}})
    source, target = env.plex_view("history"), env.trakt_view("history")
    expected = target + new_plays(source, target)
    sending = sum(new_plays(source, target).values())
    assert sending > 100, "several batches of 25 plays"
    # the first batch is taken but its answer lost (a dropped connection), the second taken and
    # answered 503, the third and fourth never taken (503 on every try), the rest go through
    env.emu.trakt.faults.add(
        [
            {"method": "POST", "path": "/sync/history", "after_apply": True, "drop": True},
            {"method": "POST", "path": "/sync/history", "after_apply": True, "status": 503},
            {"method": "POST", "path": "/sync/history", "status": 503, "times": 12},
        ]
    )
    first = env.run("p", code=1)
    assert not first["ok"]
    assert totals(first)["failed"] == 50 and totals(first)["added"] == sending - 50, first["summary"]
    assert env.emu.trakt.faults.pending == []
    partial = env.trakt_view("history")
    assert all(n == 1 for n in (partial - target).values()), "a play was written twice"
    assert sum((partial - target).values()) == sending - 50

    second = env.run("p")
    assert totals(second) == Counter(added=50), second["summary"]
    assert env.trakt_view("history") == expected
    assert_nothing_to_do(env.run("p"))


# -- sync plan -o FILE, then sync apply FILE ------------------------------------------------


def catalogue_key(env: SyncEnv, item: dict[str, Any]) -> tuple[str, int]:
    """The catalogue key of an item as a plan file holds it (by any of its ids)."""
    media = env.emu.plex.catalog.find(item["type"], item["ids"])
    assert media is not None, item
    return item["type"], media.trakt


def make_plan(env: SyncEnv, pair: str = "p") -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """``sync plan PAIR -o plan.json --json``: the file, its content and the rows shown."""
    path = env.cw.folder / "plan.json"
    shown = env.cw.json("sync", "plan", pair, "-o", str(path), "--json")
    assert shown["plan"] == str(path) and shown["refused"] == []
    return path, json.loads(path.read_text()), shown["rows"]


def changes_of(plan: dict[str, Any], feature: str, action: str) -> list[dict[str, Any]]:
    entry = next(f for f in plan["features"] if f["feature"] == feature)
    return [item for change in entry["changes"] for item in change[action]]


def test_plan_then_apply_does_exactly_what_the_plan_said(sync_env: SyncEnv) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    env.pairs(env.pair("p", features=["watchlist", "ratings", "history"]))
    before = {f: env.trakt_view(f) for f in ("watchlist", "ratings", "history")}
    plex, trakt = canonical(env.plex_state()), canonical(env.trakt_state())

    path, plan, rows = make_plan(env)
    assert canonical(env.plex_state()) == plex and canonical(env.trakt_state()) == trakt, "a plan wrote"
    assert baselines(env) == [] and safety_captures(env) == []
    assert (plan["pair"], plan["source"], plan["target"], plan["mode"]) == ("p", "PLEX", "TRAKT", "one-way")
    listed = {catalogue_key(env, i) for i in changes_of(plan, "watchlist", "add")}
    rated = {catalogue_key(env, i): i["rating"] for a in ("add", "update") for i in changes_of(plan, "ratings", a)}
    played = Counter((*catalogue_key(env, i), epoch(i["watched_at"])) for i in changes_of(plan, "history", "add"))
    assert listed and rated and played

    refused = env.cli("sync", "apply", str(path))  # no terminal to ask on, and no --yes
    assert refused.code == 1 and "--yes" in refused.err
    assert canonical(env.trakt_state()) == trakt

    report = env.cw.json("sync", "apply", str(path), "--yes", "--json")
    assert report["ok"] and report["plan"] == rows
    assert [(r["added"], r["updated"], r["removed"]) for r in report["summary"]] == [
        (r["add"], r["update"], r["remove"]) for r in sorted(rows, key=lambda r: (r["feature"], r["type"]))
    ]
    assert env.trakt_view("watchlist") == before["watchlist"] | listed
    assert env.trakt_view("ratings") == {**before["ratings"], **rated}
    assert env.trakt_view("history") == before["history"] + played
    assert len(report["safety_captures"]) == 1, "applying a plan is the pair's first run"
    assert canonical(env.plex_state()) == plex
    assert_apply_refused(env, path, "TRAKT watchlist changed since the plan was made")  # applied already
    assert_nothing_to_do(env.run("p"), requests=3 * FEW_REQUESTS)


def planned_pair(env: SyncEnv, **switches: Any) -> dict[str, Any]:
    return env.pair("p", features=["watchlist", "ratings"], remove=True, **switches)


def plan_with_an_add_and_a_removal(env: SyncEnv) -> tuple[Path, dict[str, Any]]:
    """After a first run: a title listed on Plex, a rating removed there; the plan of that."""
    env.keep_only_titles_with_ids()
    env.pairs(planned_pair(env))
    env.run("p")
    listed = next(
        ("movie", m.trakt) for m in env.emu.plex.catalog.movies if ("movie", m.trakt) not in env.trakt_view("watchlist")
    )
    unrated = some_title(env.plex_view("ratings"), kind="movie")

    def change(user: dict[str, Any]) -> None:
        user["watchlist"].append({"type": "movie", "trakt": listed[1]})
        user["ratings"] = [e for e in user["ratings"] if (e["type"], e["ids"]["trakt"]) != unrated]

    env.edit_plex(change)
    path, plan, rows = make_plan(env)
    assert planned({"plan": rows}) == Counter(add=1, remove=1)
    return path, plan


def assert_apply_refused(env: SyncEnv, path: Path, *messages: str) -> None:
    """``sync apply`` exits 1 with ``messages``, and neither side nor a baseline was written."""
    plex, trakt = canonical(env.plex_state()), canonical(env.trakt_state())
    state = env.cw.folder / ".cw_state"
    files = {p.name: p.read_bytes() for p in state.glob("sync_*.baseline.json")}
    result = env.cli("sync", "apply", str(path), "--yes", "--json")
    assert result.code == 1 and result.out == "", result.out
    for message in messages:
        assert message in result.err, result.err
    assert canonical(env.plex_state()) == plex and canonical(env.trakt_state()) == trakt
    assert {p.name: p.read_bytes() for p in state.glob("sync_*.baseline.json")} == files


def test_a_plan_whose_target_changed_since_is_refused_as_stale(sync_env: SyncEnv) -> None:
    env = sync_env
    path, plan = plan_with_an_add_and_a_removal(env)
    other = next(
        ("show", s.trakt) for s in env.emu.plex.catalog.shows if ("show", s.trakt) not in env.trakt_view("watchlist")
    )
    env.edit_trakt(lambda state: state["watchlist"].append({"type": "show", "trakt": other[1]}))
    assert_apply_refused(
        env, path, f"TRAKT watchlist changed since the plan was made ({plan['created']})", "nothing was written"
    )


def test_a_plan_edited_by_hand_is_refused(sync_env: SyncEnv) -> None:
    env = sync_env
    path, plan = plan_with_an_add_and_a_removal(env)
    ratings = next(f for f in plan["features"] if f["feature"] == "ratings")
    ratings["changes"][0]["remove"] = []  # keep the rating after all
    path.write_text(json.dumps(plan, indent=1))
    assert_apply_refused(env, path, "the plan was changed after it was written (checksum); make a new one")


CONFIG_CHANGES = {
    "two-way now": ({"mode": "two-way"}, "the config now has PLEX -> TRAKT (two-way); make a new plan"),
    "source and target swapped": ({"source": "trakt", "target": "plex"}, "the config now has TRAKT -> PLEX"),
    "a feature dropped": ({"features": ["ratings"]}, "pair 'p' does not sync watchlist any more; make a new plan"),
    "removals turned off": ({"remove": False}, "make a new plan"),
    "the pair renamed": ({"name": "q"}, "no pair named 'p' in the config (pairs: q)"),
}


@pytest.mark.parametrize("change", list(CONFIG_CHANGES))
def test_a_plan_of_a_pair_whose_config_changed_is_refused(sync_env: SyncEnv, change: str) -> None:
    env = sync_env
    path, _ = plan_with_an_add_and_a_removal(env)
    switches, message = CONFIG_CHANGES[change]
    env.pairs({**planned_pair(env), **switches})
    assert_apply_refused(env, path, message)


# -- the first run of a pair takes a safety capture of what it writes to ------------------


def test_the_first_run_of_a_pair_takes_a_safety_capture_of_its_target(sync_env: SyncEnv) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    env.pairs(env.pair("p", features=["watchlist", "ratings"]), env.pair("both", mode="two-way", features=["progress"]))
    held = {f: len(env.trakt_view(f)) for f in ("watchlist", "ratings")}

    trakt = canonical(env.trakt_state())
    dry = env.run("p", "--dry-run")
    assert dry["dry_run"] and dry["plan"] and dry["summary"] == []
    assert dry["safety_captures"] == [] and safety_captures(env) == [] and baselines(env) == []
    assert canonical(env.trakt_state()) == trakt
    first = env.run("p")
    (name,) = first["safety_captures"]
    (capture,) = safety_captures(env)
    assert capture["path"] == name and capture["label"] == "before-first-sync-p"
    assert (capture["provider"], capture["feature"], capture["type"]) == ("TRAKT", "all", "safety")
    assert {c["feature"]: c["count"] for c in capture["children"]} == held, "what Trakt held before the run"
    shown = env.cw.json("capture", "show", capture["children"][0]["path"], "--json")
    assert shown["type"] == "safety" and shown["provider"] == "TRAKT"

    plex_rate(env, unrated_title(env), 8, int(time.time()))
    later = env.run("p")
    assert totals(later) == Counter(added=1) and later["safety_captures"] == []
    assert len(safety_captures(env)) == 1, "only the first run of a pair takes one"

    # a two-way pair writes to both sides: both are captured before its first run
    both = env.run("both")
    assert len(both["safety_captures"]) == 2
    sides = {c["provider"] for c in safety_captures(env) if c["label"] == "before-first-sync-both"}
    assert sides == {"PLEX", "TRAKT"}


# -- bad input: a clear message and exit 1, before anything is written --------------------


BAD_PAIRS = {
    "a missing profile": (
        [SyncEnv.pair("p", source="plex.kids")],
        "pairs[0].source: [plex] has no profile 'kids'",  # found when the config loads
    ),
    "an unknown provider": ([SyncEnv.pair("p", target="kodi")], "kodi"),
    "Plex progress removals": (
        [SyncEnv.pair("p", source="trakt", target="plex", features=["progress"], remove=True)],
        "pair 'p': PLEX cannot remove progress (set remove = false for it)",
    ),
    "Plex progress removals, two-way": (
        [SyncEnv.pair("p", mode="two-way", features={"watchlist": {}, "progress": {"remove": True}})],
        "PLEX cannot remove progress",
    ),
    "source = target": (
        [SyncEnv.pair("p", source="trakt", target="trakt")],
        "pairs[0].target: source and target are the same profile",
    ),
    "two pairs in opposite directions": (
        [
            SyncEnv.pair("p", features=["watchlist", "ratings"]),
            SyncEnv.pair("q", source="trakt", target="plex", features=["ratings"]),
        ],
        "pairs 'p' and 'q' both sync ratings between PLEX and TRAKT in opposite directions; "
        "use one two-way pair instead",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PAIRS))
def test_a_pair_that_cannot_run_is_refused_before_anything_is_written(sync_env: SyncEnv, case: str) -> None:
    env = sync_env
    pairs, message = BAD_PAIRS[case]
    env.pairs(*pairs)
    plex, trakt = canonical(env.plex_state()), canonical(env.trakt_state())
    for args in (("run", "p"), ("run", "p", "--dry-run"), ("plan", "p", "-o", str(env.cw.folder / "plan.json"))):
        result = env.cli("sync", *args)
        assert result.code == 1 and result.out == "", (args, result.out)
        assert result.err.startswith("crosswatch: ") and message in result.err, (args, result.err)
        assert "Traceback" not in result.err
    assert not (env.cw.folder / "plan.json").exists()
    listed = env.cli("sync", "pairs", "--json")  # lists the fault (or fails to load the config with it)
    assert listed.code == 1 and message in listed.out + listed.err
    assert canonical(env.plex_state()) == plex and canonical(env.trakt_state()) == trakt
    assert baselines(env) == [] and safety_captures(env) == []
    assert not list(env.cw.folder.glob("snapshots/**/*.json"))


def test_an_unknown_pair_or_feature_is_refused(sync_env: SyncEnv) -> None:
    env = sync_env
    env.pairs(env.pair("p", features=["watchlist"]))
    result = env.cli("sync", "run", "nope")
    assert result.code == 1 and "no pair named 'nope' in the config (pairs: p)" in result.err
    with pytest.raises(SystemExit) as exit_:
        env.cli("sync", "run", "p", "--feature", "collection")
    assert exit_.value.code == 2
    env.pairs(env.pair("p", features=["watchlist"], enabled=False))
    result = env.cli("sync", "run", "p")
    assert result.code == 1 and "pair 'p' is disabled (enabled = false)" in result.err
    assert baselines(env) == []


def test_a_removal_that_failed_is_tried_again_on_the_next_run(sync_env: SyncEnv) -> None:
    env = sync_env
    env.keep_only_titles_with_ids()
    env.cw.configure({"pairs": [env.pair("p", features=["watchlist"], remove=True)], "trakt": {"max_retries": 0}})
    env.run("p")
    gone = some_title(env.plex_view("watchlist"), kind="movie")
    drop_from_plex(env, "watchlist", gone)
    env.emu.trakt.faults.add([{"method": "POST", "path": "/sync/watchlist/remove", "status": 503, "times": 5}])
    failed = env.run("p", code=1)
    assert totals(failed) == Counter(failed=1) and gone in env.trakt_view("watchlist")

    env.emu.trakt.faults.pending.clear()
    again = env.run("p", code=None)
    assert planned(again) == Counter(remove=1), "the removal that failed was forgotten, not tried again"
    assert again["ok"] and totals(again) == Counter(removed=1)
    assert gone not in env.trakt_view("watchlist")
