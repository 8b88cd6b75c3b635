"""Plex watchlist writes when Discover's ``matches`` misses: exact search, then (if allowed) the PMS.

Over real HTTP against the Plex emulator, on both anyio backends; the emulator's
``matches_by_id`` knob at 0 makes ``/library/metadata/matches`` miss every external-id lookup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from crosswatch.emulation.catalog import Media
from crosswatch.emulation.server import serve_app
from crosswatch.model import Feature, Item, MediaType
from crosswatch_plex.emulator import PlexEmulator
from crosswatch_plex.emulator.library import LEGACY, MODERN
from tests.test_plex_adapter import _provider

OWNER = "1"


def _listed(emu: PlexEmulator) -> set[str]:
    """Discover keys on the owner's watchlist, as the emulator holds it."""
    return {e["discover"] for e in emu.state_json()["users"][OWNER]["watchlist"]}


def _item(media: Any, *, title: str | None = "", year: bool = True, **ids: str) -> Item:
    """A watchlist Item of a catalogue title: its own ids (or ``ids``), its title (or ``title``)."""
    kind = MediaType.MOVIE if media.kind == "movie" else MediaType.SHOW
    own = {"imdb": media.imdb, "tmdb": str(media.tmdb)} | ({"tvdb": str(media.tvdb)} if media.kind == "show" else {})
    return Item(
        type=kind,
        ids=ids or own,
        title=media.title if title == "" else title,
        year=media.year if year else None,
    )


def _unlisted(emu: PlexEmulator, titles: Iterable[Media], style: int | None = None) -> list[Any]:
    listed = _listed(emu)
    return [
        t
        for t in titles
        if emu.library.discover_key(t) not in listed and (style is None or emu.library.style[t] == style)
    ]


def _same_title_movies(emu: PlexEmulator) -> list[Any]:
    """Movies sharing one title (remakes), newest first: the order Discover's search ranks them."""
    by_title: dict[str, list[Any]] = {}
    for movie in _unlisted(emu, emu.catalog.movies):
        by_title.setdefault(movie.title, []).append(movie)
    group = next(g for g in by_title.values() if len(g) >= 3 and len({m.year for m in g}) == len(g))
    return sorted(group, key=lambda m: -m.year)


def _pms_requests(emu: PlexEmulator) -> int:
    """Requests the emulator answered as the Plex Media Server (library sections, numeric metadata)."""
    count = 0
    for name, n in emu.stats.to_json()["requests"].items():
        path = name.split(" ", 1)[1]
        pms_metadata = path.startswith("/library/metadata/") and path.split("/")[3].split(",")[0].isdigit()
        sections = path.startswith("/library/sections") and not path.startswith("/library/sections/watchlist")
        if sections or pms_metadata:
            count += n
    return count


def _requests(emu: PlexEmulator, path: str) -> int:
    return sum(n for name, n in emu.stats.to_json()["requests"].items() if name.endswith(" " + path))


class _SearchLog:
    """The emulator behind a recorder of every ``/library/search`` query string."""

    def __init__(self, emu: PlexEmulator) -> None:
        self.emu = emu
        self.queries: list[dict[str, list[str]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/").endswith("/library/search"):
            self.queries.append(parse_qs(scope["query_string"].decode()))
        await self.emu(scope, receive, send)


@pytest.mark.anyio
async def test_matches_by_id_knob_hides_external_id_lookups_only() -> None:
    emu = PlexEmulator(seed=9, size=150)
    movie = emu.catalog.movies[0]
    key = emu.library.discover_key(movie)
    lookups = {
        "imdb": {"type": 1, "guid": f"imdb://{movie.imdb}"},
        "tmdb": {"type": 1, "guid": f"tmdb://{movie.tmdb}"},
        "plex": {"type": 1, "guid": f"plex://movie/{key}"},
        "title": {"type": 1, "title": movie.title, "year": movie.year},
        "title-id": {"type": 1, "title": f"imdb-{movie.imdb}"},
    }
    headers = {"X-Plex-Token": emu.owner_token, "Accept": "application/json"}
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url, headers=headers) as http:

        async def found() -> dict[str, list[str]]:
            out = {}
            for name, params in lookups.items():
                response = await http.get("/library/metadata/matches", params=params)
                assert response.status_code == 200
                out[name] = [m["ratingKey"] for m in response.json()["MediaContainer"].get("Metadata") or ()]
            return out

        default = await found()
        turned_off = await http.post("/_emulator/settings", json={"matches_by_id": 0})
        off = await found()
        refused = await http.post("/_emulator/settings", json={"matches_by_id": 2})
        await http.post("/_emulator/settings", json={"matches_by_id": 1})
        back = await found()
    assert all(keys == [key] for keys in default.values())
    assert turned_off.status_code == 200 and turned_off.json()["matches_by_id"] == 0
    assert off == {"imdb": [], "tmdb": [], "plex": [key], "title": [key], "title-id": [key]}
    assert refused.status_code == 422
    assert back == default


@pytest.mark.anyio
async def test_add_and_remove_land_through_search_when_matches_misses(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    emu.settings.update({"matches_by_id": 0})
    movie = _unlisted(emu, emu.catalog.movies)[0]
    show = _unlisted(emu, emu.catalog.shows)[0]
    keys = {emu.library.discover_key(movie), emu.library.discover_key(show)}
    items = [_item(movie), _item(show, year=False, tvdb=str(show.tvdb))]  # the show only by its tvdb id
    async with serve_app(emu) as url:
        plex = _provider(url, tmp_path, emu.owner_token)
        added = await plex.add(Feature.WATCHLIST, items)
        listed = _listed(emu)
        read = await plex.read(Feature.WATCHLIST)
        # fresh items, without the Discover ratingKey a watchlist read would give
        removed = await plex.remove(Feature.WATCHLIST, items)
        final = _listed(emu)
        await plex.aclose()
    assert len(added.ok) == 2 and not added.unresolved and not added.failed
    assert keys <= listed and {movie.imdb, show.imdb} <= {i.ids.get("imdb") for i in read}
    assert len(removed.ok) == 2 and not keys & final
    assert _requests(emu, "/library/search") == 4  # one search per title and write
    assert _pms_requests(emu) == 0
    assert not (tmp_path / ".cw_state" / "plex_watchlist.unresolved.json").exists()


@pytest.mark.anyio
async def test_search_sends_the_query_limit_and_looks_no_further(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=300)
    emu.settings.update({"matches_by_id": 0})
    remakes = _same_title_movies(emu)  # the search ranks them newest first
    oldest = remakes[-1]
    beyond = len(remakes) - 1  # the oldest is ranked just past this many results
    log = _SearchLog(emu)
    async with serve_app(log) as url:
        short = _provider(url, tmp_path / "short", emu.owner_token, watchlist_query_limit=beyond)
        missed = await short.add(Feature.WATCHLIST, [_item(oldest)])
        await short.aclose()
        sent_short = [q["limit"] for q in log.queries]
        log.queries.clear()
        wide = _provider(url, tmp_path / "wide", emu.owner_token, watchlist_query_limit=len(remakes))
        found = await wide.add(Feature.WATCHLIST, [_item(oldest)])
        await wide.aclose()
        sent_wide = [q["limit"] for q in log.queries]
    assert sent_short == [[str(beyond)]] and sent_wide == [[str(len(remakes))]]
    assert missed.unresolved and "Discover has no title" in missed.unresolved[0][1] and not missed.ok
    assert len(found.ok) == 1 and emu.library.discover_key(oldest) in _listed(emu)
    assert not {emu.library.discover_key(m) for m in remakes[:-1]} & _listed(emu)


@pytest.mark.anyio
async def test_a_same_title_search_hit_with_other_ids_is_not_used(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=300)
    emu.settings.update({"matches_by_id": 0})
    remakes = _same_title_movies(emu)
    newest, oldest = remakes[0], remakes[-1]
    stranger = _item(newest, imdb="tt9999999", tmdb="999999")  # same title and year, other ids
    before = _listed(emu)
    async with serve_app(emu) as url:
        plex = _provider(url, tmp_path, emu.owner_token)
        result = await plex.add(Feature.WATCHLIST, [stranger, _item(oldest, year=False)])
        await plex.aclose()
    added = _listed(emu) - before
    assert [i for i, _ in result.unresolved] == [stranger] and "Discover has no title" in result.unresolved[0][1]
    # the one with its own ids and no year: the top-ranked same-title hit is skipped, its own title taken
    assert [i.ids["imdb"] for i in result.ok] == [oldest.imdb]
    assert added == {emu.library.discover_key(oldest)}
    frozen = json.loads((tmp_path / ".cw_state" / "plex_watchlist.unresolved.json").read_text())
    assert list(frozen) == ["movie:imdb:tt9999999"]


@pytest.mark.anyio
async def test_pms_fallback_finds_what_discover_cannot_only_when_allowed(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    emu.settings.update({"matches_by_id": 0})
    movie = _unlisted(emu, emu.catalog.movies, MODERN)[0]
    show = _unlisted(emu, emu.catalog.shows, MODERN)[0]
    legacy = _unlisted(emu, emu.catalog.movies, LEGACY)[0]  # PMS shows an agent guid: no Discover key
    localised = _item(movie, title=f"{movie.title} (Lokalisiert)")  # a title Discover's search does not have
    untitled = _item(show, title=None)  # no title: nothing to search for
    items = [localised, untitled]
    async with serve_app(emu) as url:
        emu.stats.reset()
        denied = _provider(url, tmp_path / "denied", emu.owner_token)
        first = await denied.add(Feature.WATCHLIST, items)
        second = await denied.add(Feature.WATCHLIST, items)
        await denied.aclose()
        pms_when_denied = _pms_requests(emu)
        listed_when_denied = _listed(emu)
        allowed = _provider(url, tmp_path / "allowed", emu.owner_token, watchlist_allow_pms_fallback=True)
        added = await allowed.add(Feature.WATCHLIST, [*items, _item(legacy, title="Nicht Da")])
        listed = _listed(emu)
        removed = await allowed.remove(Feature.WATCHLIST, items)
        await allowed.aclose()
        pms_when_allowed = _pms_requests(emu)
    keys = {emu.library.discover_key(movie), emu.library.discover_key(show)}
    # not allowed: unresolved, frozen, and the server never asked
    assert [i for i, _ in first.unresolved] == items and not first.ok
    assert all("Discover has no title" in reason for _, reason in first.unresolved)
    assert second.frozen == items and not second.unresolved
    frozen = json.loads((tmp_path / "denied" / ".cw_state" / "plex_watchlist.unresolved.json").read_text())
    assert len(frozen) == 2
    assert pms_when_denied == 0 and not keys & listed_when_denied
    # allowed: the library's plex:// guid names the Discover key; a legacy-agent title has none
    assert added.ok == items and keys <= listed
    assert [i.ids["imdb"] for i, _ in added.unresolved] == [legacy.imdb]
    assert "neither Discover nor the Plex library" in added.unresolved[0][1]
    assert emu.library.discover_key(legacy) not in listed
    assert removed.ok == items and not keys & _listed(emu)
    assert pms_when_allowed > 0
