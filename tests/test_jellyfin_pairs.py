"""Sync pairs with Jellyfin end to end: ``crosswatch sync run`` in-process against the Plex, Trakt
and Jellyfin emulators (one seeded catalogue) over real HTTP on loopback, on both anyio backends
(``CROSSWATCH_BACKEND``), checked in the emulators' own state.

- Plex -> Jellyfin one-way, every feature: Jellyfin ends holding Plex's watchlist, ratings,
  history and progress for the titles whose ids both servers show; the others are unresolved
  and left alone; a second run writes nothing; a change on Plex arrives on the next run.
- Jellyfin <-> Trakt two-way: each side gets the other's, a change on either side arrives, the
  runs after that are quiet, and no play reaches Trakt twice.
- Plex <-> Jellyfin two-way history: a play on either side reaches the other once; three more
  runs (and a lost baseline) add no play anywhere.
- Jellyfin down, failing or answering empty during a run: nothing is removed on either side,
  and the run says why in one line (or, for an empty answer, refuses each feature).

At the end: Jellyfin keeps the date it is sent (``dated_now=False``), so crosswatch's writes to
it are not journalled as "now" echoes: a person's play right after crosswatch wrote a title
reaches Trakt, and a title unmarked right after is not marked again. One strict xfail holds
what it does not do yet: a newer Trakt play of a title Jellyfin has played never reaches it.

Jellyfin keeps one record per title and user (``Played``, ``PlayCount``, ``LastPlayedDate``):
a title written to it gets one play dated by the source's newest play. Titles are named on
every side by their catalogue key ``(type, trakt id)``.
"""

# ruff: noqa: F811  (the pytest fixtures imported from tests.sync_env are test arguments)
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from crosswatch.emulation.catalog import Kind, Media, Movie, Show
from crosswatch.emulation.server import serve_in_thread
from crosswatch_jellyfin.emulator import JELLYFIN, EmulatorSettings, MediaServerEmulator
from crosswatch_jellyfin.emulator.library import NO_IDS
from crosswatch_plex.emulator.library import LEGACY, LEGACY_TMDB, MODERN
from tests.capture_env import SEED, SIZE, Result
from tests.sync_env import (  # noqa: F401  (pytest fixtures)
    FEATURES,
    SyncEnv,
    canonical,
    cw_env,
    emulators,
    iso,
    sync_env,
)

pytestmark = pytest.mark.slow

Key = tuple[str, int]  # (type, trakt id) of the shared catalogue
TOLERANCE = 120  # sync.history_tolerance_s
TICKS_PER_MS = 10_000
LIBRARIES = 2  # Movies and Shows (the emulator's Music library is skipped)
PASSWORD_ENV = "CROSSWATCH_JELLYFIN_PASSWORD"


# -- the Jellyfin server ---------------------------------------------------------------------------


class JellyfinServer:
    """A Jellyfin emulator of the shared catalogue served from a thread; stopped and started on one port."""

    def __init__(self) -> None:
        self.emu = MediaServerEmulator(SEED, SIZE, flavour=JELLYFIN, settings=EmulatorSettings())
        self.port = 0
        self.url = ""
        self._stack: ExitStack | None = None

    def start(self) -> None:
        stack = ExitStack()
        url = stack.enter_context(serve_in_thread(self.emu, port=self.port))
        self.url, self.port, self._stack = url, int(url.rsplit(":", 1)[1]), stack

    def stop(self) -> None:
        """The server goes away: its port refuses connections until :meth:`start`."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None


@dataclass
class PairEnv:
    """``sync_env`` (Plex and Trakt) with a signed-in Jellyfin beside them, and Jellyfin's state by catalogue key."""

    sync: SyncEnv
    server: JellyfinServer
    settings: dict[str, Any] = field(default_factory=dict)  # [jellyfin] keys beyond url and user

    @property
    def jf(self) -> MediaServerEmulator:
        return self.server.emu

    @property
    def cw_state(self) -> Path:
        return self.sync.cw.folder / ".cw_state"

    # -- config and commands ----------------------------------------------------------------------

    def section(self) -> dict[str, Any]:
        return {"url": self.server.url, "user": self.jf.username, **self.settings}

    def configure(self, *pairs: dict[str, Any]) -> None:
        self.sync.cw.configure({"jellyfin": self.section(), "pairs": list(pairs)})

    def cli(self, *args: str) -> Result:
        return self.sync.cli(*args)

    def run(self, pair: str = "p", *flags: str, code: int | None = 0) -> dict[str, Any]:
        return self.sync.run(pair, *flags, code=code)

    def reset_stats(self) -> None:
        for emu in (self.jf, self.sync.emu.plex, self.sync.emu.trakt):
            emu.stats.reset()

    def jf_writes(self) -> list[str]:
        return [f"{w['method']} {w['path']}" for w in self.jf.stats.to_json()["writes"]]

    def jf_requests(self) -> int:
        return int(self.jf.stats.to_json()["total"])

    def trakt_writes(self) -> list[str]:
        return [f"{w['method']} {w['path']}" for w in self.sync.emu.trakt.stats.writes if "/sync/" in w["path"]]

    # -- Jellyfin's state -------------------------------------------------------------------------

    def key(self, index: int) -> Key:
        media = self.jf.library.media[index]
        return media.kind, media.trakt

    def media(self, key: Key) -> Media:
        found = self.jf.catalog.get(cast(Kind, key[0]), key[1])
        assert found is not None, key
        return found

    def jf_view(self, feature: str) -> Any:
        """What the administrator holds of ``feature`` on Jellyfin, by catalogue key.

        watchlist: set of keys (favourites); ratings: key -> rating; history: key ->
        (PlayCount, LastPlayedDate in epoch seconds or None) of the played titles; progress:
        key -> PlaybackPositionTicks.
        """
        store = self.jf.state.data[self.jf.user_id]
        if feature == "watchlist":
            return {self.key(i) for i, d in store.items() if d.favorite}
        if feature == "ratings":
            return {self.key(i): d.rating for i, d in store.items() if d.rating is not None}
        if feature == "history":
            return {
                self.key(i): (d.play_count, None if d.last_played is None else int(d.last_played))
                for i, d in store.items()
                if d.played
            }
        return {self.key(i): d.position for i, d in store.items() if d.position > 0}

    def jf_counts(self) -> dict[Key, int]:
        """The administrator's PlayCount of every title Jellyfin keeps data of (played or not)."""
        return {self.key(i): d.play_count for i, d in self.jf.state.data[self.jf.user_id].items()}

    def jf_plays(self) -> int:
        """Every play the administrator has on Jellyfin (the PlayCounts summed)."""
        return sum(d.play_count for d in self.jf.state.data[self.jf.user_id].values())

    def jf_dated_plays(self) -> Counter[tuple[str, int, int]]:
        """Jellyfin's history as the plays a tracker could take: one per played title that has a date."""
        return Counter((*k, when) for k, (_, when) in self.jf_view("history").items() if when is not None)

    def jf_percent(self, key: Key, ticks: int) -> float:
        runtime = self.jf.library.runtime_ticks(self.media(key))
        assert runtime
        return 100 * ticks / runtime

    def edit_jellyfin(self, change: Any) -> None:
        """Change the users' state JSON in place and load it (no request may be running)."""
        state = self.jf.state_json()
        change(state)
        self.jf.load_state(state)

    # -- a person using a Jellyfin client ---------------------------------------------------------

    def as_a_person(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request to Jellyfin as the administrator's web client would send it."""
        token = self.jf.sign_in(device_id="jellyfin-web-of-a-person")
        headers = {"Authorization": f'MediaBrowser Client="Jellyfin Web", Token="{token}"'}
        reply = httpx.request(method, self.server.url + path, headers=headers, timeout=10, **kwargs)
        assert reply.status_code < 300, reply.text
        return reply

    def play_on_jellyfin(self, key: Key) -> None:
        """Watch a title to its end in a client: playback start and stop reports (PlayCount + 1, dated now)."""
        media = self.media(key)
        item = self.jf.item_id(media)
        self.as_a_person("POST", "/Sessions/Playing", json={"ItemId": item})
        end = self.jf.library.runtime_ticks(media)
        self.as_a_person("POST", "/Sessions/Playing/Stopped", json={"ItemId": item, "PositionTicks": end})

    def favourite_on_jellyfin(self, key: Key) -> None:
        self.as_a_person("POST", f"/Users/{self.jf.user_id}/FavoriteItems/{self.jf.item_id(self.media(key))}")

    def rate_on_jellyfin(self, key: Key, rating: float) -> None:
        item = self.jf.item_id(self.media(key))
        self.as_a_person("POST", f"/Users/{self.jf.user_id}/Items/{item}/UserData", json={"Rating": rating})

    # -- which titles can be matched ----------------------------------------------------------------

    def jf_ids(self, media: Media) -> set[str]:
        """The id names Jellyfin shows for ``media``'s title (a series' hold for its seasons and episodes)."""
        lib = self.jf.library
        return {name.lower() for name in lib.provider_ids(lib.title_of(media))}

    def plex_ids(self, key: Key, feature: str) -> set[str]:
        """The id names Plex shows for the title of ``key`` (the watchlist comes from Discover, which has all)."""
        lib = self.sync.emu.plex.library
        media = lib.catalog.get(cast(Kind, key[0]), key[1])
        assert media is not None, key
        title = lib.title_of(media)
        every = {"imdb", "tmdb"} | ({"tvdb"} if isinstance(title, Show) else set())
        style = lib.style_of(media)
        if feature == "watchlist" or style == MODERN:
            return every
        if style == LEGACY:
            return {"imdb"} if isinstance(title, Movie) else {"tvdb"}
        return {"tmdb"} if style == LEGACY_TMDB else set()

    def plex_matches(self, key: Key, feature: str) -> bool:
        """Whether Plex's and Jellyfin's ids of this title meet (no fuzzy matching: else unresolved)."""
        return bool(self.plex_ids(key, feature) & self.jf_ids(self.media(key)))

    def trakt_matches(self, key: Key) -> bool:
        """Trakt has every id: a title matches unless Jellyfin shows none for it."""
        media = self.media(key)
        return self.jf.library.style[self.jf.library.title_of(media)] != NO_IDS

    def unplayed_movie(self, *, skip: int = 0) -> Key:
        """A movie with no play and no resume position on any side, that every side can match."""
        played = (
            set(self.jf_counts())
            | self.sync.plex_titles_played()
            | set(self.sync.plex_view("progress"))
            | {k[:2] for k in self.sync.trakt_view("history")}
            | set(self.sync.trakt_view("progress"))
        )
        found = [
            ("movie", m.trakt)
            for m in self.jf.catalog.movies
            if ("movie", m.trakt) not in played
            and self.plex_matches(("movie", m.trakt), "history")
            and self.trakt_matches(("movie", m.trakt))
        ]
        return found[skip]


@pytest.fixture
def env(sync_env: SyncEnv, anyio_backend: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[PairEnv]:
    """Plex and Trakt at their seeded state, a fresh Jellyfin, signed in by password (the plugin's env var)."""
    monkeypatch.setenv("CROSSWATCH_BACKEND", anyio_backend)
    server = JellyfinServer()
    server.start()
    try:
        pair_env = PairEnv(sync_env, server)
        pair_env.configure()
        monkeypatch.setenv(PASSWORD_ENV, server.emu.password)
        signed = pair_env.cli("auth", "jellyfin")
        assert signed.code == 0 and "by password" in signed.out, signed.err
        monkeypatch.delenv(PASSWORD_ENV)
        yield pair_env
    finally:
        server.stop()


# -- helpers ---------------------------------------------------------------------------------------


def pair(
    source: str, target: str, *, mode: str = "one-way", features: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """The pair ``p``, every feature unless ``features`` names some."""
    return SyncEnv.pair("p", source, target, mode=mode, features=features, **extra)


def totals(report: dict[str, Any], target: str | None = None) -> Counter[str]:
    out: Counter[str] = Counter()
    for row in report["summary"]:
        if target is None or row["target"] == target:
            out.update({k: row[k] for k in ("added", "updated", "removed", "failed", "unresolved")})
    return out


def assert_quiet(env: PairEnv, report: dict[str, Any], features: int) -> None:
    """A run that found the sides in step: no plan, no write, one Jellyfin request per library and feature."""
    assert report["ok"] and report["refused"] == {}, report
    assert report["plan"] == [] and report["summary"] == [], (report["plan"], report["summary"])
    assert env.jf_writes() == [] and env.trakt_writes() == [] and env.sync.emu.plex.stats.writes == []
    assert env.jf_requests() <= LIBRARIES * features


def newest_plays(plays: Counter[tuple[str, int, int]]) -> dict[Key, int]:
    """Each title's newest play (epoch seconds)."""
    out: dict[Key, int] = {}
    for kind, trakt, when in plays:
        out[(kind, trakt)] = max(when, out.get((kind, trakt), when))
    return out


def near(plays: Counter[tuple[str, int, int]], key: Key, when: int) -> bool:
    return any((k, t) == key and abs(w - when) <= TOLERANCE for k, t, w in plays)


def new_plays(source: Counter[tuple[str, int, int]], target: Counter[tuple[str, int, int]]) -> Counter:
    """The plays of ``source`` a target holding ``target`` lacks (one per second of a title)."""
    return Counter({p: 1 for p in sorted(set(source)) if not near(target, p[:2], p[2])})


def assert_each_play_once(before: Counter, after: Counter) -> None:
    """What a run added holds no play twice and no play next to one that was there."""
    gained = after - before
    assert all(n == 1 for n in gained.values()), f"a play was written twice: {gained}"
    for kind, trakt, when in gained:
        assert not near(before, (kind, trakt), when), f"{(kind, trakt)} got a play next to one it had"
        others = Counter({p: n for p, n in gained.items() if p != (kind, trakt, when)})
        assert not near(others, (kind, trakt), when), f"{(kind, trakt)} got two plays at once"


def moves_on(held: tuple[int, int | None], newest: int) -> bool:
    """Whether a title Jellyfin holds (play count, date) takes a newer play: its date moves on to it."""
    return held[1] is not None and newest > held[1] + TOLERANCE


# -- Plex -> Jellyfin, one-way, every feature -------------------------------------------------------


def test_plex_to_jellyfin_copies_what_jellyfin_can_match_and_leaves_plex_alone(env: PairEnv) -> None:
    env.configure(pair("plex", "jellyfin"))
    plex = env.sync
    source = {f: plex.plex_view(f) for f in FEATURES}
    before = {f: env.jf_view(f) for f in FEATURES}
    counts = env.jf_counts()
    matched = {
        f: {k for k in (source[f] if f != "history" else newest_plays(source[f])) if env.plex_matches(k, f)}
        for f in FEATURES
    }
    # the titles (history: played titles) Jellyfin cannot find; Plex leaves plays of titles it
    # shows no id for out of its history (plex.history_require_external_ids), so those never come
    titles = {f: {k[:2] for k in source[f]} for f in FEATURES}
    titles["history"] = {k for k in titles["history"] if env.plex_ids(k, "history")}
    unmatched = {f: len(titles[f] - matched[f]) for f in FEATURES}
    assert all(matched.values()) and sum(unmatched.values()) > 0, "the seeded sides hold both kinds"
    plex_before = canonical(plex.plex_state())
    env.reset_stats()

    first = env.run()
    assert first["ok"] and first["refused"] == {}, first
    done = totals(first)
    assert done["failed"] == done["removed"] == 0, first["summary"]
    after = {f: env.jf_view(f) for f in FEATURES}

    assert after["watchlist"] == before["watchlist"] | matched["watchlist"]
    ratings = dict(before["ratings"])
    ratings.update({k: float(v) for k, v in source["ratings"].items() if k in matched["ratings"]})
    assert after["ratings"] == ratings, "one-way: Plex's rating wins on every title both have"
    newest = newest_plays(source["history"])
    history = dict(before["history"])
    moved = set()
    for key in matched["history"]:
        # one play, dated by Plex's newest, however many Plex has: of a title Jellyfin had not
        # played, or had played before Plex's newest play (its one date moves on to that play)
        if key not in before["history"] or moves_on(before["history"][key], newest[key]):
            history[key] = (counts.get(key, 0) + 1, newest[key])
            moved |= {key} if key in before["history"] else set()
    assert moved, "the seeded sides hold titles Plex has played since Jellyfin did"
    assert after["history"] == history, "a title was played again on Jellyfin without a newer play, or one went missing"
    offsets = plex_offsets(env)
    for key in matched["progress"]:
        ticks = offsets[key] * TICKS_PER_MS  # Plex's viewOffset (ms) as Jellyfin's ticks
        if key in before["progress"]:  # moved to Plex's position, or kept where it was further on
            assert after["progress"][key] in (before["progress"][key], ticks), key
        else:
            assert after["progress"][key] == ticks, key
    # marking a title played clears its resume position (the server's rule): Plex had played those
    marked = (matched["history"] - set(before["history"])) | moved
    assert set(after["progress"]) == (set(before["progress"]) - marked) | matched["progress"]

    # the titles Jellyfin has no matching ids for: unresolved, listed once each, nothing written for them
    unresolved = {row["feature"]: row["unresolved"] for row in _by_feature(first)}
    assert unresolved == {f: unmatched[f] for f in FEATURES if unmatched[f]}, first["summary"]
    listed = Counter(r["feature"] for r in env.sync.cw.json("unresolved", "list", "--json"))
    assert listed == Counter({f: n for f, n in unmatched.items() if n})
    assert canonical(plex.plex_state()) == plex_before and plex.emu.plex.stats.writes == [], "the source was written"

    # nothing changed: nothing written, one request per library and feature on Jellyfin
    env.reset_stats()
    assert_quiet(env, env.run(), len(FEATURES))
    assert {f: env.jf_view(f) for f in FEATURES} == after

    # a change on Plex arrives on the next run, and only it
    now = int(time.time())
    listed_key = next(
        ("movie", m.trakt)
        for m in env.jf.catalog.movies
        if ("movie", m.trakt) not in source["watchlist"] | after["watchlist"]
        and env.plex_matches(("movie", m.trakt), "watchlist")
    )
    rated_key = next(k for k in sorted(matched["ratings"]) if k[0] == "movie")
    played_key = env.unplayed_movie()

    def plex_changes(user: dict[str, Any]) -> None:
        user["watchlist"].append({"type": "movie", "trakt": listed_key[1], "watchlistedAt": now - 30})
        for entry in user["ratings"]:
            if (entry["type"], entry["ids"]["trakt"]) == rated_key:
                entry["rating"], entry["ratedAt"] = (2.0 if entry["rating"] != 2.0 else 3.0), now - 20
        user["plays"].append({"type": "movie", "trakt": played_key[1], "viewedAt": now - 3600})

    plex.edit_plex(plex_changes)
    new_rating = plex.plex_view("ratings")[rated_key]
    env.reset_stats()
    third = env.run()
    assert third["ok"] and sorted((r["feature"], r["add"], r["update"]) for r in third["plan"]) == [
        ("history", 1, 0),
        ("ratings", 0, 1),
        ("watchlist", 1, 0),
    ], third["plan"]
    assert listed_key in env.jf_view("watchlist")
    assert env.jf_view("ratings")[rated_key] == new_rating
    assert env.jf_view("history")[played_key] == (1, now - 3600)
    assert Counter(w.split()[0] for w in env.jf_writes()) == Counter(POST=3), env.jf_writes()
    env.reset_stats()
    assert_quiet(env, env.run(), len(FEATURES))


def plex_offsets(env: PairEnv) -> dict[Key, int]:
    """The Plex owner's resume positions (viewOffset, ms) by catalogue key."""
    user = env.sync.plex_state()["users"]["1"]
    return {(e["type"], int(e["ids"]["trakt"])): int(e["viewOffset"]) for e in user["progress"]}


def _by_feature(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary summed per feature (rows with unresolved items only)."""
    out: dict[str, Counter[str]] = {}
    for row in report["summary"]:
        out.setdefault(row["feature"], Counter()).update({"unresolved": row["unresolved"]})
    return [{"feature": f, **c} for f, c in out.items() if c["unresolved"]]


# -- Jellyfin <-> Trakt, two-way, every feature -----------------------------------------------------


def test_jellyfin_and_trakt_two_way_carry_changes_both_ways_and_never_a_play_twice(env: PairEnv) -> None:
    env.configure(pair("jellyfin", "trakt", mode="two-way"))
    trakt = env.sync
    jf_before = {f: env.jf_view(f) for f in FEATURES}
    tr_before = {f: trakt.trakt_view(f) for f in FEATURES}
    first = env.run()
    assert first["ok"] and totals(first)["failed"] == 0, first["summary"]
    assert totals(first, "JELLYFIN")["added"] > 0 and totals(first, "TRAKT")["added"] > 0

    # history: Trakt took each dated Jellyfin play it had none near, once; Jellyfin took each title
    # Trakt had played and it had not, with one play dated by Trakt's newest
    jf_plays = Counter({p: n for p, n in env_plays(env, jf_before["history"]).items() if env.trakt_matches(p[:2])})
    tr_after = trakt.trakt_view("history")
    assert tr_after == tr_before["history"] + new_plays(jf_plays, tr_before["history"])
    assert_each_play_once(tr_before["history"], tr_after)
    jf_after = env.jf_view("history")
    newest = newest_plays(tr_before["history"])
    for key, (count, when) in jf_after.items():
        if key in jf_before["history"]:
            was = jf_before["history"][key]
            if key in newest and env.trakt_matches(key) and moves_on(was, newest[key]):
                assert (count, when) == (was[0] + 1, newest[key]), f"{key}: Trakt's newer play did not reach it"
            else:
                assert (count, when) == was, f"{key} was played again on Jellyfin"
        else:
            assert key in newest and env.trakt_matches(key) and when == newest[key], key
    gained = set(jf_after) - set(jf_before["history"])
    assert gained == {k for k in newest if env.trakt_matches(k)} - set(jf_before["history"])
    # watchlist and ratings: each side holds the other's (a rating held differently on both stays)
    assert trakt.trakt_view("watchlist") == tr_before["watchlist"] | {
        k for k in jf_before["watchlist"] if env.trakt_matches(k)
    }
    assert env.jf_view("watchlist") == jf_before["watchlist"] | {
        k for k in tr_before["watchlist"] if env.trakt_matches(k)
    }
    jf_ratings, tr_ratings = env.jf_view("ratings"), trakt.trakt_view("ratings")
    for key in set(jf_before["ratings"]) | set(tr_before["ratings"]):
        if not env.trakt_matches(key):
            continue
        was_jf, was_tr = jf_before["ratings"].get(key), tr_before["ratings"].get(key)
        if was_jf is not None and was_tr is not None:
            assert (jf_ratings[key], tr_ratings[key]) == (was_jf, was_tr), key
        else:
            assert round(jf_ratings[key]) == tr_ratings[key] == round(was_jf or was_tr or 0), key
    assert set(env.jf_view("progress")) >= {k for k in tr_before["progress"] if env.trakt_matches(k)}

    env.reset_stats()
    assert_quiet(env, env.run(), len(FEATURES))

    # a change on each side, the way people make them
    now = int(time.time())
    both_rated = sorted(set(env.jf_view("ratings")) & set(trakt.trakt_view("ratings")))
    rated_on_trakt, rated_on_jf = both_rated[0], both_rated[1]
    new_on_trakt = 3 if trakt.trakt_view("ratings")[rated_on_trakt] != 3 else 4
    played_on_trakt = env.unplayed_movie()
    played_on_jf = env.unplayed_movie(skip=1)
    resumable = set(env.jf_view("progress")) | set(trakt.trakt_view("progress"))
    played_again = next(
        k for k in sorted(env.jf_view("history")) if k[0] == "movie" and env.trakt_matches(k) and k not in resumable
    )
    favourite = next(
        ("movie", m.trakt)
        for m in env.jf.catalog.movies
        if ("movie", m.trakt) not in env.jf_view("watchlist") | trakt.trakt_view("watchlist")
        and env.trakt_matches(("movie", m.trakt))
    )

    def trakt_changes(state: dict[str, Any]) -> None:
        state["ratings"] = [e for e in state["ratings"] if (e["type"], e["trakt"]) != rated_on_trakt]
        state["ratings"].append(
            {"type": rated_on_trakt[0], "trakt": rated_on_trakt[1], "rating": new_on_trakt, "rated_at": iso(now)}
        )
        state["history"].append({"type": "movie", "trakt": played_on_trakt[1], "watched_at": iso(now - 7200)})

    trakt.edit_trakt(trakt_changes)
    new_on_jf = 2.0 if env.jf_view("ratings")[rated_on_jf] != 2.0 else 5.0
    env.rate_on_jellyfin(rated_on_jf, new_on_jf)
    env.favourite_on_jellyfin(favourite)
    env.play_on_jellyfin(played_on_jf)
    env.play_on_jellyfin(played_again)  # a title both sides had played: its newest play is now this one
    jf_times = {k: env.jf_view("history")[k][1] for k in (played_on_jf, played_again)}
    tr_history = trakt.trakt_view("history")
    jf_plays_before = env.jf_plays()

    env.reset_stats()
    report = env.run()
    assert report["ok"]
    assert sorted((r["feature"], r["target"], r["add"], r["update"]) for r in report["plan"]) == [
        ("history", "JELLYFIN", 1, 0),
        ("history", "TRAKT", 2, 0),
        ("ratings", "JELLYFIN", 0, 1),
        ("ratings", "TRAKT", 0, 1),
        ("watchlist", "TRAKT", 1, 0),
    ], report["plan"]
    assert env.jf_view("ratings")[rated_on_trakt] == new_on_trakt
    assert trakt.trakt_view("ratings")[rated_on_jf] == int(new_on_jf)
    assert favourite in trakt.trakt_view("watchlist")
    assert env.jf_view("history")[played_on_trakt] == (1, now - 7200)
    synced = trakt.trakt_view("history")
    assert synced == tr_history + Counter({("movie", k[1], jf_times[k]): 1 for k in (played_on_jf, played_again)})
    assert env.jf_plays() == jf_plays_before + 1, "Jellyfin got more than the one play from Trakt"

    # the runs after that: quiet, and no play anywhere twice
    for _ in range(2):
        env.reset_stats()
        assert_quiet(env, env.run(), len(FEATURES))
        assert trakt.trakt_view("history") == synced and env.jf_plays() == jf_plays_before + 1
    assert_each_play_once(tr_before["history"], synced)


def env_plays(env: PairEnv, history: dict[Key, tuple[int, int | None]]) -> Counter[tuple[str, int, int]]:
    """A Jellyfin history view as the plays a tracker takes: one per title with a date."""
    return Counter((*k, when) for k, (_, when) in history.items() if when is not None)


# -- Plex <-> Jellyfin, two-way history -------------------------------------------------------------


def test_plex_and_jellyfin_two_way_history_adds_each_play_once_and_never_again(env: PairEnv) -> None:
    """Both sides keep no play dates of their own writes (Plex dates them now, Jellyfin keeps one
    date per title): a title played on one side reaches the other once, and runs after that,
    even one without a baseline, add nothing."""
    env.configure(pair("plex", "jellyfin", mode="two-way", features=["history"]))
    plex = env.sync
    plex_before, jf_before, counts = plex.plex_view("history"), env.jf_view("history"), env.jf_counts()
    began = int(time.time())
    first = env.run()
    assert first["ok"] and totals(first)["failed"] == 0, first["summary"]
    # Plex: one play (at now) for each title Jellyfin had a dated play of and Plex none
    gained = plex.plex_view("history") - plex_before
    expected = {k for k, (_, when) in jf_before.items() if when is not None and env.plex_matches(k, "history")} - {
        p[:2] for p in plex_before
    }
    assert {p[:2] for p in gained} == expected and all(n == 1 for n in gained.values())
    assert all(when >= began - 2 for _, _, when in gained), "Plex records a written play at the time of the write"
    assert sum(gained.values()) == len(expected)
    newest = newest_plays(plex_before)
    jf_gained = {k: v for k, v in env.jf_view("history").items() if k not in jf_before}
    assert jf_gained == {
        k: (counts.get(k, 0) + 1, newest[k]) for k in newest if env.plex_matches(k, "history") and k not in jf_before
    }

    # a play on each side
    on_plex, on_jf = env.unplayed_movie(), env.unplayed_movie(skip=1)
    watched = int(time.time()) - 3600
    plex.edit_plex(lambda user: user["plays"].append({"type": "movie", "trakt": on_plex[1], "viewedAt": watched}))
    env.play_on_jellyfin(on_jf)
    jf_when = env.jf_view("history")[on_jf][1]
    assert jf_when is not None
    began = int(time.time())

    after = []
    for run in range(3):
        env.reset_stats()
        report = env.run()
        assert report["ok"], report
        if run == 0:
            assert sorted((r["target"], r["add"]) for r in report["plan"]) == [("JELLYFIN", 1), ("PLEX", 1)]
        else:
            assert_quiet(env, report, 1)
        after.append((plex.plex_view("history"), env.jf_view("history"), env.jf_plays()))
    assert after[0] == after[1] == after[2], "a run after the first added plays"
    plex_now, jf_now, _ = after[0]
    (written,) = [p for p in plex_now.elements() if p[:2] == on_jf]  # one play, recorded by Plex at the write
    assert written[2] >= began - 2
    assert jf_now[on_plex] == (1, watched), "Jellyfin holds the Plex play once, with its date"
    assert jf_now[on_jf] == (1, jf_when)

    # the play written to Plex (dated "now" there) is on record as crosswatch's in the write-ahead journal
    echoes = json.loads((env.cw_state / "plex_history.journal.json").read_text())["echoes"]
    assert any(e["item"].get("ids", {}).get("imdb") == imdb_of(env, on_jf) for e in echoes), echoes

    # the pair's baseline lost: still a first run that adds no play anywhere
    for name in ("baseline", "settled"):
        (env.cw_state / f"sync_p_history.{name}.json").unlink(missing_ok=True)
    env.reset_stats()
    lost = env.run()
    assert lost["ok"] and lost["plan"] == [], lost["plan"]
    assert (plex.plex_view("history"), env.jf_view("history"), env.jf_plays()) == after[0]
    assert env.jf_writes() == [] and plex.emu.plex.stats.writes == []


def imdb_of(env: PairEnv, key: Key) -> str:
    media = env.media(key)
    assert isinstance(media, Movie)
    return media.imdb


# -- Jellyfin down, failing, or answering empty ---------------------------------------------------


DOWN = ["stopped", "answering 503", "answering with nothing"]


@pytest.mark.parametrize("how", DOWN)
def test_a_jellyfin_that_is_down_removes_nothing_anywhere(env: PairEnv, how: str) -> None:
    env.settings = {"max_retries": 1}
    features = ["watchlist", "ratings", "history"]
    env.configure(pair("jellyfin", "trakt", mode="two-way", features=features, remove=True))
    env.run()
    held = _holdings(env, features)
    # a change on Trakt a run would write to Jellyfin
    rated = next(k for k in sorted(env.sync.trakt_view("ratings")) if k[0] == "movie")
    new = 3 if env.sync.trakt_view("ratings")[rated] != 3 else 4

    def rate(state: dict[str, Any]) -> None:
        for entry in state["ratings"]:
            if (entry["type"], entry["trakt"]) == rated:
                entry["rating"], entry["rated_at"] = new, iso(int(time.time()))

    env.sync.edit_trakt(rate)
    trakt = canonical(env.sync.trakt_state())
    jellyfin = env.jf.state_json()
    files = {p.name: p.read_bytes() for p in env.cw_state.glob("sync_*")}

    if how == "stopped":
        env.server.stop()
    elif how == "answering 503":
        env.jf.settings.update({"error_rate": 1.0})
    else:  # the server answers, but the user holds nothing (another account? a wiped database?)
        env.edit_jellyfin(lambda state: [u.update(data=[]) for u in state["users"]])

    result = env.cli("sync", "run", "p", "--json")
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err
    if how == "answering with nothing":
        report = json.loads(result.out)
        assert set(report["refused"]) == set(features) and report["summary"] == []
        for feature, message in report["refused"].items():
            assert f"JELLYFIN {feature} read 0 items" in message and "looks like an outage" in message
    else:
        errors = [line for line in result.err.splitlines() if line.startswith("crosswatch:")]
        assert len(errors) == 1 and result.out == "", result.err
        (line,) = errors
        assert line.startswith("crosswatch: Jellyfin"), line
        if how == "answering 503":
            assert any(f"HTTP {status}" in line for status in (500, 502, 503)), line
        else:
            assert env.server.url in line and "ConnectError" in line, line
    assert canonical(env.sync.trakt_state()) == trakt, "Trakt was written during Jellyfin's outage"
    if how != "answering with nothing":
        assert env.jf.state_json() == jellyfin
    assert {p.name: p.read_bytes() for p in env.cw_state.glob("sync_*")} == files, "a baseline moved"

    # back up: the change arrives, and nothing either side held was removed
    if how == "stopped":
        env.server.start()
    elif how == "answering 503":
        env.jf.settings.update({"error_rate": 0.0})
    else:
        env.jf.load_state(jellyfin)
    report = env.run()
    assert report["ok"] and totals(report)["removed"] == 0, report["summary"]
    assert env.jf_view("ratings")[rated] == new
    for feature, (jf_held, trakt_held) in held.items():
        assert set(jf_held) <= set(env.jf_view(feature)), f"Jellyfin lost {feature}"
        assert set(trakt_held) <= set(env.sync.trakt_view(feature)), f"Trakt lost {feature}"


def _holdings(env: PairEnv, features: list[str]) -> dict[str, tuple[Any, Any]]:
    return {f: (env.jf_view(f), env.sync.trakt_view(f)) for f in features}


# -- a side that keeps one date per title (Jellyfin) is not one that dates plays "now" ----------------


def _converged(env: PairEnv) -> None:
    """A Jellyfin <-> Trakt history pair after its first run and a quiet second one."""
    env.configure(pair("jellyfin", "trakt", mode="two-way", features=["history"]))
    env.run()
    env.reset_stats()
    assert_quiet(env, env.run(), 1)


def _trakt_play(env: PairEnv, key: Key, when: int) -> None:
    env.sync.edit_trakt(
        lambda state: state["history"].append({"type": key[0], "trakt": key[1], "watched_at": iso(when)})
    )


def test_a_play_on_jellyfin_soon_after_crosswatch_wrote_the_title_reaches_trakt(env: PairEnv) -> None:
    _converged(env)
    title = env.unplayed_movie()
    _trakt_play(env, title, int(time.time()) - 5 * 86_400)
    env.run()  # the title reaches Jellyfin, dated by its Trakt play
    env.play_on_jellyfin(title)  # then the person watches it again, within the hour
    again = env.jf_view("history")[title][1]
    env.run()
    env.run()
    assert (*title, again) in env.sync.trakt_view("history"), "the person's new play never reached Trakt"


def test_a_new_trakt_play_of_a_title_jellyfin_has_played_reaches_jellyfin(env: PairEnv) -> None:
    _converged(env)
    title = next(k for k in sorted(env.jf_view("history")) if k[0] == "movie" and env.trakt_matches(k))
    count, _ = env.jf_view("history")[title]
    when = int(time.time()) - 3 * 86_400
    _trakt_play(env, title, when)
    report = env.run()
    assert env.jf_view("history")[title] == (count + 1, when), report["plan"]
    trakt = env.sync.trakt_view("history")
    env.reset_stats()
    assert_quiet(env, env.run(), 1)
    assert env.sync.trakt_view("history") == trakt


def test_a_title_played_again_on_jellyfin_keeps_its_earlier_plays_on_trakt(env: PairEnv) -> None:
    # with removals on: Jellyfin's one date moving on to the new play is no removal of the old one
    env.configure(pair("jellyfin", "trakt", mode="two-way", features=["history"], remove=True))
    env.run()
    env.reset_stats()
    assert_quiet(env, env.run(), 1)
    title = next(k for k in sorted(env.jf_view("history")) if k[0] == "movie" and env.trakt_matches(k))
    earlier = Counter(p for p in env.sync.trakt_view("history").elements() if p[:2] == title)
    assert earlier, "the title's plays reached Trakt"
    env.play_on_jellyfin(title)
    again = env.jf_view("history")[title][1]
    for _ in range(2):
        assert totals(env.run())["removed"] == 0
    now = Counter(p for p in env.sync.trakt_view("history").elements() if p[:2] == title)
    assert now == earlier + Counter({(*title, again): 1}), "Trakt lost a play, or got one twice"


def test_a_title_unmarked_on_jellyfin_after_crosswatch_wrote_it_is_not_marked_again(env: PairEnv) -> None:
    _converged(env)
    title, other = env.unplayed_movie(), env.unplayed_movie(skip=1)
    _trakt_play(env, title, int(time.time()) - 50 * 86_400)
    env.run()
    assert title in env.jf_view("history")
    # the person unmarks it on Jellyfin; meanwhile something else is played on Trakt
    env.as_a_person("DELETE", f"/Users/{env.jf.user_id}/PlayedItems/{env.jf.item_id(env.media(title))}")
    _trakt_play(env, other, int(time.time()) - 86_400)
    env.run()
    assert other in env.jf_view("history")
    assert title not in env.jf_view("history"), "the title the person unmarked on Jellyfin was marked again"
