"""The Trakt emulator's ``/users``, ``/search`` and ``/shows/{id}/seasons`` routes, as other clients call them.

PlexTraktSync reads a Trakt account through PyTrakt: ``User("me")``, its watched movies,
collections, watchlists and ratings, liked lists, id lookups and a show's seasons. The first
half runs those PyTrakt calls against the emulator (in a thread: PyTrakt is synchronous) and
checks they show the emulator's state; the second half checks shapes, paging headers, the
access rules and rate limits over httpx on both anyio backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("trakt")

import trakt
import trakt.core
import trakt.sync
from trakt.errors import NotFoundException
from trakt.movies import Movie as TraktMovie
from trakt.tv import TVEpisode, TVShow
from trakt.users import User

from crosswatch.emulation.catalog import Episode, Movie, Show
from crosswatch.emulation.server import serve_app, serve_in_thread
from crosswatch_trakt.emulator import EmulatorSettings, TraktEmulator


def make(**knobs: Any) -> TraktEmulator:
    return TraktEmulator(seed=5, size=200, settings=EmulatorSettings(interval=0, post_limit=0, **knobs))


def _point_pytrakt(base_url: str, config_path: Path, tokens: dict[str, Any] | None, emu: TraktEmulator | None) -> None:
    """PyTrakt's module globals: where it sends requests and the token it sends (no device flow)."""
    core: Any = trakt.core
    core.BASE_URL = base_url
    core.CONFIG_PATH = str(config_path)
    core.AUTH_METHOD = core.DEVICE_AUTH
    core.CLIENT_ID = emu.client_id if emu else None
    core.CLIENT_SECRET = emu.client_secret if emu else None
    core.OAUTH_TOKEN = tokens["access_token"] if tokens else None
    core.OAUTH_REFRESH = tokens["refresh_token"] if tokens else None
    core.OAUTH_EXPIRES_AT = tokens["created_at"] + tokens["expires_in"] if tokens else None
    core.api.cache_clear()
    core.config.cache_clear()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[TraktEmulator]:
    """A served emulator and PyTrakt signed in to it."""
    emu = make()
    with serve_in_thread(emu) as url:
        _point_pytrakt(url + "/", tmp_path / "pytrakt.json", emu.issue_token(), emu)
        try:
            yield emu
        finally:
            _point_pytrakt("https://api.trakt.tv/", tmp_path / "unused.json", None, None)


def _unwatched_movie(emu: TraktEmulator) -> Movie:
    watched = {p.key for p in emu.state.plays.values()}
    return next(m for m in emu.catalog.movies if ("movie", m.trakt) not in watched)


def _played_episodes(emu: TraktEmulator) -> dict[int, set[tuple[int, int]]]:
    """show trakt id -> {(season, episode)} of every played episode in the emulator state."""
    shows: dict[int, set[tuple[int, int]]] = {}
    for play in emu.state.plays.values():
        if play.key[0] == "episode":
            ep = emu.state.media(play.key)
            assert isinstance(ep, Episode)
            shows.setdefault(ep.show.trakt, set()).add((ep.season, ep.number))
    return shows


# -- PyTrakt -----------------------------------------------------------------------------------


def test_pytrakt_user_me_and_by_slug(emulator: TraktEmulator) -> None:
    me = User("me")
    assert me.username == emulator.user["username"]
    assert me.ids == {"slug": emulator.user["ids"]["slug"], "trakt": emulator.user["ids"]["trakt"]}
    assert me.private is False
    same = User(emulator.user["username"])
    assert same.username == me.username
    with pytest.raises(NotFoundException):
        User("somebody-else")


def test_pytrakt_watched_movies_and_shows_follow_the_state(emulator: TraktEmulator) -> None:
    movie = _unwatched_movie(emulator)
    emulator.state.add_play(("movie", movie.trakt), 1_700_000_000_000)
    emulator.state.add_play(("movie", movie.trakt), 1_700_000_100_000)
    watched = {m.trakt: m for m in User("me").watched_movies}
    expected = {p.key[1] for p in emulator.state.plays.values() if p.key[0] == "movie"}
    assert set(watched) == expected
    assert watched[movie.trakt].plays == 2
    assert watched[movie.trakt].last_watched_at == "2023-11-14T22:15:00.000Z"

    shows = {s.trakt: s for s in User("me").watched_shows}
    played = _played_episodes(emulator)
    assert set(shows) == set(played)
    some_show = next(iter(played))
    seen = {(season.season, ep.number) for season in shows[some_show].seasons for ep in season.episodes}
    assert seen == played[some_show]
    assert all(ep.plays >= 1 and ep.last_watched_at for s in shows[some_show].seasons for ep in s.episodes)


def test_pytrakt_ratings_of_each_type_with_and_without_a_rating(emulator: TraktEmulator) -> None:
    me = User("me")
    state = emulator.state
    for plural, kind in (("movies", "movie"), ("shows", "show"), ("seasons", "season"), ("episodes", "episode")):
        rows = me.get_ratings(plural)
        assert {(r[kind]["ids"]["trakt"], r["rating"]) for r in rows} == {
            (k[1], r.rating) for k, r in state.ratings.items() if k[0] == kind
        }
        assert all(r["type"] == kind and r["rated_at"].endswith("Z") for r in rows)
    assert len(me.get_ratings("all")) == len(state.ratings)
    movie = emulator.catalog.movies[3]
    state.rate(("movie", movie.trakt), 3, 1_700_000_000_000)
    threes = me.get_ratings("movies", rating=3)
    assert movie.trakt in {r["movie"]["ids"]["trakt"] for r in threes}
    assert {r["rating"] for r in threes} == {3}


def test_pytrakt_watchlists_follow_the_state(emulator: TraktEmulator) -> None:
    state = emulator.state
    movie = next(m for m in emulator.catalog.movies if ("movie", m.trakt) not in state.watchlist)
    state.watch(("movie", movie.trakt), 1_700_000_000_000)
    me = User("me")
    assert [m.trakt for m in me.watchlist_movies] == [k[1] for k in state.watchlist if k[0] == "movie"]
    assert movie.trakt in {m.trakt for m in me.watchlist_movies}
    shows = me.watchlist_shows
    assert [s.trakt for s in shows] == [k[1] for k in state.watchlist if k[0] == "show"]
    assert all(isinstance(s, TVShow) and s.title for s in shows)


def test_pytrakt_collections_and_their_episode_ids(emulator: TraktEmulator) -> None:
    state = emulator.state
    me = User("me")
    assert {m.trakt for m in me.movie_collection} == {k[1] for k in state.collection if k[0] == "movie"}
    # PyTrakt completes each collected show's episodes from /shows/{id}/seasons?extended=episodes
    collected: dict[int, set[int]] = {}
    for key in state.collection:
        if key[0] == "episode":
            ep = state.media(key)
            assert isinstance(ep, Episode)
            collected.setdefault(ep.show.trakt, set()).add(ep.trakt)
    shows = me.show_collection
    assert {s.trakt for s in shows} == set(collected)
    for show in shows:
        ids = {ep.trakt for season in show.seasons for ep in season.episodes}
        assert ids == collected[show.trakt]


def test_pytrakt_search_by_id_finds_movies_shows_and_episodes(emulator: TraktEmulator) -> None:
    movie = emulator.catalog.movies[0]
    show = emulator.catalog.shows[0]
    episode = show.seasons[0].episodes[1]
    found = trakt.sync.search_by_id(movie.imdb, id_type="imdb", media_type="movie")
    assert len(found) == 1 and isinstance(found[0], TraktMovie)
    assert found[0].trakt == movie.trakt and found[0].title == movie.title
    found = trakt.sync.search_by_id(str(movie.tmdb), id_type="tmdb", media_type="movie")
    assert [m.trakt for m in found] == [movie.trakt]
    found = trakt.sync.search_by_id(str(show.tvdb), id_type="tvdb", media_type="show")
    assert len(found) == 1 and isinstance(found[0], TVShow) and found[0].trakt == show.trakt
    found = trakt.sync.search_by_id(str(episode.tvdb), id_type="tvdb", media_type="episode")
    assert len(found) == 1 and isinstance(found[0], TVEpisode)
    assert (found[0].trakt, found[0].season, found[0].number) == (episode.trakt, 1, 2)
    assert found[0].show_id == show.trakt
    found = trakt.sync.search_by_id(str(show.trakt), id_type="trakt-show")
    assert [s.trakt for s in found] == [show.trakt]
    assert trakt.sync.search_by_id(str(show.tvdb), id_type="tvdb", media_type="movie") == []  # tvdb: no movies
    assert trakt.sync.search_by_id("tt0000001", id_type="imdb", media_type="movie") == []


def test_pytrakt_show_seasons_with_episodes(emulator: TraktEmulator) -> None:
    show: Show = max(emulator.catalog.shows, key=lambda s: len(s.seasons))
    found = TVShow(show.title, ids={"trakt": show.trakt, "slug": show.slug})
    seasons = found.seasons
    assert [s.season for s in seasons] == [s.number for s in show.seasons]
    for got, season in zip(seasons, show.seasons, strict=True):
        assert got.trakt == season.trakt and got.tvdb == season.tvdb
        assert [(e.season, e.number, e.trakt, e.title) for e in got.episodes] == [
            (e.season, e.number, e.trakt, e.title) for e in season.episodes
        ]


def test_pytrakt_liked_lists_are_empty(emulator: TraktEmulator) -> None:
    assert User("me").get_liked_lists("lists", limit=100) == []


# -- httpx: shapes, paging, access, limits ---------------------------------------------------


def _headers(emu: TraktEmulator, token: str | None = None) -> dict[str, str]:
    headers = {"trakt-api-key": emu.client_id, "trakt-api-version": "2"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


@asynccontextmanager
async def client_of(emu: TraktEmulator, *, signed_in: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_app(emu) as url:
        token = emu.issue_token()["access_token"] if signed_in else None
        async with httpx.AsyncClient(base_url=url, headers=_headers(emu, token), timeout=10) as client:
            yield client


@pytest.mark.anyio
async def test_profile_shapes_and_extended_full() -> None:
    emu = make()
    slug = emu.user["ids"]["slug"]
    async with client_of(emu) as client:
        plain = (await client.get("/users/me")).json()
        assert plain == {
            "username": slug,
            "private": False,
            "deleted": False,
            "name": "Emulated Watcher",
            "vip": False,
            "vip_ep": False,
            "director": False,
            "ids": {"slug": slug, "trakt": emu.user["ids"]["trakt"]},
        }
        assert (await client.get(f"/users/{slug}")).json() == plain
        full = (await client.get("/users/me", params={"extended": "full"})).json()
        assert set(full) - set(plain) == {"joined_at", "location", "about", "gender", "age", "images"}
        assert full["joined_at"].endswith("Z") and full["images"]["avatar"]["full"].startswith("https://")
        vip = (await client.get("/users/me", params={"extended": "full,vip"})).json()
        assert {"vip_og", "vip_years", "vip_cover_image", "joined_at"} <= set(vip)


@pytest.mark.anyio
async def test_me_needs_a_token_other_users_404_private_profile_401() -> None:
    emu = make()
    slug = emu.user["ids"]["slug"]
    async with client_of(emu, signed_in=False) as client:
        for path in ("/users/me", "/users/me/watched/movies", "/users/likes/lists"):
            assert (await client.get(path)).status_code == 401, path
        # OAuth optional: a public profile's data is readable without a token
        assert (await client.get(f"/users/{slug}")).status_code == 200
        assert (await client.get(f"/users/{slug}/watchlist/movies")).status_code == 200
        # a sent token must be valid
        bad = {"Authorization": "Bearer " + "f" * 64}
        assert (await client.get(f"/users/{slug}", headers=bad)).status_code == 401
        for path in ("/users/somebody-else", "/users/somebody-else/ratings/movies", f"/users/{slug}x/watched/movies"):
            response = await client.get(path)
            assert response.status_code == 404 and response.json()["error"] == "not_found", path
        # a private profile: 401 with X-Private-User unless the request carries the user's token
        await client.post("/_emulator/settings", json={"private_profile": True})
        response = await client.get(f"/users/{slug}/ratings/movies")
        assert response.status_code == 401 and response.headers["x-private-user"] == "true"
        token = emu.issue_token()["access_token"]
        own = await client.get(f"/users/{slug}", headers={"Authorization": f"Bearer {token}"})
        assert own.status_code == 200 and own.json()["private"] is True


@pytest.mark.anyio
async def test_user_lists_match_sync_lists_and_page_with_headers() -> None:
    emu = make()
    slug = emu.user["ids"]["slug"]
    async with client_of(emu) as client:
        for user_path, sync_path in (
            ("/users/me/watched/movies", "/sync/watched/movies"),
            (f"/users/{slug}/watched/shows", "/sync/watched/shows"),
            ("/users/me/ratings", "/sync/ratings"),
            ("/users/me/ratings/episodes", "/sync/ratings/episodes"),
            ("/users/me/ratings/movies/7,8", "/sync/ratings/movies/7,8"),
            ("/users/me/watchlist", "/sync/watchlist"),
            ("/users/me/watchlist/shows/title/desc", "/sync/watchlist/shows/title/desc"),
            ("/users/me/collection/movies", "/sync/collection/movies"),
            ("/users/me/collection/shows", "/sync/collection/shows"),
        ):
            mine, synced = await client.get(user_path), await client.get(sync_path)
            assert mine.status_code == 200, user_path
            assert mine.json() == synced.json(), user_path
        assert (await client.get("/users/me/watched/episodes")).status_code == 404
        assert (await client.get("/users/me/ratings/films")).status_code == 404
        assert (await client.get("/users/me/collection/seasons")).status_code == 404

        # watchlist pages always (default 100); ratings and watched when page or limit is given
        response = await client.get("/users/me/watchlist", params={"limit": 2, "page": 2})
        total = len(emu.state.watchlist)
        assert response.headers["x-pagination-page"] == "2"
        assert response.headers["x-pagination-limit"] == "2"
        assert response.headers["x-pagination-item-count"] == str(total)
        assert response.headers["x-pagination-page-count"] == str(-(-total // 2))
        assert len(response.json()) == min(2, total - 2)
        assert (await client.get("/users/me/watchlist")).headers["x-pagination-limit"] == "100"
        ratings = await client.get("/users/me/ratings/all", params={"limit": 5})
        assert ratings.headers["x-pagination-item-count"] == str(len(emu.state.ratings))
        assert len(ratings.json()) == 5
        assert "x-pagination-page" not in (await client.get("/users/me/ratings/all")).headers
        watched = await client.get("/users/me/watched/movies", params={"limit": 1000})
        assert watched.headers["x-pagination-limit"] == "250"  # clamped


@pytest.mark.anyio
async def test_watched_shows_shape() -> None:
    emu = make()
    async with client_of(emu) as client:
        rows = (await client.get("/users/me/watched/shows")).json()
        assert rows and set(rows[0]) == {"plays", "last_watched_at", "last_updated_at", "reset_at", "show", "seasons"}
        episode = rows[0]["seasons"][0]["episodes"][0]
        assert set(episode) == {"number", "plays", "last_watched_at"}
        assert rows[0]["plays"] == sum(e["plays"] for s in rows[0]["seasons"] for e in s["episodes"])
        bare = (await client.get("/users/me/watched/shows", params={"extended": "noseasons"})).json()
        assert "seasons" not in bare[0]


@pytest.mark.anyio
async def test_likes_are_empty_pages() -> None:
    emu = make()
    slug = emu.user["ids"]["slug"]
    async with client_of(emu) as client:
        for path in ("/users/likes/lists", "/users/likes/comments", f"/users/{slug}/likes/lists"):
            response = await client.get(path, params={"limit": 100})
            assert response.status_code == 200 and response.json() == [], path
            assert response.headers["x-pagination-item-count"] == "0"
            assert response.headers["x-pagination-page-count"] == "0"
        assert (await client.get("/users/likes/films")).status_code == 404


@pytest.mark.anyio
async def test_search_by_id_shapes_types_and_paging() -> None:
    emu = make()
    movie = emu.catalog.movies[1]
    show = emu.catalog.shows[1]
    episode = show.seasons[-1].episodes[0]
    async with client_of(emu, signed_in=False) as client:  # OAuth optional
        rows = (await client.get(f"/search/imdb/{movie.imdb}", params={"type": "movie"})).json()
        assert rows == [
            {
                "score": 1000,
                "type": "movie",
                "movie": {"title": movie.title, "year": movie.year, "ids": movie.ids()},
            }
        ]
        response = await client.get(f"/search/tvdb/{episode.tvdb}", params={"type": "episode"})
        assert response.headers["x-pagination-page"] == "1" and response.headers["x-pagination-item-count"] == "1"
        (row,) = response.json()
        assert row["type"] == "episode" and row["episode"]["ids"]["trakt"] == episode.trakt
        assert (row["episode"]["season"], row["episode"]["number"]) == (episode.season, episode.number)
        assert row["show"]["ids"]["trakt"] == show.trakt
        # without type: every kind the id names; a type list filters
        rows = (await client.get(f"/search/trakt/{show.trakt}")).json()
        assert ("show", show.trakt) in {(r["type"], r[r["type"]]["ids"]["trakt"]) for r in rows}
        rows = (await client.get(f"/search/trakt/{show.trakt}", params={"type": "show,episode"})).json()
        assert {r["type"] for r in rows} <= {"show", "episode"} and any(r["type"] == "show" for r in rows)
        assert (await client.get(f"/search/tvdb/{show.tvdb}", params={"type": "movie"})).json() == []
        assert (await client.get("/search/imdb/tt0000001", params={"type": "movie"})).json() == []
        assert (await client.get(f"/search/imdb/{movie.imdb}", params={"type": "film"})).status_code == 400
        assert (await client.get(f"/search/tvrage/{show.tvdb}")).status_code == 404


@pytest.mark.anyio
async def test_show_seasons_plain_episodes_and_full() -> None:
    emu = make()
    show = max(emu.catalog.shows, key=lambda s: len(s.seasons))
    async with client_of(emu, signed_in=False) as client:
        plain = (await client.get(f"/shows/{show.trakt}/seasons")).json()
        assert plain == [{"number": s.number, "ids": {**s.ids(), "tvrage": None}} for s in show.seasons]
        for ref in (show.slug, show.imdb):
            assert (await client.get(f"/shows/{ref}/seasons")).json() == plain
        rows = (await client.get(f"/shows/{show.slug}/seasons", params={"extended": "episodes"})).json()
        first = show.seasons[0].episodes[0]
        assert rows[0]["episodes"][0] == {
            "season": first.season,
            "number": first.number,
            "title": first.title,
            "ids": {**first.ids(), "tvrage": None},
        }
        assert [len(r["episodes"]) for r in rows] == [len(s.episodes) for s in show.seasons]
        full = (await client.get(f"/shows/{show.trakt}/seasons", params={"extended": "full,episodes"})).json()
        assert full[0]["episode_count"] == len(show.seasons[0].episodes)
        assert full[0]["first_aired"].endswith("Z") and full[0]["title"] == "Season 1"
        assert full[0]["episodes"][0]["runtime"] == first.runtime
        assert (await client.get("/shows/no-such-show/seasons")).status_code == 404


@pytest.mark.anyio
async def test_new_routes_count_against_the_rate_limits() -> None:
    emu = make(get_limit=2, get_period=300)
    slug = emu.user["ids"]["slug"]
    async with client_of(emu, signed_in=False) as client:
        authed = {"Authorization": "Bearer " + emu.issue_token()["access_token"]}
        assert [(await client.get("/users/me", headers=authed)).status_code for _ in range(2)] == [200, 200]
        response = await client.get(f"/users/{slug}/watched/movies", headers=authed)
        assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
        assert '"name":"AUTHED_API_GET_LIMIT"' in response.headers["x-ratelimit"]
        # requests without a token are counted apart (Trakt's UNAUTHED_API_GET_LIMIT)
        search = f"/search/trakt/{emu.catalog.movies[0].trakt}"
        assert [(await client.get(search)).status_code for _ in range(3)] == [200, 200, 429]
        response = await client.get(f"/shows/{emu.catalog.shows[0].trakt}/seasons")
        assert response.status_code == 429
        assert '"name":"UNAUTHED_API_GET_LIMIT"' in response.headers["x-ratelimit"]
