"""Reading Plex resume positions and the Discover watchlist from the Plex emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswatch.emulation.server import serve_app
from crosswatch_plex.emulator import EmulatorSettings, PlexEmulator
from crosswatch_plex.mapping import iso
from crosswatch_plex.progress import read_progress
from crosswatch_plex.watchlist import read_watchlist
from tests.test_plex_ratings import _client, _signed_in


@pytest.mark.anyio
async def test_resume_positions(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    expected = {str(e["ratingKey"]): e["viewOffset"] for e in emu.state_json()["users"]["1"]["progress"]}
    async with serve_app(emu) as url:
        client = _client(url, _signed_in(tmp_path, emu.owner_token))
        items = await read_progress(client)
        await client.aclose()
    assert {i.extra["ratingKey"]: i.progress_ms for i in items} == expected
    assert all(i.duration_ms and 0 < i.progress < 100 for i in items)


@pytest.mark.anyio
async def test_whole_watchlist_through_small_pages_with_external_ids(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=400, settings=EmulatorSettings(discover_max_page=50))
    expected = emu.state_json()["users"]["1"]["watchlist"]
    async with serve_app(emu) as url:
        client = _client(url, _signed_in(tmp_path, emu.owner_token), watchlist_page_size=10)
        items = await read_watchlist(client)
        await client.aclose()
        too_big = _client(url, _signed_in(tmp_path, emu.owner_token), watchlist_page_size=100)
        with pytest.raises(Exception, match="504"):
            await read_watchlist(too_big)
        await too_big.aclose()
    assert len(expected) > 10  # more than one page
    assert sorted(i.extra["ratingKey"] for i in items) == sorted(str(e["discover"]) for e in expected)
    assert all(any(k in i.ids for k in ("imdb", "tmdb", "tvdb")) for i in items)
    assert {i.listed_at for i in items} == {iso(e["watchlistedAt"]) for e in expected}
