"""The Trakt emulator over real loopback HTTP, on both anyio backends.

Headers and tokens, the device flow, refresh, pagination, ETags, write summaries, caps,
rate limits, scripted faults, the state endpoints, determinism and the command line.
"""

from __future__ import annotations

import json
import math
import signal
import time
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from crosswatch.emulation.catalog import build_catalog
from crosswatch.emulation.server import serve_app
from crosswatch_trakt.emulator import EmulatorSettings, TraktEmulator
from crosswatch_trakt.emulator.cli import main
from tests.emulator_helpers import busy_port, emulator_cli


def make(**knobs: Any) -> TraktEmulator:
    """A small emulator without the 1 write/s pace (tests that need it set it back)."""
    return TraktEmulator(seed=3, size=300, settings=EmulatorSettings(interval=0, post_limit=0, **knobs))


def api_headers(emu: TraktEmulator, token: str | None = None) -> dict[str, str]:
    headers = {"trakt-api-key": emu.client_id, "trakt-api-version": "2"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


@asynccontextmanager
async def signed_in(emu: TraktEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the served emulator that sends the key, the version and a fresh token."""
    async with serve_app(emu) as url:
        token = emu.issue_token()["access_token"]
        async with httpx.AsyncClient(base_url=url, headers=api_headers(emu, token), timeout=10) as client:
            yield client


async def plays_count(client: httpx.AsyncClient) -> int:
    response = await client.get("/sync/history", params={"limit": 1})
    return int(response.headers["x-pagination-item-count"])


# -- headers, tokens, sign-in ----------------------------------------------------------------


@pytest.mark.anyio
async def test_headers_are_checked_403_400_412_401() -> None:
    emu = make()
    other = emu.auth.add_app()
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url) as client:
        token = emu.issue_token()["access_token"]
        good = api_headers(emu, token)
        assert (await client.get("/sync/watchlist", headers=good)).status_code == 200
        no_key = {k: v for k, v in good.items() if k != "trakt-api-key"}
        assert (await client.get("/sync/watchlist", headers=no_key)).status_code == 403
        assert (await client.get("/sync/watchlist", headers={**good, "trakt-api-key": "nope"})).status_code == 403
        no_version = {k: v for k, v in good.items() if k != "trakt-api-version"}
        assert (await client.get("/sync/watchlist", headers=no_version)).status_code == 400
        response = await client.post(
            "/sync/watchlist", headers={**good, "Content-Type": "text/plain"}, content=b'{"movies": []}'
        )
        assert response.status_code == 412
        assert (await client.get("/sync/watchlist", headers=api_headers(emu))).status_code == 401
        assert (await client.get("/sync/watchlist", headers=api_headers(emu, "f" * 64))).status_code == 401
        # a token only works with the app it was issued to
        foreign = {**good, "trakt-api-key": other.client_id}
        assert (await client.get("/sync/watchlist", headers=foreign)).status_code == 401
        response = await client.get("/sync/watchlist", headers=good)
        assert response.headers["content-type"] == "application/json"


@pytest.mark.anyio
async def test_device_flow_status_codes() -> None:
    emu = make(approve_after_polls=2, token_ttl=3600)
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.post("/oauth/device/code", json={"client_id": "nope"})).status_code == 403
        # PyTrakt joins BASE_URL and "/oauth/..." into a double slash: still served
        code = (await client.post(f"{url}//oauth/device/code", json={"client_id": emu.client_id})).json()
        assert set(code) == {"device_code", "user_code", "verification_url", "expires_in", "interval"}
        assert code["expires_in"] == 600 and code["interval"] == 0
        body = {"code": code["device_code"], "client_id": emu.client_id, "client_secret": emu.client_secret}
        poll = "/oauth/device/token"
        assert (await client.post(poll, json={**body, "client_secret": "wrong"})).status_code == 401
        assert (await client.post(poll, json={**body, "code": "0" * 64})).status_code == 404
        assert [(await client.post(poll, json=body)).status_code for _ in range(2)] == [400, 400]
        reply = await client.post(poll, json=body)
        assert reply.status_code == 200
        tokens = reply.json()
        assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token", "scope", "created_at"}
        assert tokens["token_type"] == "bearer" and tokens["scope"] == "public" and tokens["expires_in"] == 3600
        assert abs(tokens["created_at"] - time.time()) < 60
        assert (await client.post(poll, json=body)).status_code == 409
        headers = api_headers(emu, tokens["access_token"])
        assert (await client.get("/users/settings", headers=headers)).status_code == 200

        # polled faster than the interval: 429 "slow down", not counted as a poll
        await client.post("/_emulator/settings", json={"interval": 30})
        code = (await client.post("/oauth/device/code", json={"client_id": emu.client_id})).json()
        assert code["interval"] == 30
        body["code"] = code["device_code"]
        assert [(await client.post(poll, json=body)).status_code for _ in range(2)] == [400, 429]

        # denied, and expired
        await client.post("/_emulator/settings", json={"interval": 0, "deny": True, "approve_after_polls": 0})
        body["code"] = (await client.post("/oauth/device/code", json={"client_id": emu.client_id})).json()[
            "device_code"
        ]
        assert (await client.post(poll, json=body)).status_code == 418
        await client.post("/_emulator/settings", json={"deny": False, "approve_after_polls": 5})
        emu.settings.device_code_ttl = 0
        body["code"] = (await client.post("/oauth/device/code", json={"client_id": emu.client_id})).json()[
            "device_code"
        ]
        await anyio.sleep(0.01)
        assert (await client.post(poll, json=body)).status_code == 410

        # approved at once, through the test control and through /activate
        emu.settings.device_code_ttl = 600
        for approve in ("control", "activate"):
            code = (await client.post("/oauth/device/code", json={"client_id": emu.client_id})).json()
            if approve == "control":
                await client.post("/_emulator/approve", json={"user_code": code["user_code"]})
            else:
                assert (await client.get("/activate", params={"code": code["user_code"]})).status_code == 200
            body["code"] = code["device_code"]
            assert (await client.post(poll, json=body)).status_code == 200


@pytest.mark.anyio
async def test_refresh_tokens_are_single_use_and_revoke_works() -> None:
    emu = make()
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url) as client:
        first = emu.issue_token()
        body = {
            "refresh_token": first["refresh_token"],
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
            "grant_type": "refresh_token",
        }
        reply = await client.post("/oauth/token", json=body)
        assert reply.status_code == 200
        second = reply.json()
        assert second["access_token"] != first["access_token"]
        again = await client.post("/oauth/token", json=body)
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_grant" and again.json()["error_description"]
        # form-encoded, as OAuth libraries send it
        form = {**body, "refresh_token": second["refresh_token"]}
        assert (await client.post("/oauth/token", data=form)).status_code == 200
        assert (await client.post("/oauth/token", json={**body, "client_secret": "x"})).status_code == 401
        # authorization_code grant with a code from the test control; single-use too
        code = (await client.post("/_emulator/authorize", json={})).json()["code"]
        grant = {**body, "grant_type": "authorization_code", "code": code}
        assert (await client.post("/oauth/token", json=grant)).status_code == 200
        assert (await client.post("/oauth/token", json=grant)).status_code == 400
        # revoke: the token stops working
        headers = api_headers(emu, second["access_token"])
        assert (await client.get("/sync/last_activities", headers=headers)).status_code == 200
        revoke = {"token": second["access_token"], "client_id": emu.client_id, "client_secret": emu.client_secret}
        assert (await client.post("/oauth/revoke", json=revoke)).status_code == 200
        assert (await client.get("/sync/last_activities", headers=headers)).status_code == 401


@pytest.mark.anyio
async def test_expire_tokens_mid_run_then_refresh() -> None:
    emu = make()
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url) as client:
        tokens = [emu.issue_token() for _ in range(2)]
        for token in tokens:  # several tokens valid at once
            headers = api_headers(emu, token["access_token"])
            assert (await client.get("/sync/last_activities", headers=headers)).status_code == 200
        assert (await client.get("/_emulator/state")).json()["tokens"] == 2
        assert (await client.post("/_emulator/expire_tokens")).json() == {"expired": 2}
        assert (await client.get("/sync/last_activities", headers=headers)).status_code == 401
        body = {
            "refresh_token": tokens[0]["refresh_token"],
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "grant_type": "refresh_token",
        }
        fresh = (await client.post("/oauth/token", json=body)).json()
        headers = api_headers(emu, fresh["access_token"])
        assert (await client.get("/sync/last_activities", headers=headers)).status_code == 200


# -- reads ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_pagination_headers_default_and_clamping() -> None:
    emu = TraktEmulator(seed=3, size=300, plays=620, settings=EmulatorSettings(post_limit=0))
    async with signed_in(emu) as client:
        reply = await client.get("/sync/history")
        assert reply.headers["x-pagination-page"] == "1"
        assert reply.headers["x-pagination-limit"] == "100"
        assert reply.headers["x-pagination-page-count"] == "7"
        assert reply.headers["x-pagination-item-count"] == "620"
        assert len(reply.json()) == 100
        reply = await client.get("/sync/history", params={"page": 3, "limit": 1000})
        assert reply.status_code == 200
        assert reply.headers["x-pagination-limit"] == "250"
        assert reply.headers["x-pagination-page-count"] == "3"
        assert len(reply.json()) == 120
        # every page, newest first, each play once
        seen: list[dict[str, Any]] = []
        for page in (1, 2, 3):
            seen += (await client.get("/sync/history", params={"page": page, "limit": 250})).json()
        assert len({p["id"] for p in seen}) == 620
        assert [p["watched_at"] for p in seen] == sorted((p["watched_at"] for p in seen), reverse=True)
        assert (await client.get("/sync/history", params={"page": 9, "limit": 250})).json() == []
        # ratings paginate only when asked
        reply = await client.get("/sync/ratings/all")
        assert "x-pagination-page" not in reply.headers and len(reply.json()) == len(emu.state.ratings)
        reply = await client.get("/sync/ratings/all", params={"page": 2, "limit": 10})
        assert reply.headers["x-pagination-item-count"] == str(len(emu.state.ratings))
        assert len(reply.json()) == 10
        # watchlist: paginated, with the entry shape
        reply = await client.get("/sync/watchlist", params={"limit": 5})
        assert reply.headers["x-pagination-item-count"] == str(len(emu.state.watchlist))
        entry = reply.json()[0]
        assert list(entry)[:5] == ["rank", "id", "listed_at", "notes", "type"]
        assert entry["rank"] == 1


@pytest.mark.anyio
async def test_history_filters_by_type_id_and_time() -> None:
    emu = make()
    async with signed_in(emu) as client:
        movies = (await client.get("/sync/history/movies", params={"limit": 250})).json()
        assert movies and all(p["type"] == "movie" and "movie" in p for p in movies)
        episodes = (await client.get("/sync/history/shows", params={"limit": 5})).json()
        assert all(p["type"] == "episode" and "episode" in p and "show" in p for p in episodes)
        show_trakt = episodes[0]["show"]["ids"]["trakt"]
        of_show = (await client.get(f"/sync/history/shows/{show_trakt}", params={"limit": 250})).json()
        assert of_show and {p["show"]["ids"]["trakt"] for p in of_show} == {show_trakt}
        middle = movies[len(movies) // 2]["watched_at"]
        newer = (await client.get("/sync/history/movies", params={"start_at": middle, "limit": 250})).json()
        assert newer and all(p["watched_at"] >= middle for p in newer)
        older = (await client.get("/sync/history/movies", params={"end_at": middle, "limit": 250})).json()
        assert len(newer) + len(older) == len(movies) + sum(1 for p in movies if p["watched_at"] == middle)


@pytest.mark.anyio
async def test_etags_change_exactly_when_the_data_changes() -> None:
    emu = make()
    async with signed_in(emu) as client:
        first = await client.get("/sync/watchlist")
        etag = first.headers["etag"]
        assert etag.startswith('W/"')
        cached = await client.get("/sync/watchlist", headers={"If-None-Match": etag})
        assert cached.status_code == 304 and cached.content == b""
        # re-adding what is listed changes nothing
        listed = first.json()[0]
        kind = listed["type"]
        await client.post("/sync/watchlist", json={f"{kind}s": [{"ids": listed[kind]["ids"]}]})
        assert (await client.get("/sync/watchlist", headers={"If-None-Match": etag})).status_code == 304
        movie = next(m for m in emu.catalog.movies if ("movie", m.trakt) not in emu.state.watchlist)
        await client.post("/sync/watchlist", json={"movies": [{"ids": {"trakt": movie.trakt}}]})
        changed = await client.get("/sync/watchlist", headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        # per kind: a show rating leaves the movie ratings' ETag alone
        movies_etag = (await client.get("/sync/ratings/movies")).headers["etag"]
        all_etag = (await client.get("/sync/ratings/all")).headers["etag"]
        show = emu.catalog.shows[0]
        await client.post("/sync/ratings", json={"shows": [{"ids": {"trakt": show.trakt}, "rating": 3}]})
        assert (await client.get("/sync/ratings/movies", headers={"If-None-Match": movies_etag})).status_code == 304
        assert (await client.get("/sync/ratings/all", headers={"If-None-Match": all_etag})).status_code == 200
        history_etag = (await client.get("/sync/history")).headers["etag"]
        await client.post("/sync/history", json={"movies": [{"ids": {"trakt": movie.trakt}}]})
        assert (await client.get("/sync/history", headers={"If-None-Match": history_etag})).status_code == 200


@pytest.mark.anyio
async def test_last_activities_move_on_every_write() -> None:
    emu = make()
    async with signed_in(emu) as client:
        before = (await client.get("/sync/last_activities")).json()
        assert set(before) >= {"all", "movies", "episodes", "shows", "seasons", "watchlist"}
        movie = next(m for m in emu.catalog.movies if ("movie", m.trakt) not in emu.state.watchlist)
        await client.post("/sync/ratings", json={"movies": [{"ids": {"trakt": movie.trakt}, "rating": 7}]})
        after = (await client.get("/sync/last_activities")).json()
        assert after["movies"]["rated_at"] > before["movies"]["rated_at"]
        assert after["all"] > before["all"]
        assert after["episodes"] == before["episodes"]
        await client.post("/sync/watchlist", json={"movies": [{"ids": {"trakt": movie.trakt}}]})
        later = (await client.get("/sync/last_activities")).json()
        assert later["movies"]["watchlisted_at"] > after["movies"]["watchlisted_at"]
        assert later["watchlist"]["updated_at"] > after["watchlist"]["updated_at"]


# -- writes ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_watchlist_summary_added_existing_not_found() -> None:
    emu = make()
    async with signed_in(emu) as client:
        listed_key = next(k for k in emu.state.watchlist if k[0] == "movie")
        fresh = next(m for m in emu.catalog.movies if ("movie", m.trakt) not in emu.state.watchlist)
        show = next(s for s in emu.catalog.shows if len(s.seasons) >= 2)
        before = len(emu.state.watchlist)
        body = {
            "movies": [
                {"ids": {"imdb": fresh.imdb}, "title": fresh.title, "year": fresh.year},
                {"ids": {"trakt": listed_key[1]}},
                {"ids": {"imdb": "tt0000001"}},
            ],
            "shows": [{"ids": {"tvdb": show.tvdb}, "seasons": [{"number": 2}, {"number": 77}]}],
        }
        reply = await client.post("/sync/watchlist", json=body)
        assert reply.status_code == 201
        summary = reply.json()
        assert summary["added"] == {"movies": 1, "shows": 0, "seasons": 1, "episodes": 0}
        assert summary["existing"] == {"movies": 1, "shows": 0, "seasons": 0, "episodes": 0}
        assert summary["not_found"]["movies"] == [{"ids": {"imdb": "tt0000001"}}]
        assert summary["not_found"]["shows"] == [{"ids": {"tvdb": show.tvdb}, "seasons": [{"number": 77}]}]
        assert summary["list"]["item_count"] == before + 2
        reply = await client.post("/sync/watchlist/remove", json={"movies": [{"ids": {"slug": fresh.slug}}]})
        assert reply.status_code == 200
        assert reply.json()["deleted"]["movies"] == 1 and reply.json()["list"]["item_count"] == before + 1


@pytest.mark.anyio
async def test_ratings_nested_and_not_found_echo() -> None:
    emu = make()
    async with signed_in(emu) as client:
        show = emu.catalog.shows[2]
        movie = emu.catalog.movies[3]
        body = {
            "movies": [{"ids": {"tmdb": movie.tmdb}, "rating": 9, "rated_at": "2024-05-01T10:00:00.000Z"}],
            "shows": [
                {
                    "ids": {"trakt": show.trakt},
                    "rating": 8,
                    "seasons": [{"number": 1, "rating": 7, "episodes": [{"number": 2, "rating": 10}]}],
                }
            ],
            "episodes": [{"ids": {"tvdb": 1}, "rating": 5}],
        }
        reply = await client.post("/sync/ratings", json=body)
        assert reply.status_code == 201
        assert reply.json()["added"] == {"movies": 1, "shows": 1, "seasons": 1, "episodes": 1}
        assert reply.json()["not_found"]["episodes"] == [{"ids": {"tvdb": 1}, "rating": 5}]
        rated = (await client.get("/sync/ratings/movies/9")).json()
        assert any(
            r["movie"]["ids"]["trakt"] == movie.trakt and r["rated_at"] == "2024-05-01T10:00:00.000Z" for r in rated
        )
        episodes = (await client.get("/sync/ratings/episodes")).json()
        episode = show.seasons[0].episodes[1]
        assert any(r["episode"]["ids"]["trakt"] == episode.trakt and r["rating"] == 10 for r in episodes)
        assert (
            await client.post("/sync/ratings", json={"movies": [{"ids": {"trakt": movie.trakt}, "rating": 11}]})
        ).status_code == 422
        removed = await client.post("/sync/ratings/remove", json={"movies": [{"ids": {"trakt": movie.trakt}}]})
        assert removed.json()["deleted"]["movies"] == 1


@pytest.mark.anyio
async def test_history_is_never_deduplicated_and_number_fallback() -> None:
    emu = make()
    async with signed_in(emu) as client:
        movie = next(
            m for m in emu.catalog.movies if not any(p.key == ("movie", m.trakt) for p in emu.state.plays.values())
        )
        play = {"movies": [{"ids": {"trakt": movie.trakt}, "watched_at": "2025-06-01T20:00:00.000Z"}]}
        first = await client.post("/sync/history", json=play)
        second = await client.post("/sync/history", json=play)
        assert first.status_code == second.status_code == 201
        assert first.json()["added"] == second.json()["added"] == {"movies": 1, "episodes": 0}
        assert set(first.json()["not_found"]) == {"movies", "shows", "seasons", "episodes"}
        plays = (await client.get(f"/sync/history/movies/{movie.trakt}")).json()
        assert len(plays) == 2 and len({p["id"] for p in plays}) == 2
        assert {p["watched_at"] for p in plays} == {"2025-06-01T20:00:00.000Z"}
        assert all(isinstance(p["id"], int) and p["action"] == "watch" for p in plays)
        # episodes by show ids + numbers; a show without seasons means all its episodes
        show, other = emu.catalog.shows[5], emu.catalog.shows[6]
        body = {
            "shows": [
                {
                    "ids": {"imdb": show.imdb},
                    "seasons": [{"number": 1, "episodes": [{"number": 1, "watched_at": "released"}]}],
                },
                {"ids": {"trakt": other.trakt}, "watched_at": "2025-01-01T00:00:00.000Z"},
            ]
        }
        reply = await client.post("/sync/history", json=body)
        assert reply.json()["added"]["episodes"] == 1 + sum(1 for _ in other.episodes())
        first_ep = show.seasons[0].episodes[0]
        mine = (await client.get(f"/sync/history/episodes/{first_ep.trakt}")).json()
        assert any(
            p["watched_at"]
            == time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(first_ep.aired + first_ep.runtime * 60))
            for p in mine
        )


@pytest.mark.anyio
async def test_history_remove_by_history_ids_and_by_media() -> None:
    emu = make()
    async with signed_in(emu) as client:
        total = await plays_count(client)
        newest = (await client.get("/sync/history", params={"limit": 2})).json()
        reply = await client.post("/sync/history/remove", json={"ids": [newest[0]["id"], 12345]})
        assert reply.status_code == 200
        assert sum(reply.json()["deleted"].values()) == 1
        assert reply.json()["not_found"]["ids"] == [12345]
        assert await plays_count(client) == total - 1
        movie_trakt = next(p.key[1] for p in emu.state.plays.values() if p.key[0] == "movie")
        count = sum(1 for p in emu.state.plays.values() if p.key == ("movie", movie_trakt))
        reply = await client.post("/sync/history/remove", json={"movies": [{"ids": {"trakt": movie_trakt}}]})
        assert reply.json()["deleted"] == {"movies": count, "episodes": 0}
        assert await plays_count(client) == total - 1 - count


@pytest.mark.anyio
async def test_playback_collection_watched_settings() -> None:
    emu = make()
    async with signed_in(emu) as client:
        playback = (await client.get("/sync/playback")).json()
        assert playback and {"progress", "paused_at", "id", "type"} <= set(playback[0])
        movies_only = (await client.get("/sync/playback/movies")).json()
        assert all(p["type"] == "movie" for p in movies_only)
        assert (await client.delete(f"/sync/playback/{playback[0]['id']}")).status_code == 204
        assert (await client.delete(f"/sync/playback/{playback[0]['id']}")).status_code == 404
        collected = (await client.get("/sync/collection/movies")).json()
        assert collected and {"collected_at", "movie"} <= set(collected[0])
        shows = (await client.get("/sync/collection/shows")).json()
        assert shows and shows[0]["seasons"][0]["episodes"][0]["collected_at"]
        movie = next(m for m in emu.catalog.movies if ("movie", m.trakt) not in emu.state.collection)
        reply = await client.post("/sync/collection", json={"movies": [{"ids": {"trakt": movie.trakt}}]})
        assert reply.status_code == 201 and reply.json()["added"] == {"movies": 1, "episodes": 0}
        again = await client.post("/sync/collection", json={"movies": [{"ids": {"trakt": movie.trakt}}]})
        assert again.json()["existing"] == {"movies": 1, "episodes": 0}
        watched = (await client.get("/sync/watched/movies")).json()
        assert watched and watched[0]["plays"] >= watched[-1]["plays"]
        settings = (await client.get("/users/settings")).json()
        assert settings["limits"]["watchlist"]["item_count"] == 250
        assert settings["limits"]["list"] == {"count": 2, "item_count": 100}
        assert settings["user"]["vip"] is False


@pytest.mark.anyio
async def test_scrobble_start_pause_stop_and_duplicates() -> None:
    emu = make()
    async with signed_in(emu) as client:
        movie = emu.catalog.movies[7]
        item = {"movie": {"ids": {"trakt": movie.trakt}}}
        start = await client.post("/scrobble/start", json={**item, "progress": 0})
        assert start.status_code == 201 and start.json()["action"] == "start"
        paused = await client.post("/scrobble/pause", json={**item, "progress": 42.5})
        assert paused.json()["action"] == "pause"
        assert ("movie", movie.trakt) in {p.key for p in emu.state.playback.values()}
        assert (await client.post("/scrobble/stop", json={**item, "progress": 0.5})).status_code == 422
        assert (await client.post("/scrobble/stop", json={**item, "progress": 101})).status_code == 422
        total = await plays_count(client)
        stop = await client.post("/scrobble/stop", json={**item, "progress": 90})
        assert stop.status_code == 201 and stop.json()["action"] == "scrobble"
        assert stop.json()["movie"]["ids"]["trakt"] == movie.trakt
        assert await plays_count(client) == total + 1
        assert ("movie", movie.trakt) not in {p.key for p in emu.state.playback.values()}
        duplicate = await client.post("/scrobble/stop", json={**item, "progress": 95})
        assert duplicate.status_code == 409 and set(duplicate.json()) == {"watched_at", "expires_at"}
        show = emu.catalog.shows[0]
        by_numbers = {"show": {"ids": {"trakt": show.trakt}}, "episode": {"season": 1, "number": 1}, "progress": 50}
        reply = await client.post("/scrobble/stop", json=by_numbers)
        assert reply.json()["action"] == "pause" and reply.json()["episode"]["number"] == 1
        missing = await client.post("/scrobble/start", json={"movie": {"ids": {"imdb": "tt0000002"}}, "progress": 1})
        assert missing.status_code == 404


# -- limits and faults ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_account_caps_refuse_a_write_whole_with_420() -> None:
    emu = make()
    emu.settings.watchlist_limit = len(emu.state.watchlist) + 1
    async with signed_in(emu) as client:
        fresh = [m for m in emu.catalog.movies if ("movie", m.trakt) not in emu.state.watchlist][:2]
        before = len(emu.state.watchlist)
        reply = await client.post("/sync/watchlist", json={"movies": [{"ids": {"trakt": m.trakt}} for m in fresh]})
        assert reply.status_code == 420
        assert reply.headers["x-account-limit"] == str(before + 1)
        assert reply.headers["x-vip-user"] == "false"
        assert reply.headers["x-upgrade-url"].startswith("https://")
        assert len(emu.state.watchlist) == before
        assert (
            await client.post("/sync/watchlist", json={"movies": [{"ids": {"trakt": fresh[0].trakt}}]})
        ).status_code == 201
        await client.post("/_emulator/settings", json={"vip": True})
        reply = await client.post("/sync/watchlist", json={"movies": [{"ids": {"trakt": fresh[1].trakt}}]})
        assert reply.status_code == 201
        assert (await client.get("/users/settings")).json()["user"]["vip"] is True


@pytest.mark.anyio
async def test_rate_limits_answer_429_with_retry_after_and_x_ratelimit() -> None:
    emu = make(get_limit=3, get_period=60)
    async with signed_in(emu) as client:
        statuses = [(await client.get("/sync/last_activities")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        reply = await client.get("/sync/last_activities")
        assert reply.status_code == 429
        assert 1 <= int(reply.headers["retry-after"]) <= 60
        state = json.loads(reply.headers["x-ratelimit"])
        assert state["name"] == "AUTHED_API_GET_LIMIT" and state["limit"] == 3 and state["remaining"] == 0
        assert state["period"] == 60 and state["until"].endswith("Z")
        await client.post("/_emulator/settings", json={"get_limit": 0, "post_limit": 1, "post_period": 0.3})
        movie = {"movies": [{"ids": {"trakt": emu.catalog.movies[0].trakt}}]}
        assert (await client.post("/sync/history", json=movie)).status_code == 201
        reply = await client.post("/sync/history", json=movie)
        assert reply.status_code == 429 and reply.headers["retry-after"] == "1"
        assert json.loads(reply.headers["x-ratelimit"])["name"] == "AUTHED_API_POST_LIMIT"
        await anyio.sleep(0.35)
        assert (await client.post("/sync/history", json=movie)).status_code == 201
        stats = (await client.get("/_emulator/stats")).json()
        assert stats["throttled"] == 3
        assert stats["requests"]["POST /sync/history"] == 3
        assert [w["status"] for w in stats["writes"]] == [201, 429, 201]


@pytest.mark.anyio
async def test_scripted_faults_in_order_and_after_apply() -> None:
    emu = make()
    async with signed_in(emu) as client:
        movie = {"movies": [{"ids": {"trakt": emu.catalog.movies[0].trakt}}]}
        faults = [
            {"method": "POST", "path": "/sync/history", "status": 503, "retry_after": 2},
            {"method": "POST", "path": "/sync/history", "status": 502},
            {"method": "POST", "path": "/sync/history", "status": 504, "after_apply": True},
            {"method": "POST", "path": "/sync/history", "drop": True, "after_apply": True},
            {"method": "POST", "path": "/sync/*", "drop": True},
        ]
        assert len((await client.post("/_emulator/faults", json=faults)).json()["pending"]) == 5
        total = await plays_count(client)
        first = await client.post("/sync/history", json=movie)
        assert first.status_code == 503 and first.headers["retry-after"] == "2"
        assert (await client.post("/sync/history", json=movie)).status_code == 502
        assert await plays_count(client) == total  # not applied
        assert (await client.post("/sync/history", json=movie)).status_code == 504
        assert await plays_count(client) == total + 1  # applied, answer lost
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/sync/history", json=movie)
        assert await plays_count(client) == total + 2  # applied, connection dropped mid-body
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/sync/history", json=movie)
        assert await plays_count(client) == total + 2  # dropped before it was applied
        assert (await client.get("/_emulator/faults")).json()["pending"] == []
        assert (await client.post("/sync/history", json=movie)).status_code == 201
        stats = (await client.get("/_emulator/stats")).json()
        assert stats["faults"] == 5 and stats["dropped"] == 2


@pytest.mark.anyio
async def test_random_errors_drops_and_latency_knobs() -> None:
    emu = make(error_rate=1.0)
    async with signed_in(emu) as client:
        assert (await client.get("/sync/last_activities")).status_code in (500, 502, 503)
        await client.post("/_emulator/settings", json={"error_rate": 0, "drop_rate": 1.0})
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/sync/last_activities")
        await client.post("/_emulator/settings", json={"drop_rate": 0, "latency_ms": 60})
        started = time.perf_counter()
        assert (await client.get("/sync/last_activities")).status_code == 200
        assert time.perf_counter() - started >= 0.06
        bad = await client.post("/_emulator/settings", json={"no_such_knob": 1})
        assert bad.status_code == 422 and "no_such_knob" in bad.text


@pytest.mark.anyio
async def test_emulator_controls_apps_tokens_catalog() -> None:
    emu = make()
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url) as client:
        assert "/_emulator/state" in json.dumps((await client.get("/_emulator")).json())
        app = (await client.post("/_emulator/apps", json={"name": "second"})).json()
        assert len((await client.get("/_emulator/apps")).json()) == 2
        token = (await client.post("/_emulator/tokens", json={"client_id": app["client_id"]})).json()
        headers = {"trakt-api-key": app["client_id"], "trakt-api-version": "2"}
        headers["Authorization"] = f"Bearer {token['access_token']}"
        assert (await client.get("/sync/watchlist", headers=headers)).status_code == 200
        assert (await client.post("/_emulator/tokens", json={"client_id": "nope"})).status_code == 422
        catalog = (await client.get("/_emulator/catalog")).json()
        assert len(catalog["movies"]) + len(catalog["shows"]) == 300
        assert catalog["shows"][0]["seasons"][0]["episodes"][0]["ids"]["tvdb"]
        assert (await client.get("/sync/nothing-here", headers=headers)).status_code == 404


@pytest.mark.anyio
async def test_serve_app_stops_cleanly_when_the_block_raises() -> None:
    emu = make()
    with pytest.raises(KeyError):
        async with serve_app(emu) as url:
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"{url}/_emulator/settings")).status_code == 200
            raise KeyError("boom")
    async with serve_app(emu) as again, httpx.AsyncClient() as client:
        assert (await client.get(f"{again}/_emulator/settings")).json()["interval"] == 0


# -- state, determinism, performance ------------------------------------------------------------


@pytest.mark.anyio
async def test_state_get_and_set_round_trip() -> None:
    emu = make()
    async with signed_in(emu) as client:
        state = (await client.get("/_emulator/state")).json()
        assert set(state) == {"watchlist", "ratings", "history", "playback", "collection", "activities", "tokens"}
        assert state["tokens"] == 1
        play = state["history"][0]
        assert {"id", "type", "trakt", "watched_at", "action"} <= set(play)
        reply = await client.post("/_emulator/state", json=state)
        assert reply.status_code == 200
        again = reply.json()
        for feature in ("watchlist", "ratings", "history", "playback", "collection"):
            assert again[feature] == state[feature]
        # replace with a tiny state: the API shows exactly that
        movie = emu.catalog.movies[0]
        tiny = {
            "watchlist": [{"type": "movie", "trakt": movie.trakt, "listed_at": "2024-01-02T03:04:05.000Z"}],
            "history": [{"id": 77, "type": "movie", "trakt": movie.trakt, "watched_at": "2024-01-03T00:00:00.000Z"}],
        }
        assert (await client.post("/_emulator/state", json=tiny)).status_code == 200
        listed = (await client.get("/sync/watchlist")).json()
        assert [(e["movie"]["ids"]["trakt"], e["listed_at"]) for e in listed] == [
            (movie.trakt, "2024-01-02T03:04:05.000Z")
        ]
        assert [p["id"] for p in (await client.get("/sync/history")).json()] == [77]
        assert (await client.get("/sync/ratings/all")).json() == []
        new_play = await client.post("/sync/history", json={"movies": [{"ids": {"trakt": movie.trakt}}]})
        assert new_play.status_code == 201
        assert max(p["id"] for p in (await client.get("/sync/history")).json()) > 77
        bad = await client.post("/_emulator/state", json={"ratings": [{"type": "movie", "trakt": -5, "rating": 3}]})
        assert bad.status_code == 422
        assert (await client.post("/_emulator/reset")).status_code == 200
        assert (await client.get("/_emulator/state")).json()["history"] == state["history"]


def test_same_seed_same_catalogue_and_state() -> None:
    one, two = build_catalog(500, 11), build_catalog(500, 11)
    assert [(t.kind, t.trakt, t.slug, t.imdb, t.title, t.year) for t in one.titles] == [
        (t.kind, t.trakt, t.slug, t.imdb, t.title, t.year) for t in two.titles
    ]
    assert [e.ids() for e in one.episodes()] == [e.ids() for e in two.episodes()]
    assert [t.trakt for t in build_catalog(500, 12).titles] != [t.trakt for t in one.titles]
    share = len(one.movies) / len(one)
    assert 0.5 < share < 0.7
    assert all(1 <= len(s.seasons) <= 4 and all(3 <= len(x.episodes) <= 12 for x in s.seasons) for s in one.shows)
    assert all(m.imdb.startswith("tt") and 9 <= len(m.imdb) <= 10 for m in one.movies)
    show = one.shows[0]
    assert one.find("show", {"imdb": show.imdb}) is show
    assert one.find("episode", {"tvdb": str(show.seasons[0].episodes[0].tvdb)}) is show.seasons[0].episodes[0]
    a = TraktEmulator(seed=5, size=200, plays=300)
    b = TraktEmulator(seed=5, size=200, plays=300)
    assert a.client_id == b.client_id and a.client_secret == b.client_secret
    assert a.state.to_json() == b.state.to_json()
    assert len(a.state.plays) == 300
    assert a.issue_token()["access_token"] == b.issue_token()["access_token"]  # tokens are seeded too
    assert TraktEmulator(seed=6, size=200).state.to_json() != a.state.to_json()


def test_big_catalogue_and_history_build() -> None:
    """Benchmark-sized state builds (its speed is measured by tests/bench, not asserted here)."""
    catalog = build_catalog(20_000, 1)
    assert len(catalog) == 20_000
    emu = TraktEmulator(seed=1, size=20_000, plays=100_000, catalog=catalog)
    assert len(emu.state.plays) == 100_000


@pytest.mark.anyio
async def test_pages_of_250_plays_from_100k() -> None:
    emu = TraktEmulator(seed=1, size=2_000, plays=100_000, settings=EmulatorSettings(get_limit=0))
    async with signed_in(emu) as client:
        await client.get("/sync/history", params={"limit": 250})  # builds the sorted view once
        for page in range(1, 21):
            reply = await client.get("/sync/history", params={"page": page * 19, "limit": 250})
            assert len(reply.json()) == 250
        assert reply.headers["x-pagination-page-count"] == str(math.ceil(100_000 / 250))


# -- the command line -------------------------------------------------------------------------


def test_main_refuses_bad_arguments_and_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--size", "-1"]) == 2
    assert main(["--error-rate", "3"]) == 2
    with busy_port() as port:
        assert main(["--port", str(port), "--size", "5"]) == 1
    assert "cannot listen" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_prints_the_toml_block_first_and_exits_0_on_sigterm() -> None:
    args = ("--port", "0", "--seed", "3", "--size", "50")
    with emulator_cli("crosswatch_trakt.emulator", "auth_url", *args) as (proc, lines):
        config = tomllib.loads("".join(lines))["trakt"]
        assert set(config) == {"client_id", "client_secret", "api_url", "auth_url"}
        assert config["api_url"] == config["auth_url"]
        assert config["client_id"] == TraktEmulator(seed=3, size=50).client_id
        reply = httpx.post(f"{config['auth_url']}/oauth/device/code", json={"client_id": config["client_id"]})
        assert reply.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
