"""python-plexapi, an independent Plex client, against the Plex emulator (served from a thread).

``PlexServer(url, token)``: server info, sections, listings with guids, search with
filters and sorts (which needs the ``Meta`` block), history per account and time, marking
watched and unwatched, rating, progress and timeline reports, and reading the watch state
back (viewCount, lastViewedAt, userRating, viewOffset).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from crosswatch.emulation.server import serve_in_thread
from crosswatch_plex.emulator import PlexEmulator
from crosswatch_plex.emulator.library import LEGACY, MODERN

plexapi = pytest.importorskip("plexapi")
from plexapi.exceptions import NotFound, Unauthorized  # noqa: E402
from plexapi.server import PlexServer  # noqa: E402


@pytest.fixture(scope="module")
def emulator() -> PlexEmulator:
    return PlexEmulator(seed=4, size=300)


@pytest.fixture(scope="module")
def url(emulator: PlexEmulator) -> Iterator[str]:
    with serve_in_thread(emulator) as served:
        yield served


@pytest.fixture(scope="module")
def plex(emulator: PlexEmulator, url: str) -> PlexServer:
    return PlexServer(url, emulator.owner_token, timeout=10)


def test_server_and_sections(plex: PlexServer, emulator: PlexEmulator) -> None:
    assert plex.machineIdentifier == emulator.machine_identifier
    assert plex.friendlyName == emulator.friendly_name and plex.myPlex is True
    sections = plex.library.sections()
    assert [(s.key, s.type, s.title) for s in sections] == [
        (1, "movie", "Movies"),
        (2, "show", "TV Shows"),
        (3, "artist", "Music"),
    ]
    assert sections[0].locations == ["/data/Movies"] and sections[0].uuid
    assert [a.id for a in plex.systemAccounts()] == [0, 1, *(a.id for a in emulator.accounts[1:])]
    assert plex.identity().machineIdentifier == emulator.machine_identifier


def test_listings_guids_and_children(plex: PlexServer, emulator: PlexEmulator) -> None:
    lib = emulator.library
    movies = plex.library.section("Movies").all()
    assert len(movies) == len(emulator.catalog.movies)
    by_key = {m.ratingKey: m for m in movies}
    modern = next(m for m in emulator.catalog.movies if lib.style[m] == MODERN)
    got = by_key[lib.rk(modern)]
    assert got.guid == lib.plex_guid(modern)
    assert [g.id for g in got.guids] == [f"imdb://{modern.imdb}", f"tmdb://{modern.tmdb}"]
    assert got.year == modern.year and got.duration == modern.runtime * 60_000
    legacy = next(m for m in emulator.catalog.movies if lib.style[m] == LEGACY)
    assert by_key[lib.rk(legacy)].guid == f"com.plexapp.agents.imdb://{legacy.imdb}?lang=en"
    show = plex.library.section("TV Shows").all()[0]
    seasons = show.seasons()
    assert seasons and all(s.type == "season" for s in seasons)
    episodes = show.episodes()
    assert len(episodes) == show.leafCount and episodes[0].seasonNumber == 1
    assert episodes[0].grandparentTitle == show.title
    fetched = plex.fetchItem(lib.rk(modern))
    assert fetched.title == modern.title and fetched.librarySectionID == 1
    with pytest.raises(NotFound):
        plex.fetchItem(999_999_999)


def test_search_with_filters_and_sorts(plex: PlexServer, emulator: PlexEmulator) -> None:
    section = plex.library.section("Movies")
    owner = emulator.state.users[1]
    rated = section.search(filters={"userRating>>": 0}, sort="lastRatedAt:desc")
    movie_ratings = {rk: v for rk, v in owner.ratings.items() if emulator.library.get(rk).kind == "movie"}
    assert {m.ratingKey for m in rated} == set(movie_ratings)
    stamps = [m.lastRatedAt for m in rated]
    assert stamps == sorted(stamps, reverse=True)
    recent = section.search(unwatched=False, sort="lastViewedAt:desc", maxresults=5)
    assert len(recent) == 5 and all(m.isPlayed for m in recent)
    episodes = plex.library.section("TV Shows").search(libtype="episode", unwatched=False, maxresults=50)
    assert episodes and all(e.viewCount >= 1 for e in episodes)


def test_history_per_account_and_since(plex: PlexServer, emulator: PlexEmulator) -> None:
    rows = emulator.state.rows.values()
    everything = plex.history()
    assert len(everything) == len(rows)
    assert everything[0].viewedAt >= everything[-1].viewedAt
    owner = plex.history(accountID=1)
    assert owner and {h.accountID for h in owner} == {1}
    partner = emulator.accounts[1]
    theirs = plex.history(accountID=partner.id, maxresults=10)
    assert 0 < len(theirs) <= 10 and {h.accountID for h in theirs} == {partner.id}
    newest = max(r.viewed_at for r in rows)
    since = datetime.fromtimestamp(newest) - timedelta(days=60)
    recent = plex.history(mindate=since)
    assert recent and len(recent) == sum(1 for r in rows if r.viewed_at >= int(since.timestamp()))
    movies_only = plex.history(librarySectionID=1, maxresults=20)
    assert movies_only and all(h.type == "movie" for h in movies_only)
    episode = next(h for h in everything if h.type == "episode")
    assert episode.grandparentTitle and episode.seasonNumber and episode.index


def test_mark_watched_rate_and_progress(plex: PlexServer, emulator: PlexEmulator) -> None:
    lib = emulator.library
    fresh = next(
        m
        for m in emulator.catalog.movies
        if lib.rk(m) not in emulator.state.users[1].views and lib.rk(m) not in emulator.state.users[1].offsets
    )
    movie = plex.fetchItem(lib.rk(fresh))
    assert not movie.isPlayed and movie.viewOffset == 0
    before = len(plex.history())
    movie.markPlayed()
    movie.reload()
    assert movie.viewCount == 1 and movie.isPlayed and movie.lastViewedAt is not None
    assert len(plex.history()) == before + 1
    assert [h.ratingKey for h in movie.history()] == [movie.ratingKey]
    movie.rate(8)
    movie.reload()
    assert movie.userRating == 8.0 and movie.lastRatedAt is not None
    movie.rate()  # plexapi clears with rating=-1
    movie.reload()
    assert movie.userRating is None
    movie.markUnplayed()
    movie.reload()
    assert not movie.isPlayed and len(plex.history()) == before
    movie.updateProgress(90_000)
    assert plex.fetchItem(movie.ratingKey).viewOffset == 90_000
    movie.updateTimeline(180_000, state="paused")
    assert plex.fetchItem(movie.ratingKey).viewOffset == 180_000
    movie.updateTimeline(int(movie.duration * 0.95), state="stopped")
    movie.reload()
    assert movie.viewCount == 1 and movie.viewOffset == 0
    # a show: every episode
    show = plex.library.section("TV Shows").all()[-1]
    show.markPlayed()
    show.reload()
    assert show.viewedLeafCount == show.leafCount and show.isPlayed
    show.seasons()[0].rate(6)
    assert plex.fetchItem(show.seasons()[0].ratingKey).userRating == 6.0


def test_home_user_token_and_a_bad_token(url: str, emulator: PlexEmulator) -> None:
    partner = emulator.accounts[1]
    as_partner = PlexServer(url, partner.token, timeout=10)
    history = as_partner.history()
    assert history and {h.accountID for h in history} == {partner.id}
    with pytest.raises(Unauthorized):
        PlexServer(url, "not-a-token", timeout=10)
