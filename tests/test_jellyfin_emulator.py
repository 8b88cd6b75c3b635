"""The Jellyfin and Emby emulator over real loopback HTTP, on both anyio backends.

Discovery and sign-in (the header forms, Quick Connect, API keys, the refusals with the
servers' status codes), libraries and item queries (paging, filters, sorts, incremental
reads), writes seen by later reads, playback reports, playlists, the websocket, faults and
knobs, the state endpoints, determinism (ids shared with the Plex and Trakt emulators) and
the command line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from crosswatch.emulation.catalog import Episode, Movie
from crosswatch.emulation.server import serve_app
from crosswatch_jellyfin.emulator import EMBY, JELLYFIN, EmulatorSettings, Flavour, MediaServerEmulator
from crosswatch_jellyfin.emulator.cli import main, main_emby
from crosswatch_jellyfin.emulator.library import FULL, NO_IDS, TICKS
from crosswatch_plex.emulator import PlexEmulator
from crosswatch_trakt.emulator import TraktEmulator
from tests.emulator_helpers import ROOT, busy_port, emulator_cli

DEVICE = 'Client="tests", Device="box", DeviceId="{device}", Version="1.0"'


def make(flavour: Flavour = JELLYFIN, **knobs: Any) -> MediaServerEmulator:
    return MediaServerEmulator(3, 300, flavour=flavour, settings=EmulatorSettings(**knobs))


def auth(token: str | None = None, device: str = "dev-1", scheme: str = "MediaBrowser") -> dict[str, str]:
    value = f"{scheme} " + DEVICE.format(device=device) + (f', Token="{token}"' if token else "")
    return {"Authorization": value}


@asynccontextmanager
async def served(emu: MediaServerEmulator, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the served emulator that sends the administrator's token (or ``token``)."""
    async with serve_app(emu) as url:
        headers = auth(token or emu.sign_in())
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
            yield client


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


async def items(client: httpx.AsyncClient, emu: MediaServerEmulator, **params: Any) -> dict[str, Any]:
    return ok(await client.get(f"/Users/{emu.user_id}/Items", params=params))


def movie_with(emu: MediaServerEmulator, style: int = FULL, **data: Any) -> Movie:
    """A movie of this ProviderIds style whose admin data matches ``data`` (None: no data)."""
    for movie in emu.catalog.movies:
        if emu.library.style[movie] != style:
            continue
        record = emu.state.get(emu.user_id, emu.library.index[movie])
        if not data and record is None:
            return movie
        if data and record is not None and all(getattr(record, k) == v for k, v in data.items()):
            return movie
    raise AssertionError(f"no movie of style {style} with {data}")


# -- discovery and sign-in ------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", [JELLYFIN, EMBY], ids=["jellyfin", "emby"])
async def test_public_info_sign_in_and_refusals(flavour: Flavour) -> None:
    emu = make(flavour)
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url) as client:
        # anonymous discovery, paths in any case and under /emby
        public = ok(await client.get("/system/info/public"))
        assert (public["Id"], public["Version"], public["ServerName"]) == (
            emu.server_id,
            flavour.version,
            emu.server_name,
        )
        assert ("ProductName" in public) == (flavour is JELLYFIN) and ("LocalAddresses" in public) == (flavour is EMBY)
        assert ok(await client.get("/emby/System/Info/Public")) == public
        assert (await client.get("/System/Info")).status_code == 401
        # sign in: bad password 401, no device headers 400, then a token
        body = {"Username": emu.username, "Pw": emu.password}
        wrong = await client.post("/Users/AuthenticateByName", json={**body, "Pw": "nope"}, headers=auth())
        assert wrong.status_code == 401
        assert (await client.post("/Users/AuthenticateByName", json=body)).status_code == 400
        signed = ok(
            await client.post(
                "/users/authenticatebyname", json={"username": emu.username, "pw": emu.password}, headers=auth()
            )
        )
        assert signed["ServerId"] == emu.server_id and signed["User"]["Id"] == emu.user_id
        assert signed["User"]["Policy"]["IsAdministrator"] is True and signed["SessionInfo"]["DeviceId"] == "dev-1"
        token = signed["AccessToken"]
        info = ok(await client.get("/System/Info", headers=auth(token)))
        assert info["Id"] == emu.server_id
        assert ok(await client.get("/Users/Me", headers=auth(token)))["Name"] == emu.username
        # no token or an unknown one: 401 with an empty body
        refused = await client.get(f"/Users/{emu.user_id}/Items")
        assert refused.status_code == 401 and refused.text == ""
        assert (await client.get(f"/Users/{emu.user_id}/Items", headers=auth("f" * 32))).status_code == 401
        # a new sign-in from the same device revokes the earlier token; another device keeps its own
        again = ok(await client.post("/Users/AuthenticateByName", json=body, headers=auth()))["AccessToken"]
        other = ok(await client.post("/Users/AuthenticateByName", json=body, headers=auth(device="dev-2")))
        assert (await client.get("/System/Info", headers=auth(token))).status_code == 401
        assert (await client.get("/System/Info", headers=auth(again))).status_code == 200
        # logout revokes the caller's token only
        assert (await client.post("/Sessions/Logout", headers=auth(again))).status_code == 204
        assert (await client.get("/System/Info", headers=auth(again))).status_code == 401
        assert (await client.get("/System/Info", headers=auth(other["AccessToken"], "dev-2"))).status_code == 200
        # an ordinary user: 403 on the administrator's data, 404 for an unknown user, 400 for a malformed one
        second = emu.accounts.users[1]
        mine = ok(
            await client.post(
                "/Users/AuthenticateByName", json={"Username": second.name, "Pw": second.password}, headers=auth()
            )
        )["AccessToken"]
        assert (await client.get(f"/Users/{second.id}/Items", headers=auth(mine))).status_code == 200
        forbidden = await client.get(f"/Users/{emu.user_id}/Items", headers=auth(mine))
        assert forbidden.status_code == 403
        admin = auth(emu.sign_in())
        assert (await client.get(f"/Users/{second.id}/Items", headers=admin)).status_code == 200
        assert (await client.get(f"/Users/{'0' * 32}/Items", headers=admin)).status_code == 404
        malformed = await client.get("/Users/not-a-guid/Items", headers=admin)
        assert malformed.status_code == 400 and malformed.headers["content-type"].startswith("application/problem+json")
        assert [u["Name"] for u in ok(await client.get("/Users/Public"))] == [emu.username]
        by_id = await client.post(
            f"/Users/{second.id}/Authenticate", json={"Pw": second.password}, headers=auth("", "d3")
        )
        assert by_id.status_code == 200 and by_id.json()["User"]["Name"] == second.name
        assert len(ok(await client.get("/Users", headers=admin))) == 2
        # camelCase on request; ProviderIds keys stay as they are
        camel = {**admin, "Accept": 'application/json; profile="CamelCase"'}
        movie = movie_with(emu)
        got = ok(await client.get(f"/Users/{emu.user_id}/Items/{emu.item_id(movie)}", headers=camel))
        assert got["name"] == movie.title and got["userData"]["played"] is False
        assert got["providerIds"] == {"Imdb": movie.imdb, "Tmdb": str(movie.tmdb)}


@pytest.mark.anyio
async def test_token_header_forms_and_legacy_authorization() -> None:
    emu = make()
    token = emu.sign_in()
    path = "/System/Info"
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url) as client:
        forms = {
            "Authorization MediaBrowser": ({"Authorization": f'MediaBrowser Token="{token}"'}, ""),
            "X-Emby-Authorization Emby": ({"X-Emby-Authorization": f'Emby UserId="", Token="{token}"'}, ""),
            "Authorization Emby": ({"Authorization": f'Emby Token="{token}"'}, ""),
            "X-Emby-Token": ({"X-Emby-Token": token}, ""),
            "X-MediaBrowser-Token": ({"X-MediaBrowser-Token": token}, ""),
            "ApiKey": ({}, f"?ApiKey={token}"),
            "api_key": ({}, f"?api_key={token}"),
            "url-encoded value": ({"Authorization": f'MediaBrowser Client="a%20b", Token="{token}"'}, ""),
        }
        for name, (headers, query) in forms.items():
            assert (await client.get(path + query, headers=headers)).status_code == 200, name
        # EnableLegacyAuthorization off (Jellyfin 12): only the MediaBrowser header and ApiKey
        await client.post("/_emulator/settings", json={"legacy_auth": False})
        still = {"Authorization MediaBrowser", "ApiKey", "url-encoded value"}
        for name, (headers, query) in forms.items():
            status = (await client.get(path + query, headers=headers)).status_code
            assert status == (200 if name in still else 401), name
    # Emby always takes them (it has no such setting)
    emby = make(EMBY, legacy_auth=False)
    token = emby.sign_in()
    async with serve_app(emby) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get(f"/emby/System/Info?api_key={token}")).status_code == 200
        assert (await client.get("/System/Info", headers={"X-Emby-Token": token})).status_code == 200


@pytest.mark.anyio
async def test_quick_connect_approves_after_polls_and_by_code() -> None:
    emu = make(approve_after_polls=2)
    async with served(emu) as client:
        assert ok(await client.get("/QuickConnect/Enabled", headers={})) is True
        assert (await client.post("/QuickConnect/Initiate", headers={"Authorization": ""})).status_code == 400
        started = ok(await client.post("/QuickConnect/Initiate", headers=auth(device="tv")))
        secret, code = started["Secret"], started["Code"]
        assert len(secret) == 64 and len(code) == 6 and code.isdigit() and started["Authenticated"] is False
        polls = [
            ok(await client.get("/QuickConnect/Connect", params={"secret": secret}))["Authenticated"] for _ in range(3)
        ]
        assert polls == [False, False, True]
        signed = ok(await client.post("/Users/AuthenticateWithQuickConnect", json={"Secret": secret}, headers=auth()))
        assert signed["User"]["Id"] == emu.user_id and signed["SessionInfo"]["DeviceId"] == "tv"
        assert (await client.get("/System/Info", headers=auth(signed["AccessToken"], "tv"))).status_code == 200
        # the secret is used up; an unknown one is a 404
        assert (await client.post("/Users/AuthenticateWithQuickConnect", json={"Secret": secret})).status_code == 404
        assert (await client.get("/QuickConnect/Connect", params={"secret": "0" * 64})).status_code == 404
        # a signed-in user authorizes by code (the obsolete GET Initiate still works)
        await client.post("/_emulator/settings", json={"approve_after_polls": 100})
        second = ok(await client.get("/QuickConnect/Initiate", headers=auth(device="phone")))
        assert (
            await client.post("/Users/AuthenticateWithQuickConnect", json={"Secret": second["Secret"]})
        ).status_code == 404
        assert (await client.post("/QuickConnect/Authorize", params={"code": "000000x"})).status_code == 404
        assert (
            await client.post("/QuickConnect/Authorize", params={"code": second["Code"]}, headers={"Authorization": ""})
        ).status_code == 401
        assert ok(await client.post("/QuickConnect/Authorize", params={"code": second["Code"]})) is True
        assert (
            ok(await client.get("/QuickConnect/Connect", params={"secret": second["Secret"]}))["Authenticated"] is True
        )
        # disabled: Enabled says so, Initiate is a 401
        await client.post("/_emulator/settings", json={"quick_connect": False})
        assert ok(await client.get("/QuickConnect/Enabled")) is False
        assert (await client.post("/QuickConnect/Initiate", headers=auth(device="tv"))).status_code == 401
    # Emby has no Quick Connect
    async with served(make(EMBY)) as client:
        assert (await client.get("/QuickConnect/Enabled")).status_code == 404


@pytest.mark.anyio
async def test_api_keys_are_administrators_without_a_user() -> None:
    emu = make()
    movie = movie_with(emu, played=True)
    async with served(emu, emu.api_key) as client:
        keys = ok(await client.get("/Auth/Keys"))
        assert [k["AccessToken"] for k in keys["Items"]] == [emu.api_key]
        assert (await client.post("/Auth/Keys", params={"app": "other"})).status_code == 204
        assert len(ok(await client.get("/Auth/Keys"))["Items"]) == 2
        assert (await client.get("/Users/Me")).status_code == 400
        # /Items without userId: no UserData; with it (or /Users/{id}/Items): the user's
        anonymous = ok(await client.get("/Items", params={"Ids": emu.item_id(movie)}))["Items"][0]
        assert "UserData" not in anonymous
        mine = ok(await client.get("/Items", params={"Ids": emu.item_id(movie), "userId": emu.user_id}))
        assert mine["Items"][0]["UserData"]["Played"] is True
        assert (await items(client, emu, Ids=emu.item_id(movie)))["Items"][0]["UserData"]["Played"] is True
        # a write needs a user: 400 without one
        assert (await client.post(f"/UserPlayedItems/{emu.item_id(movie)}")).status_code == 400
        assert (await client.post(f"/UserPlayedItems/{emu.item_id(movie)}?userId={emu.user_id}")).status_code == 200
        second = emu.accounts.users[1]
        user_token = emu.sign_in(second.name)
        assert (await client.get("/Auth/Keys", headers=auth(user_token))).status_code == 403
        added = ok(await client.get("/Auth/Keys"))["Items"][1]["AccessToken"]
        assert (await client.delete(f"/Auth/Keys/{added}")).status_code == 204
        assert (await client.get("/System/Info", headers=auth(added))).status_code == 401


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", [JELLYFIN, EMBY], ids=["jellyfin", "emby"])
async def test_an_administrator_makes_and_deletes_users(flavour: Flavour) -> None:
    emu = make(flavour)
    movie = movie_with(emu)
    async with served(emu) as client:
        made = ok(await client.post("/Users/New", json={"Name": "zoe", "Password": "s3cret-pass"}))
        assert made["Name"] == "zoe" and made["Policy"]["IsAdministrator"] is False
        assert "zoe" in {u["Name"] for u in ok(await client.get("/Users"))}
        assert (await client.post("/Users/New", json={"Name": "ZOE", "Password": "x"})).status_code == 400
        assert (await client.post("/Users/New", json={"Password": "x"})).status_code == 400
        # the new user signs in, and has data of their own
        signin = {"Username": "zoe", "Pw": "s3cret-pass"}
        token = ok(await client.post("/Users/AuthenticateByName", json=signin, headers=auth(device="zoe-1")))[
            "AccessToken"
        ]
        mark = f"/Users/{made['Id']}/PlayedItems/{emu.item_id(movie)}"
        assert (await client.post(mark, headers=auth(token, "zoe-1"))).status_code == 200
        assert emu.state.get(made["Id"], emu.library.index[movie]) is not None
        assert emu.state.get(emu.user_id, emu.library.index[movie]) is None
        # an ordinary user may do neither
        assert (await client.post("/Users/New", json={"Name": "x"}, headers=auth(token, "zoe-1"))).status_code == 403
        assert (await client.delete(f"/Users/{emu.user_id}", headers=auth(token, "zoe-1"))).status_code == 403
        # deleted: gone with their data and sign-ins; the last administrator stays
        delete = (
            client.delete(f"/Users/{made['Id']}") if flavour is JELLYFIN else client.post(f"/Users/{made['Id']}/Delete")
        )
        assert (await delete).status_code == 204
        assert (await client.get(f"/Users/{made['Id']}")).status_code == 404
        assert made["Id"] not in emu.state.data
        assert (await client.get("/System/Info", headers=auth(token, "zoe-1"))).status_code == 401
        assert (await client.delete(f"/Users/{emu.user_id}")).status_code == 400


# -- libraries and item queries -------------------------------------------------------------------


@pytest.mark.anyio
async def test_views_listing_paging_fields_and_children() -> None:
    emu = make()
    lib = emu.library
    async with served(emu) as client:
        views = ok(await client.get(f"/Users/{emu.user_id}/Views"))["Items"]
        assert [(v["Name"], v["Type"], v.get("CollectionType")) for v in views] == [
            ("Movies", "CollectionFolder", "movies"),
            ("Shows", "CollectionFolder", "tvshows"),
            ("Music", "CollectionFolder", "music"),
            ("Playlists", "ManualPlaylistsFolder", "playlists"),
        ]
        assert ok(await client.get("/UserViews", params={"userId": emu.user_id}))["Items"] == views
        movies_view = views[0]["Id"]
        whole = await items(client, emu, ParentId=movies_view)
        assert whole["TotalRecordCount"] == len(emu.catalog.movies) == len(whole["Items"])
        names = [m["Name"] for m in whole["Items"]]
        assert [lib.sort_name(lib.media[lib.by_id[m["Id"]]]) for m in whole["Items"]] == sorted(
            lib.sort_name(m) for m in emu.catalog.movies
        )
        # pages add up to the whole list
        paged: list[str] = []
        for start in range(0, len(names), 50):
            page = await items(client, emu, ParentId=movies_view, StartIndex=start, Limit=50)
            assert page["StartIndex"] == start and page["TotalRecordCount"] == len(names)
            paged += [m["Name"] for m in page["Items"]]
        assert paged == names
        # ProviderIds only when Fields asks; a few titles have none
        assert all("ProviderIds" not in m for m in whole["Items"])
        with_ids = await items(client, emu, ParentId=movies_view, Fields="ProviderIds,DateCreated,Bogus")
        assert all("ProviderIds" in m and "DateCreated" in m for m in with_ids["Items"])
        assert any(m["ProviderIds"] == {} for m in with_ids["Items"])
        bare = next(m for m in emu.catalog.movies if lib.style[m] == NO_IDS)
        assert next(m for m in with_ids["Items"] if m["Id"] == emu.item_id(bare))["ProviderIds"] == {}
        # a series' seasons, a season's episodes, a series' episodes recursively
        show = next(s for s in emu.catalog.shows if len(s.seasons) > 1 and lib.style[s] == FULL)
        seasons = (await items(client, emu, ParentId=emu.item_id(show)))["Items"]
        assert [(s["Type"], s["IndexNumber"], s["SeriesId"]) for s in seasons] == [
            ("Season", s.number, emu.item_id(show)) for s in show.seasons
        ]
        eps = (await items(client, emu, ParentId=seasons[1]["Id"], Fields="ProviderIds"))["Items"]
        assert [(e["ParentIndexNumber"], e["IndexNumber"]) for e in eps] == [
            (2, ep.number) for ep in show.seasons[1].episodes
        ]
        ep = show.seasons[1].episodes[0]
        assert eps[0]["ProviderIds"]["Tvdb"] == str(ep.tvdb) and eps[0]["SeasonId"] == seasons[1]["Id"]
        everything = await items(client, emu, ParentId=emu.item_id(show), Recursive="true", IncludeItemTypes="Episode")
        assert everything["TotalRecordCount"] == sum(len(s.episodes) for s in show.seasons)
        # the whole library by type; unknown type names are dropped, known ones without items filter to none
        all_eps = await items(client, emu, Recursive="true", IncludeItemTypes="Episode", Limit=0)
        assert all_eps["TotalRecordCount"] == sum(1 for _ in emu.catalog.episodes()) and all_eps["Items"] == []
        typed = await items(client, emu, Recursive="true", IncludeItemTypes="Movie,Nonsense", Limit=1)
        assert typed["TotalRecordCount"] == len(emu.catalog.movies)
        assert (await items(client, emu, Recursive="true", IncludeItemTypes="Audio"))["TotalRecordCount"] == 0
        # Ids: exactly those; a single item has every field
        picked = [emu.item_id(emu.catalog.movies[0]), emu.item_id(ep)]
        assert {m["Id"] for m in (await items(client, emu, Ids=",".join(picked)))["Items"]} == set(picked)
        single = ok(await client.get(f"/Users/{emu.user_id}/Items/{emu.item_id(ep)}"))
        assert {"ProviderIds", "DateCreated", "Path", "ParentId", "UserData"} <= set(single)
        assert single["SeriesName"] == show.title and single["RunTimeTicks"] == ep.runtime * 60 * TICKS
        assert ok(await client.get(f"/Items/{emu.item_id(ep)}"))["Id"] == emu.item_id(ep)
        assert (await client.get(f"/Users/{emu.user_id}/Items/{'0' * 32}")).status_code == 404
        assert (await client.get(f"/Users/{emu.user_id}/Items/xyz")).status_code == 400
        assert [s["Id"] for s in ok(await client.get(f"/Shows/{emu.item_id(show)}/Seasons"))["Items"]] == [
            s["Id"] for s in seasons
        ]
        second = ok(await client.get(f"/Shows/{emu.item_id(show)}/Episodes", params={"season": 2}))
        assert second["TotalRecordCount"] == len(show.seasons[1].episodes)


@pytest.mark.anyio
async def test_filters_and_sorts() -> None:
    emu = make()
    lib = emu.library
    store = emu.state.data[emu.user_id]
    movies_view = lib.movies_view.id
    async with served(emu) as client:
        played = await items(client, emu, ParentId=movies_view, IsPlayed="true")
        unplayed = await items(client, emu, ParentId=movies_view, Filters="IsUnplayed")
        assert played["TotalRecordCount"] + unplayed["TotalRecordCount"] == len(emu.catalog.movies)
        expected = {lib.ids[i] for i, d in store.items() if d.played and isinstance(lib.media[i], Movie)}
        assert {m["Id"] for m in played["Items"]} == expected
        assert all(m["UserData"]["Played"] for m in played["Items"])
        # newest play first; items never played sort last when descending
        recent = (
            await items(client, emu, ParentId=movies_view, IsPlayed="true", SortBy="DatePlayed", SortOrder="Descending")
        )["Items"]
        stamps = [m["UserData"].get("LastPlayedDate") or "" for m in recent]
        assert stamps == sorted(stamps, reverse=True) and stamps[0]
        favourites = await items(client, emu, Recursive="true", Filters="IsFavorite", IncludeItemTypes="Movie,Series")
        assert {m["Id"] for m in favourites["Items"]} == {lib.ids[i] for i, d in store.items() if d.favorite}
        assert (await items(client, emu, Recursive="true", IsFavorite="false", Limit=0))["TotalRecordCount"] > 0
        resumable = await items(client, emu, Recursive="true", Filters="IsResumable")
        assert resumable["Items"] and all(m["UserData"]["PlaybackPositionTicks"] > 0 for m in resumable["Items"])
        resume = ok(await client.get(f"/Users/{emu.user_id}/Items/Resume"))
        assert {m["Id"] for m in resume["Items"]} == {m["Id"] for m in resumable["Items"]}
        liked = await items(client, emu, Recursive="true", Filters="Likes")
        assert liked["Items"] and all(m["UserData"]["Likes"] is True for m in liked["Items"])
        disliked = await items(client, emu, Recursive="true", Filters="Dislikes")
        assert all(m["UserData"]["Rating"] < 6.5 for m in disliked["Items"])
        without_imdb = await items(client, emu, ParentId=movies_view, HasImdbId="false")
        assert without_imdb["Items"] and all(
            lib.style[lib.media[lib.by_id[m["Id"]]]] != FULL for m in without_imdb["Items"]
        )
        # series "played" (IncludeItemTypes=Series alone): any episode played
        series_played = await items(client, emu, Recursive="true", IncludeItemTypes="Series", IsPlayed="true")
        watched_shows = {
            lib.id_of(lib.media[i].show) for i, d in store.items() if d.played and isinstance(lib.media[i], Episode)
        }
        assert {m["Id"] for m in series_played["Items"]} == watched_shows
        assert all(m["UserData"]["UnplayedItemCount"] >= 0 for m in series_played["Items"])
        # sorts: by year descending, then name; a malformed bool is a 400
        by_year = (
            await items(
                client, emu, ParentId=movies_view, SortBy="ProductionYear,SortName", SortOrder="Descending,Ascending"
            )
        )["Items"]
        years = [m["ProductionYear"] for m in by_year]
        assert years == sorted(years, reverse=True)
        bad = await client.get(f"/Users/{emu.user_id}/Items", params={"IsPlayed": "maybe"})
        assert bad.status_code == 400
        assert (await items(client, emu, ParentId=movies_view, SearchTerm=emu.catalog.movies[0].title.lower()))[
            "TotalRecordCount"
        ] >= 1
    # Emby's AnyProviderIdEquals
    emby = make(EMBY)
    target = next(m for m in emby.catalog.movies if emby.library.style[m] == FULL)
    async with served(emby) as client:
        found = await items(client, emby, Recursive="true", AnyProviderIdEquals=f"imdb.{target.imdb},tmdb.0")
        assert [m["Id"] for m in found["Items"]] == [emby.item_id(target)] and found["Items"][0]["Id"].isdigit()


@pytest.mark.anyio
async def test_incremental_reads_by_date_last_saved() -> None:
    emu = make()
    lib = emu.library
    newest = max(lib.saved)
    async with served(emu) as client:
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(newest + 1))
        params = {
            "Recursive": "true",
            "IncludeItemTypes": "Movie,Episode",
            "MinDateLastSaved": since,
            "Fields": "DateLastSaved",
        }
        assert (await items(client, emu, **params))["TotalRecordCount"] == 0
        # a metadata refresh of two items: only those come back
        picked = [emu.item_id(emu.catalog.movies[3]), emu.item_id(next(emu.catalog.episodes()))]
        assert ok(await client.post("/_emulator/touch", json={"items": picked})) == {"touched": 2}
        changed = await items(client, emu, **params)
        assert sorted(m["Id"] for m in changed["Items"]) == sorted(picked)
        assert all(m["DateLastSaved"] > since for m in changed["Items"])
        # a new play is not a save of the item: MinDateLastSavedForUser does not see it (as on the real servers)
        fresh = movie_with(emu)
        assert (await client.post(f"/Users/{emu.user_id}/PlayedItems/{emu.item_id(fresh)}")).status_code == 200
        for_user = await items(client, emu, **{**params, "MinDateLastSavedForUser": since, "MinDateLastSaved": None})
        assert emu.item_id(fresh) not in {m["Id"] for m in for_user["Items"]}
        older = await items(
            client, emu, Recursive="true", IncludeItemTypes="Movie", MinDateLastSaved="2019-01-01T00:00:00Z", Limit=0
        )
        assert older["TotalRecordCount"] == len(emu.catalog.movies)


# -- writes ---------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", [JELLYFIN, EMBY], ids=["jellyfin", "emby"])
async def test_writes_are_seen_by_later_reads(flavour: Flavour) -> None:
    emu = make(flavour)
    movie = movie_with(emu)
    item = emu.item_id(movie)
    base = f"/Users/{emu.user_id}"
    async with served(emu) as client:

        async def data() -> dict[str, Any]:
            return ok(await client.get(f"{base}/Items/{item}"))["UserData"]

        # dated plays count each time; an undated one keeps the count at least 1
        first = ok(await client.post(f"{base}/PlayedItems/{item}", params={"DatePlayed": "20240501201500"}))
        assert (first["Played"], first["PlayCount"], first["LastPlayedDate"]) == (
            True,
            1,
            "2024-05-01T20:15:00.0000000Z",
        )
        second = ok(await client.post(f"{base}/PlayedItems/{item}?datePlayed=2024-06-01T10:00:00.5Z"))
        assert (second["PlayCount"], second["LastPlayedDate"]) == (2, "2024-06-01T10:00:00.5Z")
        undated = ok(await client.post(f"{base}/PlayedItems/{item}"))
        assert (undated["PlayCount"], undated["LastPlayedDate"]) == (2, "2024-06-01T10:00:00.5Z")
        assert (await data())["PlayCount"] == 2
        listed = await items(client, emu, Ids=item)
        assert listed["Items"][0]["UserData"]["Played"] is True
        assert (await client.post(f"{base}/PlayedItems/{item}?DatePlayed=yesterday")).status_code == 400
        # unplayed: everything back to zero (Emby also by POST .../Delete)
        if flavour.delete_aliases:
            cleared = ok(await client.post(f"{base}/PlayedItems/{item}/Delete"))
        else:
            cleared = ok(await client.delete(f"{base}/PlayedItems/{item}"))
        assert (cleared["Played"], cleared["PlayCount"], "LastPlayedDate" in cleared) == (False, 0, False)
        # favourites and likes
        assert ok(await client.post(f"{base}/FavoriteItems/{item}"))["IsFavorite"] is True
        assert item in {m["Id"] for m in (await items(client, emu, Recursive="true", IsFavorite="true"))["Items"]}
        assert ok(await client.delete(f"{base}/FavoriteItems/{item}"))["IsFavorite"] is False
        liked = ok(await client.post(f"{base}/Items/{item}/Rating", params={"Likes": "true"}))
        assert liked["Rating"] == 10 and liked.get("Likes", True) is True and ("Likes" in liked) == flavour.likes_field
        assert ok(await client.post(f"{base}/Items/{item}/Rating?likes=false"))["Rating"] == 1
        assert "Rating" not in ok(await client.delete(f"{base}/Items/{item}/Rating"))
        # the UserData update: only the fields given; a rating outside 0-10 is a 400
        update = await client.post(
            f"{base}/Items/{item}/UserData", json={"PlaybackPositionTicks": 600 * TICKS, "Rating": 7.5}
        )
        assert update.status_code == (204 if flavour.userdata_post_empty else 200)
        after = await data()
        assert (after["PlaybackPositionTicks"], after["Rating"], after["IsFavorite"]) == (600 * TICKS, 7.5, False)
        assert (await client.post(f"{base}/Items/{item}/UserData", json={"Rating": 11})).status_code == 400
        resume = ok(await client.get(f"{base}/Items/Resume"))
        assert resume["Items"][0]["Id"] == item or item in {m["Id"] for m in resume["Items"]}
        # marking a series played marks every episode; unknown items are 404s
        show = next(s for s in emu.catalog.shows if s.seasons)
        series = ok(await client.post(f"{base}/PlayedItems/{emu.item_id(show)}"))
        assert (series["Played"], series["UnplayedItemCount"]) == (True, 0)
        episodes = await items(client, emu, ParentId=emu.item_id(show), Recursive="true", IncludeItemTypes="Episode")
        assert all(e["UserData"]["Played"] for e in episodes["Items"])
        unknown = "0" * 32 if flavour is JELLYFIN else "1"
        assert (await client.post(f"{base}/PlayedItems/{unknown}")).status_code == 404
        if flavour.userless_routes:  # Jellyfin 10.9+ routes without the user id
            ok(await client.post(f"/UserFavoriteItems/{item}"))
            got = ok(await client.get(f"/UserItems/{item}/UserData"))
            assert got["IsFavorite"] is True and got["ItemId"] == item


@pytest.mark.anyio
async def test_playback_reports_follow_the_resume_rules() -> None:
    emu = make()
    movie = movie_with(emu)
    item = emu.item_id(movie)
    runtime = movie.runtime * 60 * TICKS
    async with served(emu) as client:

        async def data() -> dict[str, Any]:
            return ok(await client.get(f"/UserItems/{item}/UserData"))

        assert (
            await client.post("/Sessions/Playing", json={"ItemId": item, "PositionTicks": 0, "PlaySessionId": "p1"})
        ).status_code == 204
        started = await data()
        assert (started["PlayCount"], started["Played"]) == (1, False) and started["LastPlayedDate"]
        sessions = ok(await client.get("/Sessions"))
        playing = next(s for s in sessions if s.get("NowPlayingItem"))
        assert playing["NowPlayingItem"]["Id"] == item and playing["UserId"] == emu.user_id
        await client.post(
            "/Sessions/Playing/Progress", json={"ItemId": item, "PositionTicks": runtime // 2, "IsPaused": True}
        )
        assert (await data())["PlaybackPositionTicks"] == runtime // 2
        await client.post("/Sessions/Playing/Progress", json={"ItemId": item, "PositionTicks": runtime // 50})
        assert (await data())["PlaybackPositionTicks"] == 0  # under 5 %: not kept
        await client.post("/Sessions/Playing/Stopped", json={"ItemId": item, "PositionTicks": runtime * 95 // 100})
        done = await data()
        assert (done["Played"], done["PlaybackPositionTicks"], done["PlayCount"]) == (True, 0, 1)
        assert not any(s.get("NowPlayingItem") for s in ok(await client.get("/Sessions")))
        # the per-item form; a stop without a position counts a play
        other = emu.item_id(movie_with(emu, played=False, play_count=1))
        assert (await client.post(f"/Users/{emu.user_id}/PlayingItems/{other}")).status_code == 204
        assert (await client.delete(f"/Users/{emu.user_id}/PlayingItems/{other}")).status_code == 204
        final = ok(await client.get(f"/UserItems/{other}/UserData"))
        assert (final["Played"], final["PlayCount"]) == (True, 3)


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", [JELLYFIN, EMBY], ids=["jellyfin", "emby"])
async def test_playlists(flavour: Flavour) -> None:
    emu = make(flavour)
    seeded = next(iter(emu.state.playlists.values()))
    async with served(emu) as client:
        entries = ok(await client.get(f"/Playlists/{seeded.id}/Items", params={"userId": emu.user_id}))
        assert [e["Id"] for e in entries["Items"]] == [emu.library.ids[i] for _, i in seeded.entries]
        assert all(e["PlaylistItemId"] and "UserData" in e for e in entries["Items"])
        listed = await items(client, emu, Recursive="true", IncludeItemTypes="Playlist")
        assert [p["Name"] for p in listed["Items"]] == ["Watch later"]
        movie, show = emu.catalog.movies[0], emu.catalog.shows[0]
        ids = [emu.item_id(movie), emu.item_id(show.seasons[0])]
        if flavour.playlist_query_params:
            made = ok(
                await client.post("/Playlists", params={"Name": "Later", "Ids": ",".join(ids), "MediaType": "Video"})
            )
            assert made["ItemAddedCount"] == 1 + len(show.seasons[0].episodes)
        else:
            made = ok(
                await client.post(
                    "/Playlists", json={"Name": "Later", "Ids": ids, "UserId": emu.user_id, "MediaType": "Video"}
                )
            )
            assert set(made) == {"Id"}
        new = made["Id"]
        added = await client.post(f"/Playlists/{new}/Items", params={"ids": emu.item_id(emu.catalog.movies[1])})
        assert added.status_code == (200 if flavour.playlist_query_params else 204)
        got = ok(await client.get(f"/Playlists/{new}/Items"))
        assert got["TotalRecordCount"] == 2 + len(show.seasons[0].episodes)
        assert got["Items"][0]["Id"] == emu.item_id(movie) and got["Items"][-1]["Id"] == emu.item_id(
            emu.catalog.movies[1]
        )
        first_entry = got["Items"][0]["PlaylistItemId"]
        assert (await client.delete(f"/Playlists/{new}/Items", params={"entryIds": first_entry})).status_code == 204
        assert ok(await client.get(f"/Playlists/{new}/Items"))["Items"][0]["Id"] != emu.item_id(movie)
        # another user does not see it
        other = auth(emu.sign_in(emu.accounts.users[1].name))
        assert (await client.get(f"/Playlists/{new}/Items", headers=other)).status_code == 404
        assert (await client.delete(f"/Items/{new}")).status_code == 204
        assert (await client.get(f"/Playlists/{new}/Items")).status_code == 404


# -- the websocket --------------------------------------------------------------------------------


async def receive(ws: Any, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` (keep-alives and others skipped)."""
    with anyio.fail_after(5):
        while True:
            message = await ws.receive_json()
            if message["MessageType"] == kind:
                return message


async def receive_all(ws: Any, *kinds: str) -> dict[str, Any]:
    """The next message of each type in ``kinds``, in whatever order they come (others skipped)."""
    got: dict[str, Any] = {}
    with anyio.fail_after(5):
        while set(kinds) - set(got):
            message = await ws.receive_json()
            if message["MessageType"] in kinds:
                got.setdefault(message["MessageType"], message["Data"])
    return got


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", [JELLYFIN, EMBY], ids=["jellyfin", "emby"])
async def test_websocket_user_data_and_session_messages(flavour: Flavour) -> None:
    httpx_ws = pytest.importorskip("httpx_ws")
    emu = make(flavour, userdata_debounce_ms=100)
    token = emu.sign_in()
    show = next(s for s in emu.catalog.shows if s.seasons)
    episode, season = show.seasons[0].episodes[0], show.seasons[0]
    movie = movie_with(emu)
    async with served(emu, token) as client:
        base = str(client.base_url).rstrip("/").replace("http", "ws")
        path = "/socket" if flavour is JELLYFIN else "/embywebsocket"
        async with httpx_ws.aconnect_ws(f"{base}{path}", client, headers=auth(token)) as ws:
            hello = await ws.receive_json()
            assert (hello["MessageType"], hello["Data"]) == ("ForceKeepAlive", 60) and len(hello["MessageId"]) == 32
            await ws.send_json({"MessageType": "KeepAlive"})
            assert (await receive(ws, "KeepAlive"))["MessageType"] == "KeepAlive"
            # a played episode: one message with the episode and its season
            await client.post(f"/Users/{emu.user_id}/PlayedItems/{emu.item_id(episode)}")
            changed = (await receive(ws, "UserDataChanged"))["Data"]
            assert changed["UserId"] == emu.user_id
            assert [d["ItemId"] for d in changed["UserDataList"]] == [emu.item_id(episode), emu.item_id(season)]
            assert changed["UserDataList"][0]["Played"] is True
            # two quick changes are gathered into one message
            await client.post(f"/Users/{emu.user_id}/FavoriteItems/{emu.item_id(movie)}")
            await client.post(f"/Users/{emu.user_id}/Items/{emu.item_id(movie)}/Rating?Likes=true")
            gathered = (await receive(ws, "UserDataChanged"))["Data"]["UserDataList"]
            assert [d["ItemId"] for d in gathered] == [emu.item_id(movie)] and gathered[0]["Rating"] == 10
            # sessions: subscribe, then a play start is seen (progress saves send no UserDataChanged)
            await ws.send_json({"MessageType": "SessionsStart", "Data": "0,1500"})
            await receive(ws, "Sessions")
            await client.post("/Sessions/Playing", json={"ItemId": emu.item_id(movie), "PositionTicks": 0})
            kinds = ["Sessions", "UserDataChanged"] + (["PlaybackStart"] if flavour.playback_messages else [])
            got = await receive_all(ws, *kinds)
            assert any(s.get("NowPlayingItem", {}).get("Id") == emu.item_id(movie) for s in got["Sessions"])
            assert got["UserDataChanged"]["UserDataList"][0]["PlayCount"] == 1  # the start counts a play
            if flavour.playback_messages:
                assert got["PlaybackStart"]["NowPlayingItem"]["Id"] == emu.item_id(movie)
            await client.post(
                "/Sessions/Playing/Progress", json={"ItemId": emu.item_id(movie), "PositionTicks": 30 * 60 * TICKS}
            )
            await receive(ws, "Sessions")
            await client.post(f"/Users/{emu.user_id}/FavoriteItems/{emu.item_id(episode)}")
            after = (await receive(ws, "UserDataChanged"))["Data"]["UserDataList"]
            assert emu.item_id(movie) not in {d["ItemId"] for d in after}  # the progress save was not told
            # another user's changes are not sent here
            other = emu.accounts.users[1]
            await client.post(f"/Users/{other.id}/FavoriteItems/{emu.item_id(movie)}")
            assert (await client.post("/_emulator/websocket/drop")).json() == {"dropped": 1}
            with pytest.raises(httpx_ws.WebSocketDisconnect), anyio.fail_after(5):
                while True:
                    message = await ws.receive_json()
                    assert message["MessageType"] != "UserDataChanged"
        with pytest.raises(httpx_ws.WebSocketUpgradeError):
            async with httpx_ws.aconnect_ws(f"{base}/socket", client, headers={"Authorization": ""}):
                pass
        # the token as ApiKey; websocket_drop closes after N messages
        await client.post("/_emulator/settings", json={"websocket_drop": 1})
        async with httpx_ws.aconnect_ws(
            f"{base}/socket?ApiKey={emu.api_key}", client, headers={"Authorization": ""}
        ) as ws:
            assert (await ws.receive_json())["MessageType"] == "ForceKeepAlive"
            with pytest.raises(httpx_ws.WebSocketDisconnect), anyio.fail_after(5):
                await ws.receive_text()
        stats = ok(await client.get("/_emulator/stats"))
        assert stats["websocket"]["open"] == 0 and stats["websocket"]["sent"] >= 8


# -- knobs, faults, state -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_faults_error_rate_latency_rate_limit_and_page_caps() -> None:
    emu = make()
    movies_view = emu.library.movies_view.id
    async with served(emu) as client:
        faults = [
            {"method": "GET", "path": "/Users/*/Items", "status": 503, "times": 2, "retry_after": 3},
            {"method": "POST", "path": "/Users/*/PlayedItems/*", "status": 500, "after_apply": True},
            {"path": "/System/Info", "drop": True},
        ]
        assert len(ok(await client.post("/_emulator/faults", json=faults))["pending"]) == 3
        first = await client.get(f"/Users/{emu.user_id}/Items")
        assert first.status_code == 503 and first.headers["Retry-After"] == "3"
        assert (await client.get(f"/users/{emu.user_id}/items")).status_code == 503  # matched on the canonical path
        assert (await client.get(f"/Users/{emu.user_id}/Items")).status_code == 200
        movie = movie_with(emu)
        lost = await client.post(f"/Users/{emu.user_id}/PlayedItems/{emu.item_id(movie)}")
        assert lost.status_code == 500
        assert (
            ok(await client.get(f"/UserItems/{emu.item_id(movie)}/UserData"))["Played"] is True
        )  # applied, answer lost
        with pytest.raises(httpx.HTTPError):
            await client.get("/System/Info")
        # a request without a token consumes no fault
        await client.post("/_emulator/faults", json=[{"path": "/System/Info", "status": 502}])
        assert (await client.get("/System/Info", headers={"Authorization": ""})).status_code == 401
        assert (await client.get("/System/Info")).status_code == 502
        assert (await client.post("/_emulator/faults", json=[{"status": 9000}])).status_code == 422
        await client.post("/_emulator/settings", json={"error_rate": 1.0})
        assert (await client.get("/System/Info")).status_code in (500, 502, 503)
        await client.post("/_emulator/settings", json={"error_rate": 0, "latency_ms": 150})
        started = time.perf_counter()
        await client.get("/System/Info/Public")
        assert time.perf_counter() - started >= 0.14
        # a proxy's rate limit: 429 with Retry-After once past the window's budget
        await client.post("/_emulator/settings", json={"latency_ms": 0, "rate_limit": 3, "rate_period": 60})
        statuses = [(await client.get("/System/Info")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        throttled = await client.get("/System/Info")
        assert throttled.status_code == 429 and 1 <= int(throttled.headers["Retry-After"]) <= 60
        # page caps: a default page size and a clamp on Limit
        await client.post("/_emulator/settings", json={"rate_limit": 0, "default_limit": 7, "max_limit": 20})
        assert len((await items(client, emu, ParentId=movies_view))["Items"]) == 7
        capped = await items(client, emu, ParentId=movies_view, Limit=500)
        assert len(capped["Items"]) == 20 and capped["TotalRecordCount"] == len(emu.catalog.movies)
        assert (await client.post("/_emulator/settings", json={"nope": 1})).status_code == 422
        assert (await client.post("/_emulator/settings", json={"error_rate": 2})).status_code == 422
        stats = ok(await client.get("/_emulator/stats"))
        assert stats["faults"] == 5 and stats["dropped"] == 1 and stats["unauthorized"] >= 1 and stats["throttled"] == 2
        assert stats["requests"][f"GET /Users/{emu.user_id}/Items"] >= 3
        # every device token revoked: 401 until a new sign-in; the API key still works
        assert ok(await client.post("/_emulator/expire_tokens"))["expired"] >= 1
        assert (await client.get("/System/Info")).status_code == 401
        assert (await client.get("/System/Info", headers=auth(emu.api_key))).status_code == 200


@pytest.mark.anyio
async def test_state_round_trip_reset_and_a_tiny_state() -> None:
    emu = make()
    async with served(emu) as client:
        state = ok(await client.get("/_emulator/state"))
        assert [u["name"] for u in state["users"]] == [u.name for u in emu.accounts.users]
        row = state["users"][0]["data"][0]
        assert {
            "item",
            "played",
            "play_count",
            "last_played",
            "position_ticks",
            "favorite",
            "rating",
            "type",
            "trakt",
        } <= set(row)
        assert ok(await client.post("/_emulator/state", json=state)) == state
        movie, show = emu.catalog.movies[2], emu.catalog.shows[1]
        ep = show.seasons[0].episodes[0]
        tiny = {
            "users": [
                {
                    "name": emu.username,
                    "data": [
                        {
                            "type": "movie",
                            "trakt": movie.trakt,
                            "played": True,
                            "play_count": 3,
                            "last_played": "2024-01-02T03:04:05Z",
                        },
                        {"item": emu.item_id(ep), "favorite": True, "rating": 4},
                    ],
                }
            ],
            "playlists": [{"name": "Mine", "owner": emu.username, "items": [emu.item_id(ep)]}],
        }
        assert (await client.post("/_emulator/state", json=tiny)).status_code == 200
        played = await items(client, emu, Recursive="true", IsPlayed="true")
        assert [m["Id"] for m in played["Items"]] == [emu.item_id(movie)]
        assert played["Items"][0]["UserData"]["LastPlayedDate"] == "2024-01-02T03:04:05.0000000Z"
        got = ok(await client.get(f"/UserItems/{emu.item_id(ep)}/UserData"))
        assert (got["IsFavorite"], got["Rating"], got["Likes"]) == (True, 4.0, False)
        assert [
            p["Name"] for p in (await items(client, emu, Recursive="true", IncludeItemTypes="Playlist"))["Items"]
        ] == ["Mine"]
        assert ok(await client.get("/_emulator/state"))["users"][1]["data"] == []
        bad = await client.post(
            "/_emulator/state", json={"users": [{"name": emu.username, "data": [{"item": "nope"}]}]}
        )
        assert bad.status_code == 422 and "users[0].data[0]" in bad.json()["error"]
        assert (await client.post("/_emulator/state", json={"users": [{"name": "nobody"}]})).status_code == 422
        assert (await client.post("/_emulator/reset")).status_code == 200
        assert ok(await client.get("/_emulator/state")) == state


def test_same_seed_same_server_and_ids_shared_with_plex_and_trakt() -> None:
    a, b = MediaServerEmulator(5, 200), MediaServerEmulator(5, 200)
    assert a.state_json() == b.state_json() and a.library.ids == b.library.ids
    assert (a.server_id, a.username, a.password, a.api_key) == (b.server_id, b.username, b.password, b.api_key)
    assert MediaServerEmulator(6, 200).state_json() != a.state_json()
    plex, trakt = PlexEmulator(seed=5, size=200), TraktEmulator(seed=5, size=200)
    lib = a.library
    for movie in a.catalog.movies[:60]:
        twin = trakt.catalog.find("movie", {"imdb": movie.imdb})
        assert twin is not None and (twin.tmdb, twin.title, twin.year) == (movie.tmdb, movie.title, movie.year)
        ids = lib.provider_ids(movie)
        if lib.style[movie] == FULL:
            assert ids == {"Imdb": twin.imdb, "Tmdb": str(twin.tmdb)}
            assert plex.catalog.find("movie", {"tmdb": int(ids["Tmdb"])}).title == movie.title
    for show in a.catalog.shows[:20]:
        ep = show.seasons[-1].episodes[-1]
        if lib.style[show] == FULL:
            assert lib.provider_ids(ep)["Tvdb"] == str(trakt.catalog.find("episode", {"tvdb": ep.tvdb}).tvdb)
            assert lib.provider_ids(show)["Tvdb"] == str(plex.catalog.find("show", {"imdb": show.imdb}).tvdb)
    emby = MediaServerEmulator(5, 200, flavour=EMBY)
    assert [lib.provider_ids(m) for m in lib.media] == [emby.library.provider_ids(m) for m in emby.library.media]
    assert all(i.isdigit() for i in emby.library.ids[:50]) and all(len(i) == 32 for i in lib.ids[:50])


def test_twenty_thousand_titles_build() -> None:
    """A benchmark-sized library builds (its speed is measured by tests/bench, not asserted here)."""
    emu = MediaServerEmulator(1, 20_000)
    assert len(emu.catalog) == 20_000 and len(emu.library) > 150_000 and emu.plays() > 20_000


@pytest.mark.anyio
async def test_pages_of_a_big_library() -> None:
    emu = MediaServerEmulator(1, 5_000)
    async with served(emu) as client:
        seen: list[str] = []
        total = None
        for start in range(0, 3_000, 500):
            page = await items(
                client,
                emu,
                Recursive="true",
                IncludeItemTypes="Episode",
                Fields="ProviderIds",
                StartIndex=start,
                Limit=500,
            )
            total = page["TotalRecordCount"]
            seen += [m["Id"] for m in page["Items"]]
        assert total == sum(1 for _ in emu.catalog.episodes()) and len(set(seen)) == 3_000


# -- the command line ------------------------------------------------------------------------------


def test_main_refuses_bad_arguments_and_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emby", "--size", "-1"]) == 2
    assert main_emby(["--error-rate", "3"]) == 2
    with busy_port() as port:
        assert main(["--port", str(port), "--size", "5"]) == 1
    assert "cannot listen" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jellyfin", "emby"])
def test_cli_prints_the_config_block_with_credentials_first(name: str) -> None:
    args = (name, "--port", "0", "--seed", "3", "--size", "50")
    with emulator_cli("crosswatch_jellyfin.emulator", "api_key", *args) as (proc, lines):
        assert lines[0].startswith("#")
        text = "".join(lines)
        config = tomllib.loads(text)[name]
        twin = MediaServerEmulator(3, 50, flavour=JELLYFIN if name == "jellyfin" else EMBY)
        assert config == {"url": config["url"], "user": twin.username, "api_key": twin.api_key}
        assert f"user {twin.username} (administrator) password {twin.password}" in text
        # the printed credentials sign in
        reply = httpx.post(
            config["url"] + "/Users/AuthenticateByName",
            json={"Username": twin.username, "Pw": twin.password},
            headers=auth(),
        )
        assert reply.status_code == 200 and reply.json()["ServerId"] == twin.server_id
        assert httpx.get(config["url"] + "/System/Info", params={"ApiKey": config["api_key"]}).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


@pytest.mark.slow
def test_crosswatch_emulator_command_finds_both_through_the_plugin(tmp_path: Path) -> None:
    """``crosswatch emulator emby`` reaches the emulator through the plugin's ``crosswatch_emulators`` hook."""
    site = tmp_path / "site"
    dist = site / "crosswatch_jellyfin_probe-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: crosswatch-jellyfin-probe\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[crosswatch]\njellyfin = crosswatch_jellyfin\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(site)}
    command = [
        sys.executable,
        "-m",
        "crosswatch",
        "--config-dir",
        str(tmp_path / "cfg"),
        "emulator",
        "emby",
        "--size",
        "20",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any(line.startswith("api_key") for line in lines):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "no output"
            lines.append(line)
        config = tomllib.loads("".join(lines))["emby"]
        assert httpx.get(config["url"] + "/emby/System/Info/Public").json()["Version"] == EMBY.version
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
