"""The user's data drawn from the catalogue, deterministically for a seed.

From ``random.Random`` seeded with the seed and no clock (times end on 2026-01-01 UTC and
reach back five years), so the same ``(size, seed, plays)`` always gives the same state:

- watchlist: about 5 % of the movies and shows, a few seasons and episodes, listed in rank
  order (at most 80 % of the watchlist cap on a free account);
- ratings of all four kinds (about 15 % of the movies and shows, some seasons and
  episodes), 1-10 leaning to 7-8, with ``rated_at``;
- history: about 30 % of the movies (some played two or three times) and about 25 % of
  the shows watched season by season, actions watch/scrobble/checkin; ``plays=N`` forces
  exactly N plays (a subset, or rewatches on top); history ids follow ``watched_at``;
- playback: a few unfinished movies and next episodes with progress and ``paused_at``;
- collection: about 20 % of the movies and the episodes of about 10 % of the shows
  (at most 80 % of the collection cap).
"""

from __future__ import annotations

import gc
import math
import random
from datetime import UTC, datetime

from crosswatch.emulation.catalog import Catalog
from crosswatch_trakt.emulator.userstate import Key, UserState

END_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
SPAN_MS = 5 * 365 * 86_400_000
DAY_MS = 86_400_000
RATING_WEIGHTS = (1, 1, 2, 3, 5, 8, 12, 12, 8, 5)


def _room(cap: int | None, wanted: int) -> int:
    return wanted if cap is None else min(wanted, int(cap * 0.8))


def generate_state(
    catalog: Catalog,
    seed: int,
    *,
    plays: int | None = None,
    caps: dict[str, int | None] | None = None,
) -> UserState:
    """The seeded user state over ``catalog`` (see the module docstring)."""
    enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of small objects: no point scanning them midway
    try:
        return _generate(catalog, seed, plays, caps or {})
    finally:
        if enabled:
            gc.enable()


def _generate(catalog: Catalog, seed: int, plays: int | None, caps: dict[str, int | None]) -> UserState:
    rng = random.Random(f"crosswatch-trakt-user:{seed}")
    rand = rng.random
    state = UserState(
        catalog,
        base_ms=END_MS,
        first_ids={
            "history": 1_000_000_000 + rng.randrange(1_000_000_000),
            "list": 100_000_000 + rng.randrange(100_000_000),
            "playback": 1_000_000 + rng.randrange(1_000_000),
        },
    )

    def when(span: int = SPAN_MS) -> int:
        return END_MS - int(rand() * span) // 1000 * 1000

    movies, shows = catalog.movies, catalog.shows
    seasons = [s for show in shows for s in show.seasons]

    def some(items: list, share: float, at_least: int = 0) -> list:
        return rng.sample(items, min(len(items), max(at_least, math.ceil(len(items) * share))))

    # watchlist, in rank order (oldest first)
    listed: list[Key] = [("movie", m.trakt) for m in some(movies, 0.05, 1)]
    listed += [("show", s.trakt) for s in some(shows, 0.05, 1)]
    listed += [("season", s.trakt) for s in some(seasons, 0.005, 1)]
    episodes_sample = [ep for show in some(shows, 0.02, 1) for ep in show.seasons[-1].episodes[:1]]
    listed += [("episode", ep.trakt) for ep in episodes_sample]
    rng.shuffle(listed)
    listed = listed[: _room(caps.get("watchlist"), len(listed))]
    for key, at in zip(listed, sorted(when() for _ in listed), strict=True):
        state.watch(key, at)

    # ratings
    rated: list[Key] = [("movie", m.trakt) for m in some(movies, 0.15, 1)]
    rated_shows = some(shows, 0.15, 1)
    rated += [("show", s.trakt) for s in rated_shows]
    rated += [("season", show.seasons[0].trakt) for show in rated_shows[: max(1, len(rated_shows) // 3)]]
    rated += [
        ("episode", ep.trakt)
        for show in rated_shows[: max(1, len(rated_shows) // 2)]
        for ep in show.seasons[0].episodes[:2]
    ]
    rated = rated[: _room(caps.get("ratings"), len(rated))]
    scores = rng.choices(range(1, 11), weights=RATING_WEIGHTS, k=len(rated))
    for key, score in zip(rated, scores, strict=True):
        state.rate(key, score, when())

    # history: (watched_at, key) pairs, ids assigned in time order below
    history: list[tuple[int, Key]] = []
    watched_movies = some(movies, 0.30)
    for movie in watched_movies:
        count = 1 if rand() < 0.8 else (2 if rand() < 0.75 else 3)
        history += [(when(), ("movie", movie.trakt)) for _ in range(count)]
    watched_shows = some(shows, 0.25)
    next_up: list[Key] = []
    for show in watched_shows:
        at = when()
        upto = 1 + int(rand() * len(show.seasons))
        for season in show.seasons[:upto]:
            for ep in season.episodes:
                history.append((min(at, END_MS), ("episode", ep.trakt)))
                at += DAY_MS // 2 + int(rand() * 2 * DAY_MS) // 1000 * 1000
        if upto < len(show.seasons):
            next_up.append(("episode", show.seasons[upto].episodes[0].trakt))
    if plays is not None:
        history = _exactly(history, plays, catalog, rng, when)
    history.sort()
    actions = rng.choices(("watch", "scrobble", "checkin"), weights=(7, 2, 1), k=len(history))
    for (at, key), action in zip(history, actions, strict=True):
        state.add_play(key, at, action)

    # playback: unfinished movies and next episodes
    watched = {m.trakt for m in watched_movies}
    unfinished = [("movie", m.trakt) for m in movies if m.trakt not in watched][:4] + next_up[:4]
    for key in unfinished:
        state.pause(key, round(1 + rand() * 94, 2), when(60 * DAY_MS))

    # collection
    collected: list[Key] = [("movie", m.trakt) for m in some(movies, 0.20)]
    collected += [("episode", ep.trakt) for show in some(shows, 0.10) for ep in show.episodes()]
    collected = collected[: _room(caps.get("collection"), len(collected))]
    for key in collected:
        state.collect(key, when())

    _stamp_activities(state)
    return state


def _stamp_activities(state: UserState) -> None:
    """The stamps of a fresh state: the newest time each group holds (the oldest time if none)."""
    floor = END_MS - SPAN_MS
    newest: dict[tuple[str, str], int] = {}

    def seen(kind: str, stamp: str, at: int) -> None:
        key = (kind + "s", stamp)
        newest[key] = max(newest.get(key, floor), at)

    for entry in state.watchlist.values():
        seen(entry.key[0], "watchlisted_at", entry.listed_at)
        newest[("watchlist", "updated_at")] = max(newest.get(("watchlist", "updated_at"), floor), entry.listed_at)
    for rating in state.ratings.values():
        seen(rating.key[0], "rated_at", rating.rated_at)
    for play in state.plays.values():
        seen(play.key[0], "watched_at", play.watched_at)
    for playback in state.playback.values():
        seen(playback.key[0], "paused_at", playback.paused_at)
    for key, at in state.collection.items():
        seen(key[0], "collected_at", at)
    for group, stamps in state.activities.stamps.items():
        for stamp in stamps:
            stamps[stamp] = newest.get((group, stamp), floor)
    state.activities.last = max(max(g.values()) for g in state.activities.stamps.values())


def _exactly(history: list[tuple[int, Key]], plays: int, catalog: Catalog, rng: random.Random, when) -> list:
    """``plays`` plays: a seeded subset of ``history``, or all of it plus rewatches."""
    if plays < 0:
        raise ValueError("plays must be >= 0")
    if plays <= len(history):
        return rng.sample(history, plays)
    pool = [key for _, key in history] or [("movie", m.trakt) for m in catalog.movies]
    pool = pool or [("episode", ep.trakt) for ep in catalog.episodes()]
    if not pool:
        raise ValueError("an empty catalogue cannot hold plays")
    rand, size = rng.random, len(pool)
    return history + [(when(), pool[int(rand() * size)]) for _ in range(plays - len(history))]
