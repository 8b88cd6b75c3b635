"""The PLEX provider against the Plex emulator over real HTTP: writes found by external ids."""

from __future__ import annotations

import json
import time
from pathlib import Path

import msgspec
import pytest

from crosswatch.emulation.server import serve_app
from crosswatch.model import Feature, Item, MediaType
from crosswatch.provider import ProviderContext
from crosswatch_plex.adapter import PlexProvider
from crosswatch_plex.config import PlexSettings
from crosswatch_plex.emulator import PlexEmulator
from tests.test_plex_ratings import _signed_in

OPEN = {"history_require_external_ids": False, "history_ignore_local_guid": False, "history_ignore_guid_prefixes": []}


def _provider(url: str, tmp_path: Path, token: str, **overrides) -> PlexProvider:
    base = {k: url for k in ("url", "plextv_url", "clients_url", "discover_url", "metadata_url")}
    settings = msgspec.convert({**base, **overrides}, PlexSettings)
    return PlexProvider(ProviderContext("PLEX", "default", settings, _signed_in(tmp_path, token)))


def _unrated_movie(emu: PlexEmulator):
    rated = {(e["type"], e["ids"].get("imdb")) for e in emu.state_json()["users"]["1"]["ratings"]}
    return next(
        m
        for m in emu.catalog.movies
        if ("movie", m.imdb) not in rated and emu.library.style.get(m.title, "modern") == "modern"
    )


@pytest.mark.anyio
async def test_ratings_written_by_external_ids_and_cleared(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    movie = _unrated_movie(emu)
    async with serve_app(emu) as url:
        plex = _provider(url, tmp_path, emu.owner_token)
        before = await plex.read(Feature.RATINGS)
        added = await plex.add(Feature.RATINGS, [Item(type=MediaType.MOVIE, ids={"imdb": movie.imdb}, rating=8)])
        after = await plex.read(Feature.RATINGS)
        mine = next(i for i in after if i.ids.get("imdb") == movie.imdb)
        cleared = await plex.remove(Feature.RATINGS, [Item(type=MediaType.MOVIE, ids={"tmdb": str(movie.tmdb)})])
        final = await plex.read(Feature.RATINGS)
        await plex.aclose()
    assert len(added.ok) == 1 and mine.rating == 8 and len(after) == len(before) + 1
    assert len(cleared.ok) == 1 and len(final) == len(before)


@pytest.mark.anyio
async def test_marking_watched_records_now_and_a_play_can_be_removed(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    movie = _unrated_movie(emu)
    async with serve_app(emu) as url:
        plex = _provider(url, tmp_path, emu.owner_token, **OPEN)
        before = await plex.read(Feature.HISTORY)
        began = time.time()
        added = await plex.add(
            Feature.HISTORY, [Item(type=MediaType.MOVIE, ids={"imdb": movie.imdb}, watched_at="2015-06-01T20:00:00Z")]
        )
        after = await plex.read(Feature.HISTORY)
        play = next(p for p in after if p.ids.get("imdb") == movie.imdb and p not in before)
        removed = await plex.remove(Feature.HISTORY, [play])
        final = await plex.read(Feature.HISTORY)
        await plex.aclose()
    assert len(added.ok) == 1 and len(after) == len(before) + 1
    stamp = time.mktime(time.strptime(play.watched_at, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert stamp >= began - 5  # Plex recorded "now", not 2015
    assert len(removed.ok) == 1 and len(final) == len(before)


@pytest.mark.anyio
async def test_watchlist_add_and_remove_through_discover(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    listed = {e["ids"].get("imdb") for e in emu.state_json()["users"]["1"]["watchlist"]}
    movie = next(m for m in emu.catalog.movies if m.imdb not in listed)
    async with serve_app(emu) as url:
        plex = _provider(url, tmp_path, emu.owner_token)
        before = await plex.read(Feature.WATCHLIST)
        item = Item(type=MediaType.MOVIE, ids={"imdb": movie.imdb})
        added = await plex.add(Feature.WATCHLIST, [item])
        again = await plex.add(Feature.WATCHLIST, [item])  # already listed: still fine
        after = await plex.read(Feature.WATCHLIST)
        removed = await plex.remove(Feature.WATCHLIST, [item])
        final = await plex.read(Feature.WATCHLIST)
        await plex.aclose()
    assert len(added.ok) == 1 and len(again.ok) == 1
    assert len(after) == len(before) + 1 and any(i.ids.get("imdb") == movie.imdb for i in after)
    assert len(removed.ok) == 1 and len(final) == len(before)


@pytest.mark.anyio
async def test_progress_set_and_not_clearable(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    movie = _unrated_movie(emu)
    async with serve_app(emu) as url:
        plex = _provider(url, tmp_path, emu.owner_token)
        result = await plex.add(Feature.PROGRESS, [Item(type=MediaType.MOVIE, ids={"imdb": movie.imdb}, progress=40.0)])
        progress = await plex.read(Feature.PROGRESS)
        refused = await plex.remove(Feature.PROGRESS, progress[:1])
        await plex.aclose()
    mine = next(i for i in progress if i.ids.get("imdb") == movie.imdb)
    assert len(result.ok) == 1 and mine.progress == pytest.approx(40.0, abs=0.5)
    assert refused.failed and "cannot clear" in refused.failed[0][1]


@pytest.mark.anyio
async def test_titles_not_in_the_library_are_frozen(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    async with serve_app(emu) as url:
        plex = _provider(url, tmp_path, emu.owner_token)
        ghost = Item(type=MediaType.MOVIE, ids={"imdb": "tt0000001"}, title="Ghost", rating=5)
        first = await plex.add(Feature.RATINGS, [ghost])
        second = await plex.add(Feature.RATINGS, [ghost])
        await plex.aclose()
    assert first.unresolved and "not in the Plex library" in first.unresolved[0][1]
    assert second.frozen == [ghost] and not second.unresolved and not second.ok
    frozen = json.loads((tmp_path / ".cw_state" / "plex_ratings.unresolved.json").read_text())
    assert list(frozen) == ["movie:imdb:tt0000001"]


@pytest.mark.anyio
async def test_fallback_guid_recovers_ids_once_and_memoises_them(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    async with serve_app(emu) as url:
        plain = _provider(url, tmp_path / "plain", emu.owner_token)
        without = await plain.read(Feature.HISTORY)
        await plain.aclose()
        first = _provider(url, tmp_path, emu.owner_token, fallback_GUID=True)
        recovered = await first.read(Feature.HISTORY)
        await first.aclose()
        memo = json.loads((tmp_path / ".cw_state" / "plex_fallback_memo.json").read_text())
        lookups = sum(n for name, n in emu.stats.to_json()["requests"].items() if "/library/search" in name)
        emu.stats.reset()
        again = _provider(url, tmp_path, emu.owner_token, fallback_GUID=True)
        second = await again.read(Feature.HISTORY)
        await again.aclose()
        searches = sum(n for name, n in emu.stats.to_json()["requests"].items() if "/library/search" in name)
    assert len(recovered) > len(without)  # plays of id-less and local-only titles now carry ids
    assert all(any(k in p.ids or k in p.show_ids for k in ("imdb", "tmdb", "tvdb")) for p in recovered)
    assert memo and any(memo.values()) and lookups > 0
    assert second == recovered and searches == 0  # the memo answered


@pytest.mark.anyio
async def test_plays_of_items_plex_no_longer_knows_are_frozen_with_the_reason(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    gone = sorted({str(p["ratingKey"]) for p in emu.state_json()["users"]["1"]["plays"]})[:2]
    emu.settings.not_found_keys = gone
    async with serve_app(emu) as url:
        plex = _provider(url, tmp_path, emu.owner_token)
        await plex.read(Feature.HISTORY)
        await plex.aclose()
    frozen = json.loads((tmp_path / ".cw_state" / "plex_history.unresolved.json").read_text())
    assert frozen and {v["item"]["extra"]["ratingKey"] for v in frozen.values()} == set(gone)
    assert all("404" in v["reason"] for v in frozen.values())
