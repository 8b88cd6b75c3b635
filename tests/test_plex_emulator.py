"""The Plex emulator (PMS + plex.tv + Discover) over real loopback HTTP, on both anyio backends.

XML and JSON, tokens, sections and listings, guid styles, filters, history, writes, marked
watched items, the PIN flow, resources, home users, Discover, the websocket, faults and
knobs, the state endpoints, determinism (and ids shared with the Trakt emulator), speed and
the command line.
"""

from __future__ import annotations

import signal
import time
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from crosswatch.emulation.catalog import build_catalog
from crosswatch.emulation.server import serve_app
from crosswatch_plex.emulator import EmulatorSettings, PlexEmulator
from crosswatch_plex.emulator.cli import main
from crosswatch_plex.emulator.library import LEGACY, LEGACY_TMDB, LOCAL, MODERN, NO_IDS
from crosswatch_trakt.emulator import TraktEmulator
from tests.emulator_helpers import busy_port, emulator_cli

JSON = {"Accept": "application/json"}


def make(**knobs: Any) -> PlexEmulator:
    return PlexEmulator(seed=3, size=300, settings=EmulatorSettings(**knobs))


@asynccontextmanager
async def served(emu: PlexEmulator, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A JSON client of the served emulator that sends the owner's token."""
    async with serve_app(emu) as url:
        headers = {"X-Plex-Token": token or emu.owner_token, **JSON}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
            yield client


def mc(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()["MediaContainer"]


def of_style(emu: PlexEmulator, style: int, kind: str = "movie") -> Any:
    titles = emu.catalog.movies if kind == "movie" else emu.catalog.shows
    return next(t for t in titles if emu.library.style[t] == style)


async def item(client: httpx.AsyncClient, rk: int | str) -> dict[str, Any]:
    return mc(await client.get(f"/library/metadata/{rk}"))["Metadata"][0]


# -- formats and tokens ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_xml_by_default_json_on_accept_and_401_without_token() -> None:
    emu = make()
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url) as client:
        token = {"X-Plex-Token": emu.owner_token}
        reply = await client.get("/library/sections", headers=token)
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/xml")
        root = ET.fromstring(reply.content)
        assert root.tag == "MediaContainer" and root.get("size") == "3"
        assert [(d.get("key"), d.get("type")) for d in root.iter("Directory")] == [
            ("1", "movie"),
            ("2", "show"),
            ("3", "artist"),
        ]
        assert root.find("Directory/Location").get("path") == "/data/Movies"
        as_json = await client.get("/library/sections", headers={**token, **JSON})
        assert as_json.headers["content-type"] == "application/json"
        sections = as_json.json()["MediaContainer"]["Directory"]
        assert [s["title"] for s in sections] == ["Movies", "TV Shows", "Music"]
        assert sections[0]["allowSync"] is True
        # the token as a query parameter works too (every X-Plex-* may be one)
        assert (await client.get(f"/library/sections?X-Plex-Token={emu.owner_token}")).status_code == 200
        refused = await client.get("/library/sections")
        assert refused.status_code == 401 and "401 Unauthorized" in refused.text
        assert (await client.get("/library/sections", headers={"X-Plex-Token": "x" * 20})).status_code == 401
        assert (await client.get("/status/sessions/history/all")).status_code == 401
        assert (await client.get("/api/v2/user", headers=JSON)).json()["errors"][0]["code"] == 1001
        # /identity needs no token
        ident = ET.fromstring((await client.get("/identity")).content)
        assert ident.get("machineIdentifier") == emu.machine_identifier and ident.get("claimed") == "1"
        server = mc(await client.get("/", headers={**token, **JSON}))
        assert server["machineIdentifier"] == emu.machine_identifier and server["myPlex"] is True
        accounts = mc(await client.get("/accounts", headers={**token, **JSON}))["Account"]
        assert [a["id"] for a in accounts] == [0, 1, *(a.id for a in emu.accounts[1:])]
        assert (await client.get("/library/nothing", headers=token)).status_code == 404


@pytest.mark.anyio
async def test_listing_paging_and_include_guids() -> None:
    emu = make()
    async with served(emu) as client:
        total = len(emu.catalog.movies)
        reply = await client.get(
            "/library/sections/1/all",
            params={"type": 1, "includeGuids": 1},
            headers={"X-Plex-Container-Start": "10", "X-Plex-Container-Size": "25"},
        )
        body = mc(reply)
        assert reply.headers["X-Plex-Container-Start"] == "10"
        assert reply.headers["X-Plex-Container-Total-Size"] == str(total)
        assert (body["size"], body["offset"], body["totalSize"]) == (25, 10, total)
        assert body["librarySectionID"] == 1 and len(body["Metadata"]) == 25
        # pages (query-string paging) add up to the whole default-ordered list
        keys: list[str] = []
        for start in range(0, total, 50):
            page = mc(
                await client.get(
                    "/library/sections/1/all", params={"X-Plex-Container-Start": start, "X-Plex-Container-Size": 50}
                )
            )
            keys += [m["ratingKey"] for m in page["Metadata"]]
        whole = mc(await client.get("/library/sections/1/all"))
        assert "totalSize" not in whole and whole["size"] == total
        assert keys == [m["ratingKey"] for m in whole["Metadata"]]
        titles = [m.get("titleSort", m["title"]).lower() for m in whole["Metadata"]]
        assert titles == sorted(titles)
        # Guid children only with includeGuids=1, and only on modern-agent items
        modern = str(emu.library.rk(of_style(emu, MODERN)))
        legacy = str(emu.library.rk(of_style(emu, LEGACY)))
        listed = {m["ratingKey"]: m for m in body["Metadata"]}
        plain = {m["ratingKey"]: m for m in mc(await client.get("/library/sections/1/all"))["Metadata"]}
        assert all("Guid" not in m for m in plain.values())
        full = {m["ratingKey"]: m for m in mc(await client.get("/library/sections/1/all?includeGuids=1"))["Metadata"]}
        assert full[modern]["Guid"] and "Guid" not in full[legacy]
        assert all("Media" in m for m in listed.values())
        # size 0 tells the total; limit caps it
        assert (
            mc(await client.get("/library/sections/1/all", headers={"X-Plex-Container-Size": "0"}))["totalSize"]
            == total
        )
        limited = mc(await client.get("/library/sections/1/all?limit=7&X-Plex-Container-Size=5"))
        assert (limited["size"], limited["totalSize"]) == (5, 7)
        # the TV section lists shows, seasons and episodes by type; the movie section has no episodes
        shows = mc(await client.get("/library/sections/2/all?type=2"))
        seasons = mc(await client.get("/library/sections/2/all?type=3&X-Plex-Container-Size=1"))
        episodes = mc(await client.get("/library/sections/2/all?type=4&X-Plex-Container-Size=1"))
        assert shows["size"] == len(emu.catalog.shows)
        assert seasons["totalSize"] == sum(len(s.seasons) for s in emu.catalog.shows)
        assert episodes["totalSize"] == sum(1 for _ in emu.catalog.episodes())
        assert episodes["Metadata"][0]["type"] == "episode" and "grandparentTitle" in episodes["Metadata"][0]
        assert mc(await client.get("/library/sections/1/all?type=4"))["size"] == 0
        assert mc(await client.get("/library/sections/3/all"))["size"] == 0
        assert (await client.get("/library/sections/9/all")).status_code == 404


@pytest.mark.anyio
async def test_guid_styles_and_ids_are_the_catalogues() -> None:
    emu = make()
    lib = emu.library
    async with served(emu) as client:
        movie = of_style(emu, MODERN)
        got = await item(client, lib.rk(movie))
        assert got["guid"] == f"plex://movie/{lib.discover_key(movie)}" and len(got["guid"]) == 37
        assert [g["id"] for g in got["Guid"]] == [f"imdb://{movie.imdb}", f"tmdb://{movie.tmdb}"]
        assert got["librarySectionID"] == 1 and got["librarySectionKey"] == "/library/sections/1"
        legacy = of_style(emu, LEGACY)
        got = await item(client, lib.rk(legacy))
        assert got["guid"] == f"com.plexapp.agents.imdb://{legacy.imdb}?lang=en" and "Guid" not in got
        tmdb = of_style(emu, LEGACY_TMDB)
        assert (await item(client, lib.rk(tmdb)))["guid"] == f"com.plexapp.agents.themoviedb://{tmdb.tmdb}?lang=en"
        local = of_style(emu, LOCAL)
        got = await item(client, lib.rk(local))
        assert got["guid"] == f"local://{lib.rk(local)}" and "Guid" not in got
        bare = of_style(emu, NO_IDS)
        got = await item(client, lib.rk(bare))
        assert got["guid"].startswith("plex://movie/") and "Guid" not in got
        # a legacy show's episode: thetvdb://<show>/<season>/<episode>
        show = of_style(emu, LEGACY, "show")
        ep = show.seasons[0].episodes[1]
        got = await item(client, lib.rk(ep))
        assert got["guid"] == f"com.plexapp.agents.thetvdb://{show.tvdb}/1/2?lang=en"
        assert got["grandparentGuid"] == f"com.plexapp.agents.thetvdb://{show.tvdb}?lang=en"
        assert (got["grandparentTitle"], got["parentIndex"], got["index"]) == (show.title, 1, 2)
        modern_show = of_style(emu, MODERN, "show")
        ep = modern_show.seasons[0].episodes[0]
        ids = {g["id"] for g in (await item(client, lib.rk(ep)))["Guid"]}
        assert {f"tmdb://{ep.tmdb}", f"tvdb://{ep.tvdb}"} <= ids
        show_ids = {g["id"] for g in (await item(client, lib.rk(modern_show)))["Guid"]}
        assert show_ids == {f"imdb://{modern_show.imdb}", f"tmdb://{modern_show.tmdb}", f"tvdb://{modern_show.tvdb}"}
        # several ids at once; unknown ones are skipped; none known is a 404
        many = mc(await client.get(f"/library/metadata/{lib.rk(movie)},{lib.rk(legacy)},999999999"))
        assert [m["ratingKey"] for m in many["Metadata"]] == [str(lib.rk(movie)), str(lib.rk(legacy))]
        assert (await client.get("/library/metadata/999999999")).status_code == 404
        # children and allLeaves
        season_list = mc(await client.get(f"/library/metadata/{lib.rk(modern_show)}/children"))
        assert [s["index"] for s in season_list["Metadata"]] == [s.number for s in modern_show.seasons]
        assert season_list["Directory"][0]["key"].endswith("/allLeaves")
        leaves = mc(await client.get(f"/library/metadata/{lib.rk(modern_show)}/allLeaves"))
        assert leaves["size"] == sum(len(s.episodes) for s in modern_show.seasons)
        first = mc(await client.get(f"/library/metadata/{lib.rk(modern_show.seasons[0])}/children"))
        assert [e["index"] for e in first["Metadata"]] == list(range(1, len(modern_show.seasons[0].episodes) + 1))


@pytest.mark.anyio
async def test_filters_and_sorts() -> None:
    emu = make()
    owner = emu.state.users[1]
    async with served(emu) as client:
        rated = mc(await client.get("/library/sections/1/all?type=1&userRating>>=0&sort=lastRatedAt:desc"))
        expected = [
            rk
            for rk, _ in sorted(
                ((rk, at) for rk, (_, at) in owner.ratings.items() if emu.library.get(rk).kind == "movie"),
                key=lambda e: -e[1],
            )
        ]
        assert [int(m["ratingKey"]) for m in rated["Metadata"]] == expected
        assert all(1 <= m["userRating"] <= 10 and m["lastRatedAt"] for m in rated["Metadata"])
        watched = mc(await client.get("/library/sections/1/all?type=1&viewCount>>=0"))["Metadata"]
        unwatched = mc(await client.get("/library/sections/1/all?type=1&unwatched=1"))["Metadata"]
        assert len(watched) + len(unwatched) == len(emu.catalog.movies)
        assert mc(await client.get("/library/sections/1/all?type=1&viewCount=0"))["size"] == len(unwatched)
        assert all(m["viewCount"] > 0 for m in watched) and all("viewCount" not in m for m in unwatched)
        assert {m["ratingKey"] for m in watched} == {
            m["ratingKey"] for m in mc(await client.get("/library/sections/1/all?unwatched=0"))["Metadata"]
        }
        recent = mc(await client.get("/library/sections/1/all?lastViewedAt>>=1750000000&sort=lastViewedAt:desc"))
        stamps = [m["lastViewedAt"] for m in recent["Metadata"]]
        assert stamps == sorted(stamps, reverse=True) and all(s > 1_750_000_000 for s in stamps)
        episodes = mc(await client.get("/library/sections/2/all?type=4&viewCount>>=0"))["Metadata"]
        assert episodes and all(e["type"] == "episode" and e["viewCount"] >= 1 for e in episodes)
        seasons = mc(await client.get("/library/sections/2/all?type=3&userRating>>=0"))["Metadata"]
        assert seasons and all(s["type"] == "season" and s["userRating"] for s in seasons)
        shows = mc(await client.get("/library/sections/2/all?type=2&viewCount>>=0"))["Metadata"]
        assert shows and all(s["viewedLeafCount"] >= 1 and s["lastViewedAt"] for s in shows)
        in_progress = mc(await client.get("/library/sections/1/all?inProgress=1"))["Metadata"]
        assert in_progress and all(m["viewOffset"] > 0 for m in in_progress)
        by_year = mc(await client.get("/library/sections/1/all?year<<=1960&sort=year:desc,titleSort"))["Metadata"]
        assert all(m["year"] < 1960 for m in by_year)
        assert [m["year"] for m in by_year] == sorted((m["year"] for m in by_year), reverse=True)
        title = emu.catalog.movies[0].title
        assert any(
            m["title"] == title
            for m in mc(await client.get("/library/sections/1/all", params={"title": title.lower()}))["Metadata"]
        )
        assert (await client.get("/library/sections/1/all?userRating>>=abc")).status_code == 400


# -- history -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_history_filters_by_account_time_section_and_pages() -> None:
    emu = make()
    partner = emu.accounts[1]
    rows = emu.state.rows.values()
    async with served(emu) as client:
        everything = mc(await client.get("/status/sessions/history/all?sort=viewedAt:desc"))
        assert everything["size"] == len(rows)
        stamps = [r["viewedAt"] for r in everything["Metadata"]]
        assert stamps == sorted(stamps, reverse=True)
        first = everything["Metadata"][0]
        assert first["historyKey"].startswith("/status/sessions/history/")
        assert {"ratingKey", "key", "title", "type", "viewedAt", "accountID", "librarySectionID", "deviceID"} <= set(
            first
        )
        owner_rows = mc(await client.get("/status/sessions/history/all?accountID=1"))["Metadata"]
        assert owner_rows and all(r["accountID"] == 1 for r in owner_rows)
        theirs = mc(await client.get(f"/status/sessions/history/all?accountID={partner.id}"))["Metadata"]
        assert theirs and len(owner_rows) + len(theirs) < len(rows)  # the Kid has plays too
        cut = sorted(r.viewed_at for r in rows)[len(rows) // 2]
        since = mc(await client.get(f"/status/sessions/history/all?viewedAt>={cut}"))["Metadata"]
        assert len(since) == sum(1 for r in rows if r.viewed_at >= cut)
        # python-plexapi's parameter name is "viewedAt>", which is the same thing on the wire
        same = mc(await client.get("/status/sessions/history/all", params={"viewedAt>": cut}))["Metadata"]
        assert len(same) == len(since)
        after = mc(await client.get(f"/status/sessions/history/all?viewedAt>>={cut}"))["Metadata"]
        assert all(r["viewedAt"] > cut for r in after)
        episodes = mc(await client.get("/status/sessions/history/all?librarySectionID=2"))["Metadata"]
        assert episodes and all(
            r["type"] == "episode" and "grandparentTitle" in r and "parentIndex" in r and "index" in r for r in episodes
        )
        oldest = mc(await client.get("/status/sessions/history/all?sort=viewedAt:asc&X-Plex-Container-Size=1"))
        assert oldest["Metadata"][0]["viewedAt"] == min(r.viewed_at for r in rows)
        paged: list[str] = []
        for start in range(0, len(rows), 100):
            page = await client.get(
                "/status/sessions/history/all?sort=viewedAt:desc",
                headers={"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": "100"},
            )
            assert page.headers["X-Plex-Container-Total-Size"] == str(len(rows))
            paged += [r["historyKey"] for r in mc(page)["Metadata"]]
        assert paged == [r["historyKey"] for r in everything["Metadata"]]
        # a home user's token sees only their own plays, whatever accountID says
        as_partner = await client.get(
            "/status/sessions/history/all?accountID=1", headers={"X-Plex-Token": partner.token}
        )
        assert mc(as_partner)["size"] == 0
        own = mc(await client.get("/status/sessions/history/all", headers={"X-Plex-Token": partner.token}))
        assert own["size"] == len(theirs)
        # deleting a row: owner only; viewCount stays
        row_id = first["historyKey"].rsplit("/", 1)[-1]
        before = (await item(client, first["ratingKey"])).get("viewCount")
        assert (
            await client.delete(f"/status/sessions/history/{row_id}", headers={"X-Plex-Token": partner.token})
        ).status_code == 404
        assert (await client.delete(f"/status/sessions/history/{row_id}")).status_code == 200
        assert (await client.get(f"/status/sessions/history/{row_id}")).status_code == 404
        assert (await item(client, first["ratingKey"])).get("viewCount") == before


# -- writes --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_scrobble_unscrobble_rate_timeline_and_progress() -> None:
    emu = make(watched_threshold=0.9)
    lib = emu.library
    movie = next(m for m in emu.catalog.movies if lib.rk(m) not in emu.state.users[1].views)
    rk = lib.rk(movie)
    lib_id = "com.plexapp.plugins.library"
    async with served(emu) as client:
        rows_before = mc(await client.get("/status/sessions/history/all"))["size"]
        started = int(time.time())
        for _ in range(2):
            reply = await client.get("/:/scrobble", params={"key": rk, "identifier": lib_id})
            assert reply.status_code == 200
        got = await item(client, rk)
        assert got["viewCount"] == 2 and got["lastViewedAt"] >= started
        plays = mc(await client.get(f"/status/sessions/history/all?metadataItemID={rk}"))["Metadata"]
        assert len(plays) == 2 and all(p["viewedAt"] >= started for p in plays)
        assert (await client.put("/:/unscrobble", params={"key": rk, "identifier": lib_id})).status_code == 200
        got = await item(client, rk)
        assert "viewCount" not in got and "lastViewedAt" not in got
        assert mc(await client.get("/status/sessions/history/all"))["size"] == rows_before
        # rate: 0-10, -1 and 0 clear, out of range is a 400, ratedAt kept
        assert (await client.put("/:/rate", params={"key": rk, "identifier": lib_id, "rating": 7.5})).status_code == 200
        got = await item(client, rk)
        assert got["userRating"] == 7.5 and got["lastRatedAt"] >= started
        await client.put("/:/rate", params={"key": rk, "identifier": lib_id, "rating": 4, "ratedAt": 1_600_000_000})
        assert (await item(client, rk))["lastRatedAt"] == 1_600_000_000
        await client.put("/:/rate", params={"key": rk, "identifier": lib_id, "rating": -1})
        assert "userRating" not in await item(client, rk)
        await client.put("/:/rate", params={"key": rk, "identifier": lib_id, "rating": 8})
        await client.put("/:/rate", params={"key": rk, "identifier": lib_id, "rating": 0})
        assert "userRating" not in await item(client, rk)
        for bad in ("11", "-3", "x"):
            reply = await client.put("/:/rate", params={"key": rk, "identifier": lib_id, "rating": bad})
            assert reply.status_code == 400
        show = emu.catalog.shows[0]
        await client.put("/:/rate", params={"key": lib.rk(show.seasons[0]), "identifier": lib_id, "rating": 6})
        assert (await item(client, lib.rk(show.seasons[0])))["userRating"] == 6
        assert (await client.get("/:/scrobble", params={"key": 999999999, "identifier": lib_id})).status_code == 404
        assert (await client.get("/:/scrobble", params={"key": rk, "identifier": "other"})).status_code == 404
        assert (await client.get("/:/scrobble", params={"key": rk})).status_code == 400
        # timeline: resume position; a stop past 90 % is a play; needs a client identifier
        duration = movie.runtime * 60_000
        params = {
            "ratingKey": rk,
            "key": f"/library/metadata/{rk}",
            "state": "paused",
            "time": 600_000,
            "duration": duration,
        }
        assert (await client.post("/:/timeline", params=params)).status_code == 400
        client_id = {"X-Plex-Client-Identifier": "test-client"}
        reply = mc(await client.post("/:/timeline", params=params, headers=client_id))
        assert reply["viewOffset"] == 600_000 and reply["playbackState"] == "progress"
        assert (await item(client, rk))["viewOffset"] == 600_000
        sessions = mc(await client.get("/status/sessions"))["Metadata"]
        assert sessions[0]["ratingKey"] == str(rk) and sessions[0]["User"]["id"] == "1"
        reply = mc(
            await client.post(
                "/:/timeline", params={**params, "state": "stopped", "time": int(duration * 0.95)}, headers=client_id
            )
        )
        assert reply["viewCount"] == 1 and reply["viewOffset"] == 0
        assert "viewOffset" not in await item(client, rk) and mc(await client.get("/status/sessions"))["size"] == 0
        # a stop before the threshold keeps the position, no play
        await client.post("/:/timeline", params={**params, "state": "stopped", "time": 120_000}, headers=client_id)
        got = await item(client, rk)
        assert got["viewOffset"] == 120_000 and got["viewCount"] == 1
        show_key = {**params, "ratingKey": lib.rk(show), "key": f"/library/metadata/{lib.rk(show)}"}
        assert (await client.post("/:/timeline", params=show_key, headers=client_id)).status_code == 400
        # the older /:/progress call
        await client.get("/:/progress", params={"key": rk, "identifier": lib_id, "time": 300_000, "state": "stopped"})
        assert (await item(client, rk))["viewOffset"] == 300_000
        await client.get("/:/progress", params={"key": rk, "identifier": lib_id, "time": duration, "state": "stopped"})
        got = await item(client, rk)
        assert got["viewCount"] == 2 and "viewOffset" not in got
        # a home user's writes are theirs alone
        partner = emu.accounts[1]
        await client.get(
            "/:/scrobble", params={"key": rk, "identifier": lib_id}, headers={"X-Plex-Token": partner.token}
        )
        theirs = mc(await client.get(f"/library/metadata/{rk}", headers={"X-Plex-Token": partner.token}))
        assert theirs["Metadata"][0]["viewCount"] == emu.state.users[partner.id].views[rk]
        assert (await item(client, rk))["viewCount"] == 2


@pytest.mark.anyio
async def test_marked_watched_items_and_resume_positions() -> None:
    emu = make()
    async with served(emu) as client:
        state = (await client.get("/_emulator/state")).json()
        owner = state["users"]["1"]
        marked = owner["marked_watched"]
        assert marked and any(m["lastViewedAt"] is None for m in marked)
        assert any(m["lastViewedAt"] is not None for m in marked)
        history_keys = {p["ratingKey"] for p in owner["plays"]}
        for entry in marked:
            assert entry["ratingKey"] not in history_keys
            got = await item(client, entry["ratingKey"])
            assert got["viewCount"] >= 1
            assert got.get("lastViewedAt") == entry["lastViewedAt"]
            rows = mc(await client.get(f"/status/sessions/history/all?metadataItemID={entry['ratingKey']}"))
            assert rows["size"] == 0
        # they are in the watched listing even though history does not know them
        watched = {m["ratingKey"] for m in mc(await client.get("/library/sections/1/all?unwatched=0"))["Metadata"]}
        assert {m["ratingKey"] for m in marked if m["type"] == "movie"} <= watched
        assert owner["progress"] and all(p["viewOffset"] > 0 for p in owner["progress"])
        for entry in owner["progress"]:
            assert (await item(client, entry["ratingKey"]))["viewOffset"] == entry["viewOffset"]


# -- plex.tv -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_pin_flow_user_resources_and_home_users() -> None:
    emu = make(approve_after_polls=2)
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url, headers=JSON) as client:
        assert (await client.post("/api/v2/pins?strong=true")).status_code == 400
        app_headers = {"X-Plex-Client-Identifier": "cw-test", "X-Plex-Product": "crosswatch"}
        created = await client.post("/api/v2/pins?strong=true", headers=app_headers)
        assert created.status_code == 201
        pin = created.json()
        assert {"id", "code", "clientIdentifier", "expiresIn", "createdAt", "expiresAt", "authToken"} <= set(pin)
        assert pin["authToken"] is None and len(pin["code"]) == 25 and pin["expiresIn"] <= 900
        poll = f"/api/v2/pins/{pin['id']}"
        assert (await client.get(poll, headers={"X-Plex-Client-Identifier": "someone-else"})).status_code == 404
        tokens = [(await client.get(poll, headers=app_headers)).json()["authToken"] for _ in range(3)]
        assert tokens[:2] == [None, None] and tokens[2]
        token = tokens[2]
        me = (await client.get("/api/v2/user", headers={"X-Plex-Token": token})).json()
        assert me["authToken"] == token and me["uuid"] == emu.state.owner.uuid and me["subscription"]["active"]
        assert (await client.get("/api/v2/user", headers={"X-Plex-Token": "nope"})).status_code == 401
        # an approval by control skips the polls
        other = (await client.post("/api/v2/pins", headers=app_headers)).json()
        assert len(other["code"]) == 4
        assert (await client.post("/_emulator/approve", json={"id": other["id"]})).status_code == 200
        assert (await client.get(f"/api/v2/pins/{other['id']}", headers=app_headers)).json()["authToken"]
        # resources: the server, with a working accessToken and connections to this very URL
        resources = (
            await client.get("/api/v2/resources?includeHttps=1&includeRelay=1", headers={"X-Plex-Token": token})
        ).json()
        server = next(r for r in resources if "server" in r["provides"])
        assert server["clientIdentifier"] == emu.machine_identifier and server["owned"] is True
        assert [c["uri"] for c in server["connections"]] == [url, url]
        assert server["connections"][0]["local"] is True and server["connections"][1]["relay"] is True
        assert any("player" in r["provides"] for r in resources)
        pms = await client.get(
            f"{server['connections'][0]['uri']}/library/sections", headers={"X-Plex-Token": server["accessToken"]}
        )
        assert pms.status_code == 200
        xml = ET.fromstring(
            (await client.get("/api/v2/resources", headers={"X-Plex-Token": token, "Accept": "*/*"})).content
        )
        assert xml.tag == "resources" and xml.find("resource/connections/connection").get("uri") == url
        # home users, and switching to one gives a token whose history is their own
        home = (await client.get("/api/v2/home/users", headers={"X-Plex-Token": token})).json()
        assert [u["title"] for u in home["users"]] == [a.title for a in emu.accounts]
        assert home["users"][0]["admin"] is True and home["users"][2]["restricted"] is True
        partner = emu.accounts[1]
        switched = await client.post(f"/api/v2/home/users/{partner.uuid}/switch", headers={"X-Plex-Token": token})
        assert switched.status_code == 201
        partner_token = switched.json()["authToken"]
        rows = mc(await client.get("/status/sessions/history/all", headers={"X-Plex-Token": partner_token}))
        assert rows["size"] and {r["accountID"] for r in rows["Metadata"]} == {partner.id}
        legacy = await client.post(f"/api/home/users/{partner.plextv_id}/switch", headers={"X-Plex-Token": token})
        assert ET.fromstring(legacy.content).get("authenticationToken")
        assert (await client.post("/api/v2/home/users/123/switch", headers={"X-Plex-Token": token})).status_code == 404


# -- Discover ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_discover_watchlist_pages_504_writes_matches_and_search() -> None:
    emu = make(discover_max_page=100)
    lib = emu.library
    listed = emu.state.users[1].watchlist
    async with served(emu) as client:
        path = "/library/sections/watchlist/all?includeCollections=1&includeExternalMedia=1"
        keys: list[str] = []
        for start in range(0, len(listed), 5):
            reply = await client.get(path, headers={"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": "5"})
            assert reply.headers["X-Plex-Container-Total-Size"] == str(len(listed))
            page = mc(reply)
            assert page["totalSize"] == len(listed)
            keys += [m["ratingKey"] for m in page["Metadata"]]
        assert sorted(keys) == sorted(listed) and all(len(k) == 24 for k in keys)
        assert keys == [k for k, _ in sorted(listed.items(), key=lambda e: -e[1])]  # newest first
        first = mc(await client.get(path, headers={"X-Plex-Container-Size": "1"}))["Metadata"][0]
        assert first["guid"] == f"plex://{first['type']}/{first['ratingKey']}" and "Guid" not in first
        assert first["watchlistedAt"] == listed[first["ratingKey"]]
        assert mc(await client.get(path))["size"] == min(20, len(listed))  # the default page
        assert (await client.get(path, headers={"X-Plex-Container-Size": "101"})).status_code == 504
        movies_only = mc(await client.get(path + "&type=1", headers={"X-Plex-Container-Size": "100"}))
        assert all(m["type"] == "movie" for m in movies_only["Metadata"])
        # hydration by Discover key: the catalogue's ids, whatever the PMS guid style
        legacy = of_style(emu, LEGACY)
        key = lib.discover_key(legacy)
        got = mc(await client.get(f"/library/metadata/{key}"))["Metadata"][0]
        assert {g["id"] for g in got["Guid"]} == {f"imdb://{legacy.imdb}", f"tmdb://{legacy.tmdb}"}
        assert (await client.get("/library/metadata/" + "0" * 24)).status_code == 404
        # add / remove / conflicts
        assert key not in listed
        assert (await client.put("/actions/addToWatchlist", params={"ratingKey": key})).status_code == 200
        again = await client.put("/actions/addToWatchlist", params={"ratingKey": key})
        assert again.status_code == 409 and "already" in again.text
        await client.post("/_emulator/settings", json={"watchlist_conflict_status": 200})
        assert (await client.put("/actions/addToWatchlist", params={"ratingKey": key})).status_code == 200
        assert key in [
            m["ratingKey"] for m in mc(await client.get(path, headers={"X-Plex-Container-Size": "100"}))["Metadata"]
        ]
        state = mc(await client.get(f"/library/metadata/{key}/userState"))["UserState"][0]
        assert state["watchlistedAt"] > 0
        assert (await client.put("/actions/removeFromWatchlist", params={"ratingKey": key})).status_code == 200
        assert key not in emu.state.users[1].watchlist
        assert (await client.put("/actions/addToWatchlist", params={"ratingKey": "f" * 24})).status_code == 404
        # matches: by external guid, by "tmdb-<id>" title, by title and year
        movie, show = emu.catalog.movies[7], emu.catalog.shows[3]
        found = mc(await client.get("/library/metadata/matches", params={"type": 1, "guid": f"imdb://{movie.imdb}"}))
        assert [m["ratingKey"] for m in found["Metadata"]] == [lib.discover_key(movie)]
        assert {f"imdb://{movie.imdb}", f"tmdb://{movie.tmdb}"} <= {g["id"] for g in found["Metadata"][0]["Guid"]}
        found = mc(await client.get("/library/metadata/matches", params={"type": 2, "title": f"tmdb-{show.tmdb}"}))
        assert found["Metadata"][0]["ratingKey"] == lib.discover_key(show)
        found = mc(await client.get("/library/metadata/matches", params={"type": 2, "guid": f"tvdb://{show.tvdb}"}))
        assert found["Metadata"][0]["title"] == show.title
        found = mc(
            await client.get("/library/metadata/matches", params={"type": 1, "title": movie.title, "year": movie.year})
        )
        assert lib.discover_key(movie) in [m["ratingKey"] for m in found["Metadata"]]
        assert mc(await client.get("/library/metadata/matches", params={"type": 1, "guid": "imdb://tt0"}))["size"] == 0
        # search
        results = mc(
            await client.get("/library/search", params={"query": movie.title, "limit": 5, "searchTypes": "movies"})
        )
        group = next(g for g in results["SearchResults"] if g["id"] == "external")
        assert 0 < len(group["SearchResult"]) <= 5
        assert group["SearchResult"][0]["Metadata"]["title"] == movie.title
        assert group["SearchResult"][0]["score"] == 1.0


# -- the websocket -------------------------------------------------------------------------------


async def frames(ws: Any, count: int) -> list[dict[str, Any]]:
    out = []
    with anyio.fail_after(5):
        for _ in range(count):
            out.append((await ws.receive_json())["NotificationContainer"])
    return out


@pytest.mark.anyio
async def test_websocket_playing_timeline_and_activity_frames() -> None:
    httpx_ws = pytest.importorskip("httpx_ws")
    aconnect_ws = httpx_ws.aconnect_ws
    emu = make()
    movie = emu.catalog.movies[1]
    rk = emu.library.rk(movie)
    async with served(emu) as client:
        base = str(client.base_url).rstrip("/")
        ws_url = f"{base}/:/websockets/notifications?X-Plex-Token={emu.owner_token}"
        async with aconnect_ws(ws_url, client) as ws:
            played = await client.post(
                "/_emulator/play",
                json={"ratingKey": str(rk), "viewOffset": 60_000, "states": ["playing", "paused", "stopped"]},
            )
            assert played.status_code == 200 and played.json()["viewOffset"] == 60_000
            got = await frames(ws, 3)
            assert [f["type"] for f in got] == ["playing"] * 3
            notes = [f["PlaySessionStateNotification"][0] for f in got]
            assert [n["state"] for n in notes] == ["playing", "paused", "stopped"]
            assert {n["ratingKey"] for n in notes} == {str(rk)} and notes[0]["key"] == f"/library/metadata/{rk}"
            assert notes[0]["viewOffset"] == 60_000 and notes[0]["sessionKey"] and notes[0]["clientIdentifier"]
            # a client's own timeline report is seen too
            await client.post(
                "/:/timeline",
                params={"ratingKey": rk, "state": "playing", "time": 5000},
                headers={"X-Plex-Client-Identifier": "tv-1"},
            )
            note = (await frames(ws, 1))[0]["PlaySessionStateNotification"][0]
            assert (note["clientIdentifier"], note["state"], note["viewOffset"]) == ("tv-1", "playing", 5000)
            # a rating: a timeline entry and an activity pair
            assert (await client.post("/_emulator/rate", json={"ratingKey": str(rk), "rating": 9})).json() == {
                "userRating": 9.0
            }
            timeline, started, ended = await frames(ws, 3)
            entry = timeline["TimelineEntry"][0]
            assert (entry["itemID"], entry["type"], entry["sectionID"], entry["state"]) == (str(rk), 1, "1", 5)
            assert started["ActivityNotification"][0]["event"] == "started"
            assert ended["ActivityNotification"][0]["Activity"]["Context"]["key"] == f"/library/metadata/{rk}"
            # a play through the control counts once past the threshold
            done = await client.post(
                "/_emulator/play", json={"ratingKey": str(rk), "progress": 0.95, "states": ["playing", "stopped"]}
            )
            assert done.json()["viewCount"] == 1
            await frames(ws, 2)
            # drop now
            assert (await client.post("/_emulator/websocket/drop")).json() == {"dropped": 1}
            with pytest.raises(httpx_ws.WebSocketDisconnect), anyio.fail_after(5):
                await ws.receive_text()
        # drop after N frames; the other path spelling; filters
        await client.post("/_emulator/settings", json={"websocket_drop": 1})
        alt = f"{base}/:/websocket/notifications?X-Plex-Token={emu.owner_token}&filters=playing"
        async with aconnect_ws(alt, client) as ws:
            await client.post("/_emulator/rate", json={"ratingKey": str(rk), "rating": 3})  # filtered out
            await client.post("/_emulator/play", json={"ratingKey": str(rk)})
            assert (await frames(ws, 1))[0]["type"] == "playing"
            with pytest.raises(httpx_ws.WebSocketDisconnect), anyio.fail_after(5):
                await ws.receive_text()
        with pytest.raises(httpx_ws.WebSocketUpgradeError):
            async with aconnect_ws(f"{base}/:/websockets/notifications?X-Plex-Token=bad", client):
                pass
        stats = (await client.get("/_emulator/stats")).json()
        assert stats["websocket"]["sent"] >= 10 and stats["websocket"]["open"] == 0


# -- knobs and faults ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_scripted_faults_error_rate_latency_and_not_found() -> None:
    emu = make()
    lib = emu.library
    movie = emu.catalog.movies[0]
    rk = lib.rk(movie)
    async with served(emu) as client:
        faults = [
            {"method": "GET", "path": "/library/sections/*/all", "status": 503, "times": 2, "retry_after": 3},
            {"method": "GET", "path": "/:/scrobble", "status": 500, "after_apply": True},
            {"path": "/identity", "drop": True},
        ]
        assert len((await client.post("/_emulator/faults", json=faults)).json()["pending"]) == 3
        first = await client.get("/library/sections/1/all")
        assert first.status_code == 503 and first.headers["Retry-After"] == "3"
        assert (await client.get("/library/sections/2/all")).status_code == 503
        assert (await client.get("/library/sections/1/all")).status_code == 200
        lost = await client.get("/:/scrobble", params={"key": rk, "identifier": "com.plexapp.plugins.library"})
        assert lost.status_code == 500
        assert (await item(client, rk))["viewCount"] >= 1  # applied, answer lost
        with pytest.raises(httpx.HTTPError):
            await client.get("/identity")
        assert (await client.get("/_emulator/faults")).json()["pending"] == []
        # an unauthenticated request consumes no fault
        await client.post("/_emulator/faults", json=[{"path": "/library/sections", "status": 502}])
        assert (await client.get("/library/sections", headers={"X-Plex-Token": ""})).status_code == 401
        assert (await client.get("/library/sections")).status_code == 502
        bad = await client.post("/_emulator/faults", json=[{"status": 9000}])
        assert bad.status_code == 422
        # hydration 404s by key and by rate (the same keys every time)
        await client.post("/_emulator/settings", json={"not_found_keys": [str(rk)]})
        assert (await client.get(f"/library/metadata/{rk}")).status_code == 404
        assert (await client.get("/library/sections/1/all")).status_code == 200  # listings still show it
        await client.post("/_emulator/settings", json={"not_found_keys": [], "not_found_rate": 0.5})
        keys = [lib.rk(m) for m in emu.catalog.movies[:40]]
        statuses = [(await client.get(f"/library/metadata/{k}")).status_code for k in keys]
        assert 404 in statuses and 200 in statuses
        assert statuses == [(await client.get(f"/library/metadata/{k}")).status_code for k in keys]
        await client.post("/_emulator/settings", json={"not_found_rate": 0, "error_rate": 1.0})
        assert (await client.get("/library/sections")).status_code in (500, 502, 503)
        await client.post("/_emulator/settings", json={"error_rate": 0, "latency_ms": 150})
        started = time.perf_counter()
        await client.get("/identity")
        assert time.perf_counter() - started >= 0.14
        assert (await client.post("/_emulator/settings", json={"nope": 1})).status_code == 422
        assert (await client.post("/_emulator/settings", json={"error_rate": 2})).status_code == 422
        stats = (await client.get("/_emulator/stats")).json()
        assert stats["faults"] == 5 and stats["dropped"] == 1 and stats["unauthorized"] >= 1
        assert stats["requests"]["GET /library/sections/1/all"] >= 3
        # expired tokens: 401 everywhere until a new one is issued
        assert (await client.post("/_emulator/expire_tokens")).json()["expired"] >= 3
        await client.post("/_emulator/settings", json={"latency_ms": 0})
        assert (await client.get("/library/sections")).status_code == 401
        fresh = (await client.post("/_emulator/tokens", json={})).json()["token"]
        assert (await client.get("/library/sections", headers={"X-Plex-Token": fresh})).status_code == 200


# -- state, determinism, speed -------------------------------------------------------------------


@pytest.mark.anyio
async def test_state_get_and_set_round_trip() -> None:
    emu = make()
    async with served(emu) as client:
        state = (await client.get("/_emulator/state")).json()
        assert set(state) == {"accounts", "users"}
        assert set(state["users"]) == {str(a.id) for a in emu.accounts}
        owner = state["users"]["1"]
        assert set(owner) == {"watchlist", "ratings", "plays", "watched", "marked_watched", "progress"}
        assert {"discover", "watchlistedAt", "type", "title", "ids"} <= set(owner["watchlist"][0])
        assert {"historyKey", "ratingKey", "viewedAt", "deviceID", "type"} <= set(owner["plays"][0])
        reply = await client.post("/_emulator/state", json=state)
        assert reply.status_code == 200 and reply.json() == state
        # a tiny state by catalogue ids: the API shows exactly that
        movie, show = emu.catalog.movies[2], emu.catalog.shows[1]
        ep = show.seasons[0].episodes[0]
        tiny = {
            "users": {
                "1": {
                    "watchlist": [{"type": "show", "trakt": show.trakt, "watchlistedAt": 1_700_000_000}],
                    "ratings": [{"type": "movie", "trakt": movie.trakt, "rating": 6, "ratedAt": 1_700_000_100}],
                    "plays": [{"historyKey": 77, "type": "episode", "trakt": ep.trakt, "viewedAt": 1_700_000_200}],
                    "watched": [{"type": "movie", "trakt": movie.trakt, "viewCount": 1}],
                    "progress": [{"type": "episode", "trakt": show.seasons[0].episodes[1].trakt, "viewOffset": 90_000}],
                }
            }
        }
        assert (await client.post("/_emulator/state", json=tiny)).status_code == 200
        rows = mc(await client.get("/status/sessions/history/all"))["Metadata"]
        assert [(r["historyKey"], r["ratingKey"], r["viewedAt"]) for r in rows] == [
            ("/status/sessions/history/77", str(emu.library.rk(ep)), 1_700_000_200)
        ]
        got = await item(client, emu.library.rk(movie))
        assert (got["userRating"], got["viewCount"], "lastViewedAt" in got) == (6.0, 1, False)
        assert (await item(client, emu.library.rk(ep)))["viewCount"] == 1
        listed = mc(await client.get("/library/sections/watchlist/all"))["Metadata"]
        assert [m["ratingKey"] for m in listed] == [emu.library.discover_key(show)]
        after = (await client.get("/_emulator/state")).json()["users"]
        assert after["1"]["marked_watched"][0]["ratingKey"] == str(emu.library.rk(movie))
        assert after[str(emu.accounts[1].id)]["plays"] == []
        await client.get(
            "/:/scrobble", params={"key": emu.library.rk(movie), "identifier": "com.plexapp.plugins.library"}
        )
        assert (
            max(
                int(r["historyKey"].rsplit("/", 1)[1])
                for r in mc(await client.get("/status/sessions/history/all"))["Metadata"]
            )
            > 77
        )
        bad = await client.post(
            "/_emulator/state", json={"users": {"1": {"ratings": [{"ratingKey": "1", "rating": 5}]}}}
        )
        assert bad.status_code == 422 and "ratings[0]" in bad.json()["error"]
        assert (await client.post("/_emulator/state", json={"users": {"42": {}}})).status_code == 422
        assert (await client.post("/_emulator/reset")).status_code == 200
        assert (await client.get("/_emulator/state")).json() == state


def test_same_seed_same_library_and_state_and_ids_shared_with_trakt() -> None:
    a, b = PlexEmulator(seed=5, size=200), PlexEmulator(seed=5, size=200)
    assert a.state_json() == b.state_json()
    assert a.owner_token == b.owner_token and a.machine_identifier == b.machine_identifier
    assert [a.library.guid(m) for m in a.library.media] == [b.library.guid(m) for m in b.library.media]
    assert PlexEmulator(seed=6, size=200).state_json() != a.state_json()
    # the same seed's Trakt emulator has the same titles with the same external ids
    trakt = TraktEmulator(seed=5, size=200)
    for movie in a.catalog.movies[:50]:
        twin = trakt.catalog.find("movie", {"imdb": movie.imdb})
        assert twin is not None and (twin.tmdb, twin.title, twin.year) == (movie.tmdb, movie.title, movie.year)
        if a.library.style[movie] == MODERN:
            assert a.library.guids(movie) == [f"imdb://{twin.imdb}", f"tmdb://{twin.tmdb}"]
    for show in a.catalog.shows[:20]:
        twin = trakt.catalog.find("show", {"tvdb": show.tvdb})
        assert twin is not None and twin.imdb == show.imdb
        ep = show.seasons[-1].episodes[-1]
        assert trakt.catalog.find("episode", {"tvdb": ep.tvdb}).tmdb == ep.tmdb
    state = a.state_json()["users"]["1"]
    for play in state["plays"][:30]:
        assert trakt.catalog.get(play["type"], play["ids"]["trakt"]) is not None


def test_twenty_thousand_titles_build() -> None:
    """A benchmark-sized library builds (its speed is measured by tests/bench, not asserted here)."""
    emu = PlexEmulator(seed=1, size=20_000)
    assert len(emu.catalog) == 20_000 and len(emu.library) > 150_000 and len(emu.state.rows) > 20_000


@pytest.mark.anyio
async def test_pages_of_200_from_a_big_library() -> None:
    emu = PlexEmulator(seed=1, size=5_000)
    async with served(emu) as client:
        await client.get("/library/sections/2/all?type=4&includeGuids=1&X-Plex-Container-Size=1")
        for start in range(0, 4_000, 400):
            for accept in ("application/json", "*/*"):
                reply = await client.get(
                    "/library/sections/2/all?type=4&includeGuids=1",
                    headers={"Accept": accept, "X-Plex-Container-Start": str(start), "X-Plex-Container-Size": "200"},
                )
                assert reply.status_code == 200
        await client.get("/status/sessions/history/all?X-Plex-Container-Size=1")
        for start in range(0, 2_000, 200):
            reply = await client.get(
                f"/status/sessions/history/all?X-Plex-Container-Start={start}&X-Plex-Container-Size=200"
            )
            assert mc(reply)["size"] == 200


# -- the command line ----------------------------------------------------------------------------


def test_main_refuses_bad_arguments_and_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--size", "-1"]) == 2
    assert main(["--error-rate", "3"]) == 2
    with busy_port() as port:
        assert main(["--port", str(port), "--size", "5"]) == 1
    assert "cannot listen" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_prints_the_toml_block_first_and_exits_0_on_sigterm() -> None:
    args = ("--port", "0", "--seed", "3", "--size", "50")
    with emulator_cli("crosswatch_plex.emulator", "metadata_url", *args) as (proc, lines):
        assert lines[0].startswith("#")
        config = tomllib.loads("".join(lines))["plex"]
        assert set(config) == {"url", "plextv_url", "clients_url", "discover_url", "metadata_url"}
        assert len(set(config.values())) == 1
        token = PlexEmulator(seed=3, size=50).owner_token
        assert token in "".join(lines)
        reply = httpx.get(f"{config['url']}/library/sections", headers={"X-Plex-Token": token})
        assert reply.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_catalogue_for_the_same_seed_is_the_trakt_emulators() -> None:
    assert [t.imdb for t in build_catalog(100, 9).titles] == [t.imdb for t in PlexEmulator(9, 100).catalog.titles]
