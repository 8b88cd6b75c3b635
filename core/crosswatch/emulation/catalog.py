"""A seeded, provider-neutral catalogue of movies and shows for the emulators.

``build_catalog(size, seed)`` makes ``size`` titles from ``random.Random(seed)`` alone (no
global random, no clock), so every emulator built from the same ``(size, seed)`` sees the
same titles with the same ids: the Trakt emulator's user state and the Plex emulator's
library line up, and a title played on one is found on the other.

What is generated, per title (about 60 % movies, 40 % shows):

- ``Movie``: ``trakt`` (int), ``slug`` (``title-year``), ``imdb`` (``"tt"`` + 7-8 digits),
  ``tmdb`` (int), ``title``, ``year`` (1950-2026), ``runtime`` (minutes), ``released``
  (epoch seconds, a day in ``year``).
- ``Show``: ``trakt``, ``slug`` (the title; ``title-year`` when taken, as Trakt does),
  ``imdb``, ``tmdb``, ``tvdb``, ``title``, ``year``, ``runtime``, ``seasons`` (1-4).
- ``Season``: ``number`` (from 1), ``trakt``, ``tvdb``, ``tmdb``, ``episodes`` (3-12).
- ``Episode``: ``season``, ``number``, ``title``, ``trakt``, ``tvdb``, ``tmdb``, ``imdb`` (for
  about a third of them, else None), ``runtime``, ``aired`` (epoch seconds, weekly).

Ids are unique within their kind (imdb ids across all kinds) and never 0. Lookups by any
id go through ``Catalog.find(kind, ids)`` (order: trakt, imdb, tmdb, tvdb, slug); the
indexes are built on first use. Order is stable: ``Catalog.titles`` is the generation order.
"""

from __future__ import annotations

import gc
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from crosswatch.emulation.words import ADJECTIVES, NOUNS

Kind = Literal["movie", "show", "season", "episode"]
KINDS: tuple[Kind, ...] = ("movie", "show", "season", "episode")
#: the order in which ids are tried when matching a sent item (Trakt's documented order)
ID_ORDER = ("trakt", "imdb", "tmdb", "tvdb", "slug")
NUMERIC_IDS = frozenset({"trakt", "tmdb", "tvdb"})

YEAR_MIN, YEAR_MAX = 1950, 2026
_YEAR_STARTS = [int(datetime(y, 1, 1, tzinfo=UTC).timestamp()) for y in range(YEAR_MIN, YEAR_MAX + 1)]
_WEEK_S = 7 * 86_400

_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Trakt-style slug: lower case, runs of other characters become one ``-``."""
    return _SLUG_STRIP.sub("-", text.lower()).strip("-")


def normalise_id(name: str, value: Any) -> int | str | None:
    """An id as the catalogue stores it (numbers for trakt/tmdb/tvdb); None if unusable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if name in NUMERIC_IDS:
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return None
    return str(value) if isinstance(value, (str, int)) else None


@dataclass(slots=True, eq=False)
class Movie:
    trakt: int
    slug: str
    imdb: str
    tmdb: int
    title: str
    year: int
    runtime: int
    released: int
    kind: Kind = "movie"

    def ids(self) -> dict[str, Any]:
        return {"trakt": self.trakt, "slug": self.slug, "imdb": self.imdb, "tmdb": self.tmdb}


@dataclass(slots=True, eq=False)
class Episode:
    season: int
    number: int
    title: str
    trakt: int
    tvdb: int
    tmdb: int
    imdb: str | None
    runtime: int
    aired: int
    show: Show = field(repr=False)
    kind: Kind = "episode"

    def ids(self) -> dict[str, Any]:
        return {"trakt": self.trakt, "tvdb": self.tvdb, "imdb": self.imdb, "tmdb": self.tmdb}


@dataclass(slots=True, eq=False)
class Season:
    number: int
    trakt: int
    tvdb: int
    tmdb: int
    episodes: list[Episode]
    show: Show = field(repr=False)
    kind: Kind = "season"

    def ids(self) -> dict[str, Any]:
        return {"trakt": self.trakt, "tvdb": self.tvdb, "tmdb": self.tmdb}

    def episode(self, number: int) -> Episode | None:
        return self.episodes[number - 1] if 1 <= number <= len(self.episodes) else None


@dataclass(slots=True, eq=False)
class Show:
    trakt: int
    slug: str
    imdb: str
    tmdb: int
    tvdb: int
    title: str
    year: int
    runtime: int
    seasons: list[Season] = field(default_factory=list, repr=False)
    kind: Kind = "show"

    def ids(self) -> dict[str, Any]:
        return {"trakt": self.trakt, "slug": self.slug, "tvdb": self.tvdb, "imdb": self.imdb, "tmdb": self.tmdb}

    def season(self, number: int) -> Season | None:
        return self.seasons[number - 1] if 1 <= number <= len(self.seasons) else None

    def episodes(self) -> Iterator[Episode]:
        for season in self.seasons:
            yield from season.episodes


Media = Movie | Show | Season | Episode


@dataclass(eq=False)
class Catalog:
    """All titles of one ``(size, seed)``, with lookups by any id of any kind."""

    seed: int
    titles: list[Movie | Show]
    movies: list[Movie]
    shows: list[Show]
    _index: dict[tuple[str, str], dict[Any, Media]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.titles)

    def seasons(self) -> Iterator[Season]:
        for show in self.shows:
            yield from show.seasons

    def episodes(self) -> Iterator[Episode]:
        for show in self.shows:
            yield from show.episodes()

    def _of_kind(self, kind: Kind) -> Iterator[Media]:
        if kind == "movie":
            return iter(self.movies)
        if kind == "show":
            return iter(self.shows)
        return self.seasons() if kind == "season" else self.episodes()

    def index(self, kind: Kind, id_name: str) -> dict[Any, Media]:
        """``{id value: media}`` for one kind and id name (built on first use)."""
        key = (kind, id_name)
        table = self._index.get(key)
        if table is None:
            table = {}
            for media in self._of_kind(kind):
                value = getattr(media, id_name, None)
                if value is not None:
                    table.setdefault(value, media)
            self._index[key] = table
        return table

    def get(self, kind: Kind, trakt: int) -> Media | None:
        """The media of ``kind`` with this Trakt id."""
        return self.index(kind, "trakt").get(trakt)

    def find(self, kind: Kind, ids: Mapping[str, Any]) -> Media | None:
        """The media of ``kind`` matching any of ``ids`` (tried in ``ID_ORDER``), or None."""
        for name in ID_ORDER:
            if name == "slug" and kind in ("season", "episode"):
                continue
            if name == "tvdb" and kind == "movie":
                continue
            value = normalise_id(name, ids.get(name))
            if value is None:
                continue
            found = self.index(kind, name).get(value)
            if found is not None:
                return found
        return None


class _Counter:
    """Increasing ids with random gaps, so ids look scattered but never collide."""

    __slots__ = ("gap", "rng", "value")

    def __init__(self, rng: random.Random, start: int, gap: int) -> None:
        self.rng, self.value, self.gap = rng, start, gap

    def next(self) -> int:
        self.value += 1 + int(self.rng.random() * self.gap)
        return self.value


def _year_start(year: int) -> int:
    """Midnight UTC of 1 January ``year``."""
    return _YEAR_STARTS[year - YEAR_MIN]


def _title(rng: random.Random) -> str:
    roll = rng.random()
    adj, noun, other = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(NOUNS)
    if roll < 0.3:
        return f"The {adj} {noun}"
    if roll < 0.5:
        return f"{noun} of the {other}"
    if roll < 0.8:
        return f"{adj} {noun}"
    return f"The {noun}"


def _unique(slug: str, taken: set[str], year: int) -> str:
    candidate, n = slug, 1
    if candidate in taken:
        candidate = f"{slug}-{year}"
    while candidate in taken:
        n += 1
        candidate = f"{slug}-{year}-{n}"
    taken.add(candidate)
    return candidate


def build_catalog(size: int, seed: int = 1) -> Catalog:
    """``size`` titles (about 60 % movies, 40 % shows), deterministic for ``seed``."""
    if size < 0:
        raise ValueError("size must be >= 0")
    # the shows <-> episodes back references are cycles: the collector would rescan them
    # many times over while hundreds of thousands of objects are made
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(size, seed)
    finally:
        if enabled:
            gc.enable()


def _build(size: int, seed: int) -> Catalog:
    rng = random.Random(f"crosswatch-catalog:{seed}")
    rand = rng.random
    imdb = _Counter(rng, 60_000 + int(rand() * 300_000), 60)
    movie_trakt = _Counter(rng, int(rand() * 5_000), 6)
    movie_tmdb = _Counter(rng, int(rand() * 8_000), 9)
    show_trakt = _Counter(rng, int(rand() * 3_000), 4)
    show_tmdb = _Counter(rng, int(rand() * 5_000), 6)
    show_tvdb = _Counter(rng, 70_000 + int(rand() * 10_000), 20)
    season_trakt = _Counter(rng, int(rand() * 4_000), 5)
    season_tvdb = _Counter(rng, 10_000 + int(rand() * 20_000), 40)
    season_tmdb = _Counter(rng, int(rand() * 4_000), 5)
    ep_trakt = _Counter(rng, int(rand() * 50_000), 3)
    ep_tvdb = _Counter(rng, 300_000 + int(rand() * 100_000), 12)
    ep_tmdb = _Counter(rng, 60_000 + int(rand() * 50_000), 4)
    words = ADJECTIVES + NOUNS
    slugs_movies: set[str] = set()
    slugs_shows: set[str] = set()
    titles: list[Movie | Show] = []
    movies: list[Movie] = []
    shows: list[Show] = []
    span = YEAR_MAX - YEAR_MIN + 1
    for _ in range(size):
        title = _title(rng)
        year = YEAR_MIN + int(rand() * span)
        if rand() < 0.6:
            released = _year_start(year) + int(rand() * 364) * 86_400
            movie = Movie(
                trakt=movie_trakt.next(),
                slug=_unique(slugify(f"{title} {year}"), slugs_movies, year),
                imdb=f"tt{imdb.next():07d}",
                tmdb=movie_tmdb.next(),
                title=title,
                year=year,
                runtime=75 + int(rand() * 106),
                released=released,
            )
            titles.append(movie)
            movies.append(movie)
            continue
        runtime = 20 + int(rand() * 41)
        show = Show(
            trakt=show_trakt.next(),
            slug=_unique(slugify(title), slugs_shows, year),
            imdb=f"tt{imdb.next():07d}",
            tmdb=show_tmdb.next(),
            tvdb=show_tvdb.next(),
            title=title,
            year=year,
            runtime=runtime,
        )
        premiere = _year_start(year) + int(rand() * 300) * 86_400 + 20 * 3600
        for number in range(1, 2 + int(rand() * 4)):
            season = Season(number, season_trakt.next(), season_tvdb.next(), season_tmdb.next(), [], show)
            start = premiere + (number - 1) * 52 * _WEEK_S
            count = 3 + int(rand() * 10)
            picks = rng.choices(words, k=2 * count)
            eps = season.episodes
            for e in range(count):
                eps.append(
                    Episode(
                        number,
                        e + 1,
                        f"{picks[2 * e]} {picks[2 * e + 1]}",
                        ep_trakt.next(),
                        ep_tvdb.next(),
                        ep_tmdb.next(),
                        f"tt{imdb.next():07d}" if rand() < 0.35 else None,
                        runtime - 3 + int(rand() * 7),
                        start + e * _WEEK_S,
                        show,
                    )
                )
            show.seasons.append(season)
        titles.append(show)
        shows.append(show)
    return Catalog(seed=seed, titles=titles, movies=movies, shows=shows)
