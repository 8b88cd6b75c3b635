"""The JELLYFIN and EMBY providers against the emulator over loopback, on both anyio backends.

Each feature written, read back and removed (a second read sees the write), with the write
contract: an add twice is an add once, a remove of what is absent is ok, every item lands in
exactly one list of the result. Titles are found by their ProviderIds only: an item without
ids or with ids the server does not have is unresolved, then frozen. Library whitelists
limit reads and writes; an unchanged re-read costs one request per library; writes go at
most ``workers`` at once and report their progress; failures are one line for a person.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from crosswatch import progress
from crosswatch.emulation.server import serve_app
from crosswatch.errors import ProviderError
from crosswatch.http import HttpError, OutcomeUnknown, SignInError
from crosswatch.model import Feature, Item, MediaType, item_key
from crosswatch.provider import ProviderContext, WriteResult
from crosswatch.state import StateDir
from crosswatch_jellyfin.emulator import EMBY, JELLYFIN, Flavour
from crosswatch_jellyfin.emulator.library import NO_IDS, TMDB_ONLY
from tests.test_jellyfin_env import (
    FLAVOURS,
    InFlight,
    data_of,
    episode_item,
    kind_of,
    make_emulator,
    movie_item,
    provider_env,
    read_refused,
    settings_for,
    show_item,
    sign_in_by_password,
    specs,
    untouched_movie,
    untouched_show,
)
from tests.test_trakt_bad_input import fake_trakt as fake_server

pytestmark = pytest.mark.anyio


def accounted(result: WriteResult, items: Sequence[Item]) -> None:
    """Every item passed in is in exactly one list of ``result``."""
    placed = [
        *result.ok,
        *(i for i, _ in result.failed),
        *(i for i, _ in result.unresolved),
        *result.frozen,
    ]
    assert sorted(map(item_key, placed)) == sorted(map(item_key, items)), result


def find(items: list[Item], title: str, kind: MediaType | None = None) -> list[Item]:
    return [i for i in items if (i.title == title or i.show_title == title) and (kind is None or i.type == kind)]


# -- history ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_history_plays_are_marked_with_their_date_and_read_back(flavour: Flavour, tmp_path: Path) -> None:
    async with provider_env(flavour, tmp_path) as env:
        emu, p = env.emu, env.provider
        movie, show = untouched_movie(emu), untouched_show(emu)
        ep = show.seasons[0].episodes[1]
        first = movie_item(movie, watched_at="2024-03-01T20:00:00Z")
        later = movie_item(movie, watched_at="2024-03-05T21:30:00.000Z")
        episode = episode_item(ep, watched_at="2024-03-02T20:00:00Z")
        before = await p.read(Feature.HISTORY)
        assert not find(before, movie.title) and not find(before, show.title)

        result = await p.add(Feature.HISTORY, [first, episode])
        assert len(result.ok) == 2 and not (result.failed or result.unresolved or result.frozen)
        after = await p.read(Feature.HISTORY)
        assert len(after) == len(before) + 2
        [read_movie] = find(after, movie.title)
        assert read_movie.watched_at == "2024-03-01T20:00:00Z"
        assert read_movie.ids == {"imdb": movie.imdb, "tmdb": str(movie.tmdb)} and read_movie.year == movie.year
        assert read_movie.extra["PlayCount"] == 1 and read_movie.duration_ms == movie.runtime * 60_000
        [read_ep] = find(after, show.title, MediaType.EPISODE)
        assert (read_ep.season, read_ep.episode, read_ep.watched_at) == (ep.season, ep.number, "2024-03-02T20:00:00Z")
        assert read_ep.show_ids == {"imdb": show.imdb, "tmdb": str(show.tmdb), "tvdb": str(show.tvdb)}
        assert read_ep.ids["tvdb"] == str(ep.tvdb) and read_ep.title == ep.title

        # the same plays again: nothing changes on the server (no second count)
        await env.reset()
        again = await p.add(Feature.HISTORY, [first, episode])
        accounted(again, [first, episode])
        assert len(again.ok) == 2 and not [w for w in await env.writes() if "PlayedItems" in w]
        assert data_of(emu, movie).play_count == 1
        # a later play counts, and dates the title; an older one is held already
        assert len((await p.add(Feature.HISTORY, [later])).ok) == 1
        assert data_of(emu, movie).play_count == 2
        await env.reset()
        assert len((await p.add(Feature.HISTORY, [first])).ok) == 1 and not await env.writes()
        [read_movie] = find(await p.read(Feature.HISTORY), movie.title)
        assert read_movie.watched_at == "2024-03-05T21:30:00Z" and read_movie.extra["PlayCount"] == 2

        # removing the title's last play unmarks it; a remove of what is absent is ok
        removed = await p.remove(Feature.HISTORY, [read_movie, episode])
        assert len(removed.ok) == 2 and not (removed.failed or removed.unresolved)
        final = await p.read(Feature.HISTORY)
        assert not find(final, movie.title) and not find(final, show.title) and len(final) == len(before)
        assert not data_of(emu, movie).played and data_of(emu, movie).play_count == 0
        await env.reset()
        absent = await p.remove(Feature.HISTORY, [later, episode, movie_item(untouched_movie(emu, skip=3))])
        assert len(absent.ok) == 3 and not await env.writes()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_an_older_play_than_the_title_shows_is_not_removed(flavour: Flavour, tmp_path: Path) -> None:
    async with provider_env(flavour, tmp_path) as env:
        movie = untouched_movie(env.emu)
        plays = [movie_item(movie, watched_at=t) for t in ("2024-01-01T10:00:00Z", "2024-02-01T10:00:00Z")]
        assert len((await env.provider.add(Feature.HISTORY, plays)).ok) == 2
        assert data_of(env.emu, movie).play_count == 2
        # the server keeps one date a title: the older play is not held as such, so it is absent
        gone = await env.provider.remove(Feature.HISTORY, plays[:1])
        assert len(gone.ok) == 1 and data_of(env.emu, movie).played


# -- progress, ratings, watchlist ----------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_progress_positions_are_upserted_and_cleared(flavour: Flavour, tmp_path: Path) -> None:
    async with provider_env(flavour, tmp_path) as env:
        emu, p = env.emu, env.provider
        movie, ep = untouched_movie(emu), untouched_show(emu).seasons[0].episodes[0]
        items = [movie_item(movie, progress=30.0), episode_item(ep, progress_ms=600_000)]
        result = await p.add(Feature.PROGRESS, items)
        accounted(result, items)
        assert len(result.ok) == 2
        read = await p.read(Feature.PROGRESS)
        [m] = find(read, movie.title)
        assert m.progress is not None and abs(m.progress - 30.0) <= 1 and m.duration_ms == movie.runtime * 60_000
        assert data_of(emu, movie).position == movie.runtime * 60 * 10_000_000 * 30 // 100
        [e] = find(read, ep.show.title, MediaType.EPISODE)
        assert e.progress_ms == 600_000 and (e.season, e.episode) == (ep.season, ep.number)

        # an upsert moves the position; the title stays one entry
        assert len((await p.add(Feature.PROGRESS, [movie_item(movie, progress=65.0)])).ok) == 1
        [m] = find(await p.read(Feature.PROGRESS), movie.title)
        assert m.progress is not None and abs(m.progress - 65.0) <= 1

        no_position = movie_item(untouched_movie(emu, skip=1))
        mixed = await p.add(Feature.PROGRESS, [no_position])
        assert [(i.title, "no resume position" in why) for i, why in mixed.failed] == [(no_position.title, True)]

        cleared = await p.remove(Feature.PROGRESS, items)
        assert len(cleared.ok) == 2
        read = await p.read(Feature.PROGRESS)
        assert not find(read, movie.title) and not find(read, ep.show.title)
        assert data_of(emu, movie).position == 0
        assert len((await p.remove(Feature.PROGRESS, items)).ok) == 2


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_ratings_are_upserted_read_back_and_cleared(flavour: Flavour, tmp_path: Path) -> None:
    async with provider_env(flavour, tmp_path) as env:
        emu, p = env.emu, env.provider
        movie, show = untouched_movie(emu), untouched_show(emu)
        items = [movie_item(movie, rating=7), show_item(show, rating=3)]
        accounted(result := await p.add(Feature.RATINGS, items), items)
        assert len(result.ok) == 2
        read = await p.read(Feature.RATINGS)
        assert [i.rating for i in find(read, movie.title)] == [7]
        assert [(i.type, i.rating) for i in find(read, show.title)] == [(MediaType.SHOW, 3)]
        assert data_of(emu, movie).rating == 7.0

        # twice is once; an upsert changes the value
        assert len((await p.add(Feature.RATINGS, items)).ok) == 2
        assert len((await p.add(Feature.RATINGS, [movie_item(movie, rating=4)])).ok) == 1
        read = await p.read(Feature.RATINGS)
        assert [i.rating for i in find(read, movie.title)] == [4] and len(find(read, show.title)) == 1

        # a like set by another client reads as a 10
        liked = untouched_movie(emu, skip=2)
        emu.state.set_likes(emu.user_id, liked, True)
        assert [i.rating for i in find(await p.read(Feature.RATINGS), liked.title)] == [10]

        assert len((await p.remove(Feature.RATINGS, items)).ok) == 2
        read = await p.read(Feature.RATINGS)
        assert not find(read, movie.title) and not find(read, show.title) and data_of(emu, movie).rating is None
        assert len((await p.remove(Feature.RATINGS, items)).ok) == 2


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_the_watchlist_as_favourites(flavour: Flavour, tmp_path: Path) -> None:
    async with provider_env(flavour, tmp_path) as env:
        emu, p = env.emu, env.provider
        movie, show = untouched_movie(emu), untouched_show(emu)
        ep = show.seasons[0].episodes[0]
        items = [movie_item(movie), show_item(show), episode_item(ep)]
        before = await p.read(Feature.WATCHLIST)
        assert before, "the seeded administrator has favourites"
        assert len((await p.add(Feature.WATCHLIST, items)).ok) == 3
        assert len((await p.add(Feature.WATCHLIST, items)).ok) == 3
        read = await p.read(Feature.WATCHLIST)
        assert len(read) == len(before) + 3
        assert {i.type for i in find(read, show.title)} == {MediaType.SHOW, MediaType.EPISODE}
        assert data_of(emu, movie).favorite and data_of(emu, show).favorite
        assert len((await p.remove(Feature.WATCHLIST, items)).ok) == 3
        assert len(await p.read(Feature.WATCHLIST)) == len(before)
        assert len((await p.remove(Feature.WATCHLIST, items)).ok) == 3


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_the_watchlist_as_a_named_playlist(flavour: Flavour, tmp_path: Path) -> None:
    watchlist = {"mode": "playlist", "playlist": "Later"}
    async with provider_env(flavour, tmp_path, watchlist=watchlist) as env:
        emu, p = env.emu, env.provider
        assert await p.read(Feature.WATCHLIST) == []  # no playlist of that name yet
        movie, show = untouched_movie(emu), untouched_show(emu)
        ep = show.seasons[0].episodes[0]
        items = [movie_item(movie), episode_item(ep), show_item(show)]
        result = await p.add(Feature.WATCHLIST, items)
        accounted(result, items)
        assert [i.title for i in result.ok] == [movie.title, None]
        [(refused, why)] = result.unresolved
        assert refused.type == MediaType.SHOW and "playlist holds movies and episodes" in why
        [later] = [pl for pl in emu.state.playlists.values() if pl.name == "Later"]
        assert later.owner == emu.user_id and len(later.entries) == 2

        again = await p.add(Feature.WATCHLIST, items)
        assert len(again.ok) == 2 and [i.type for i in again.frozen] == [MediaType.SHOW]
        assert len(later.entries) == 2  # nothing added twice
        read = await p.read(Feature.WATCHLIST)
        assert sorted((i.type, i.title) for i in read) == [
            (MediaType.EPISODE, ep.title),
            (MediaType.MOVIE, movie.title),
        ]

        assert len((await p.remove(Feature.WATCHLIST, [movie_item(movie)])).ok) == 1
        assert [(i.type, i.title) for i in await p.read(Feature.WATCHLIST)] == [(MediaType.EPISODE, ep.title)]
        assert len(later.entries) == 1

        # the seeded "Watch later" playlist, read by another profile setting (any case)
        seeded = env.build(watchlist={"mode": "playlist", "playlist": "watch LATER"})
        try:
            [watch_later] = [pl for pl in emu.state.playlists.values() if pl.name == "Watch later"]
            assert len(await seeded.read(Feature.WATCHLIST)) == len(watch_later.entries)
        finally:
            await seeded.aclose()


# -- matching -----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_titles_are_found_by_their_ids_only_and_the_rest_is_frozen(flavour: Flavour, tmp_path: Path) -> None:
    async with provider_env(flavour, tmp_path) as env:
        emu, p = env.emu, env.provider
        bare = untouched_movie(emu, NO_IDS)
        emu.state.mark_played(emu.user_id, bare, 1_700_000_000.0)
        # reads keep an item the server has no ids for, with what it has
        [unknown] = find(await p.read(Feature.HISTORY), bare.title)
        assert unknown.ids == {} and unknown.watched_at == "2023-11-14T22:13:20Z"
        assert unknown.extra["Id"] == emu.item_id(bare) and unknown.extra["ServerId"] == emu.server_id

        tmdb_only = untouched_movie(emu, TMDB_ONLY)
        by_tmdb = Item(type=MediaType.MOVIE, ids={"tmdb": str(tmdb_only.tmdb), "imdb": "tt0000001"}, rating=8)
        nowhere = Item(type=MediaType.MOVIE, ids={"imdb": "tt9999999"}, title="Not Here", rating=5)
        no_ids = Item(type=MediaType.MOVIE, title=bare.title, year=bare.year, rating=6)
        # another provider's extra naming a real item of this server is not used to find a title
        other = untouched_movie(emu, skip=4)
        foreign = movie_item(
            untouched_movie(emu, skip=5), rating=9, extra={"Id": emu.item_id(other), "ServerId": emu.server_id}
        )
        items = [by_tmdb, nowhere, no_ids, foreign]
        result = await p.add(Feature.RATINGS, items)
        accounted(result, items)
        assert {i.ids.get("tmdb") for i in result.ok} == {str(tmdb_only.tmdb), None} and len(result.ok) == 2
        reasons = {i.title: why for i, why in result.unresolved}
        assert reasons["Not Here"] == "no movie with imdb tt9999999 in Movies, Shows"
        assert reasons[bare.title].startswith("no IMDb, TMDB or TVDB id")
        assert data_of(emu, other) is None and data_of(emu, untouched_movie(emu, skip=4)) is None

        # the next call does not try them again (and says they are frozen)
        await env.reset()
        again = await p.add(Feature.RATINGS, [nowhere, no_ids])
        assert sorted(i.title or "" for i in again.frozen) == sorted(["Not Here", bare.title])
        assert not again.ok and not again.unresolved and not await env.writes()
        # an item without ids that this server's own read gave is found by its server's id (a clear,
        # a restored capture), but not where its extra names another server
        elsewhere = msgspec.structs.replace(unknown, extra={**unknown.extra, "ServerId": "f" * 32})
        assert [i.title for i in (await p.remove(Feature.HISTORY, [unknown])).ok] == [bare.title]
        assert not data_of(emu, bare).played
        gone = await p.remove(Feature.HISTORY, [elsewhere])
        assert [why for _, why in gone.unresolved] == [reasons[bare.title]]
        assert [i.title for i in (await p.remove(Feature.HISTORY, [elsewhere])).frozen] == [bare.title]
        frozen = env.state.read_json(
            "jellyfin_ratings.unresolved.json" if flavour is JELLYFIN else "emby_ratings.unresolved.json",
            type=dict[str, Any],
        )
        assert {e["reason"] for e in frozen.values()} == set(reasons.values())


# -- whitelists ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_library_whitelists_limit_reads_and_writes(flavour: Flavour, tmp_path: Path) -> None:
    async with provider_env(
        flavour, tmp_path, history={"libraries": ["movies"]}, watchlist={"libraries": ["Shows"]}
    ) as env:
        emu, p = env.emu, env.provider
        history = await p.read(Feature.HISTORY)
        assert history and {i.type for i in history} == {MediaType.MOVIE}
        watchlist = await p.read(Feature.WATCHLIST)
        assert watchlist and {i.type for i in watchlist} <= {MediaType.SHOW, MediaType.SEASON, MediaType.EPISODE}
        everything = env.build(history={"libraries": []})
        try:
            assert {i.type for i in await everything.read(Feature.HISTORY)} == {MediaType.MOVIE, MediaType.EPISODE}
        finally:
            await everything.aclose()

        ep = untouched_show(emu).seasons[0].episodes[0]
        movie = untouched_movie(emu)
        items = [
            episode_item(ep, watched_at="2024-01-01T00:00:00Z"),
            movie_item(movie, watched_at="2024-01-01T00:00:00Z"),
        ]
        result = await p.add(Feature.HISTORY, items)
        assert [i.title for i in result.ok] == [movie.title]
        [(_, why)] = result.unresolved
        assert why.endswith(f"s{ep.season:02d}e{ep.number:02d} in Movies") and data_of(emu, ep) is None

        wrong = env.build(ratings={"libraries": ["Films", "Movies"]})
        try:
            with pytest.raises(ProviderError, match=r"\[\w+\.ratings\] libraries names 'Films'.*Movies, Shows\)$"):
                await wrong.read(Feature.RATINGS)
        finally:
            await wrong.aclose()


# -- the cost of reads --------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_an_unchanged_re_read_costs_one_request_per_library(flavour: Flavour, tmp_path: Path) -> None:
    async with provider_env(flavour, tmp_path) as env:
        emu, p = env.emu, env.provider
        libraries = 2  # Movies and Shows; the Music library is not read
        first = {f: await p.read(f) for f in Feature}
        assert (env.state.path / f"{flavour.name}_library.json").is_file()
        for feature in Feature:
            await env.reset()
            assert await p.read(feature) == first[feature]
            assert await env.total() <= libraries, (feature, await env.requests())
            assert set(await env.requests()) == {f"GET /Users/{emu.user_id}/Items"}
        # the next job (a new instance) starts from the state file
        fresh = env.build()
        try:
            for feature in Feature:
                await env.reset()
                assert await fresh.read(feature) == first[feature]
                assert await env.total() <= libraries, (feature, await env.requests())
            # a new play is read at once (user data is never cached)
            movie = untouched_movie(emu)
            emu.state.mark_played(emu.user_id, movie, 1_700_000_000.0)
            await env.reset()
            assert len(find(await fresh.read(Feature.HISTORY), movie.title)) == 1 and await env.total() == libraries
            # a refreshed show's episode: one request more, to bring the index up to date, then settled
            played = next(i for i in first[Feature.HISTORY] if i.type == MediaType.EPISODE)
            series = next(s for s in emu.catalog.shows if s.title == played.show_title)
            episode = next(e for e in series.episodes() if e.season == played.season and e.number == played.episode)
            emu.library.touch([emu.library.index[series], emu.library.index[episode]], time.time())
            await env.reset()
            assert len(await fresh.read(Feature.HISTORY)) == len(first[Feature.HISTORY]) + 1
            assert await env.total() == libraries + 1 and await env.requests() == {
                f"GET /Users/{emu.user_id}/Items": libraries + 1
            }
            await env.reset()
            await fresh.read(Feature.HISTORY)
            assert await env.total() == libraries
        finally:
            await fresh.aclose()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_server_that_pages_its_answers_is_read_whole(flavour: Flavour, tmp_path: Path) -> None:
    async with provider_env(flavour, tmp_path) as env:
        whole = {f: await env.provider.read(f) for f in Feature}
    async with provider_env(flavour, tmp_path / "paged", knobs={"default_limit": 7}) as env:
        for feature in Feature:
            paged = await env.provider.read(feature)
            assert sorted(map(item_key, paged)) == sorted(map(item_key, whole[feature])), feature


# -- writes: pace, progress, failures -----------------------------------------------------------


class Recorder(progress.Reporter):
    """Keeps every progress task it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[progress.Task] = []

    def begun(self, task: progress.Task) -> None:
        self.tasks.append(task)


async def test_writes_go_at_most_workers_at_once_and_report_progress(tmp_path: Path) -> None:
    emu = make_emulator(JELLYFIN, latency_ms=150)
    counter = InFlight(emu)
    async with serve_app(counter) as url:
        settings = settings_for(url, emu, workers=3)
        state = StateDir(tmp_path)
        await sign_in_by_password(kind_of(JELLYFIN), settings, state, emu.password)
        provider = specs()["JELLYFIN"].factory(ProviderContext("JELLYFIN", "default", settings, state))
        try:
            await provider.read(Feature.WATCHLIST)  # the libraries and their index
            movies = [untouched_movie(emu, skip=n) for n in range(9)]
            counter.most = 0
            recorder = Recorder()
            with progress.reporting(recorder):
                result = await provider.add(Feature.WATCHLIST, [movie_item(m) for m in movies])
            assert len(result.ok) == 9 and all(data_of(emu, m).favorite for m in movies)
            assert 2 <= counter.most <= 3
            [task] = [t for t in recorder.tasks if t.what == "JELLYFIN watchlist: adding"]
            assert task.finished and (task.count, task.total) == (9, 9)
        finally:
            await provider.aclose()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_failures_are_one_line_for_a_person(flavour: Flavour, tmp_path: Path) -> None:
    async with provider_env(flavour, tmp_path) as env:
        emu, p = env.emu, env.provider
        await p.read(Feature.WATCHLIST)
        a, b = untouched_movie(emu), untouched_movie(emu, skip=1)
        # a refused request fails its item, with why; the others are written
        emu.faults.control(
            "POST",
            [
                {
                    "method": "POST",
                    "path": f"/Users/{emu.user_id}/FavoriteItems/{emu.item_id(a)}",
                    "status": 500,
                    "times": 5,
                }
            ],
        )
        result = await p.add(Feature.WATCHLIST, [movie_item(a), movie_item(b)])
        accounted(result, [movie_item(a), movie_item(b)])
        assert [i.title for i in result.ok] == [b.title]
        [(failed, why)] = result.failed
        assert failed.title == a.title and "HTTP 500" in why and "\n" not in why
        # a dated play whose answer is lost may have counted: not re-sent blindly, raised
        emu.faults.control("POST", [{"method": "POST", "path": f"/Users/{emu.user_id}/PlayedItems/*", "status": 503}])
        with pytest.raises(OutcomeUnknown, match="may have been applied"):
            await p.add(Feature.HISTORY, [movie_item(a, watched_at="2024-01-01T00:00:00Z")])
        # a revoked token: the command that signs in again
        emu.accounts.revoke_all()
        with pytest.raises(SignInError) as refused:
            await env.build().read(Feature.HISTORY)
        assert f"run `crosswatch auth {flavour.name}`" in str(refused.value) and "\n" not in str(refused.value)
        assert refused.value.provider == flavour.name.upper()

    # nobody listening: where, and what happened, in one line
    provider = specs()[env.kind.provider].factory(
        ProviderContext(env.kind.provider, "default", msgspec.structs.replace(env.settings, timeout=5.0), env.state)
    )
    try:
        with pytest.raises(HttpError) as down:
            await provider.read(Feature.RATINGS)
        assert env.url in str(down.value) and "ConnectError" in str(down.value) and "\n" not in str(down.value)
    finally:
        await provider.aclose()


async def test_a_profile_that_never_signed_in_is_told_what_to_run(tmp_path: Path) -> None:
    emu = make_emulator(EMBY)
    async with serve_app(emu) as url:
        settings = settings_for(url, emu)
        provider = specs()["EMBY"].factory(ProviderContext("EMBY", "kids", settings, StateDir(tmp_path)))
        with pytest.raises(
            SignInError, match=r"^Emby \(profile kids\): not signed in: run `crosswatch auth emby --profile kids`$"
        ):
            await provider.read(Feature.HISTORY)
        await provider.aclose()
        async with httpx.AsyncClient() as client:
            assert (await client.get(url + "/_emulator/stats")).json()["total"] == 0


@pytest.mark.parametrize("body", [b'[{"Id": "1", "Name": ', b"[" * 100_000 + b"]" * 100_000], ids=["cut", "deep"])
async def test_an_answer_that_is_not_json_is_one_line_naming_the_server(body: bytes, tmp_path: Path) -> None:
    async with fake_server() as (fake, url):
        fake.routes["GET /Users"] = (200, {}, body)
        refused = await read_refused({"url": url, "user": "dana", "api_key": "k", "max_retries": 0}, tmp_path)
        message = str(refused)
        assert isinstance(refused, HttpError)
        assert "GET /Users: the answer is not JSON" in message and url in message and "\n" not in message
        assert fake.calls == ["GET /Users"]
