"""Reading Plex ratings from the Plex emulator over real HTTP, on both backends."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from crosswatch.emulation.server import serve_app
from crosswatch.model import MediaType
from crosswatch.state import StateDir
from crosswatch_plex.client import PlexClient, PlexError
from crosswatch_plex.config import PlexSettings
from crosswatch_plex.emulator import PlexEmulator
from crosswatch_plex.identity import PlexAccount, PlexIdentity
from crosswatch_plex.ratings import read_ratings


def _client(url: str, state: StateDir, **overrides) -> PlexClient:
    base = {k: url for k in ("url", "plextv_url", "clients_url", "discover_url", "metadata_url")}
    return PlexClient(msgspec.convert({**base, **overrides}, PlexSettings), state)


def _signed_in(tmp_path: Path, token: str) -> StateDir:
    state = StateDir(tmp_path)
    state.ensure()
    PlexIdentity(state).save(PlexAccount(token=token, client_id="crosswatch-test"))
    return state


@pytest.mark.anyio
async def test_ratings_of_all_four_types_with_external_ids(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    expected = emu.state_json()["users"]["1"]["ratings"]
    async with serve_app(emu) as url:
        client = _client(url, _signed_in(tmp_path, emu.owner_token))
        items = await read_ratings(client)
        await client.aclose()
    assert len(items) == len(expected) > 0
    assert {i.type for i in items} == set(MediaType)
    by_key = {i.extra["ratingKey"]: i for i in items}
    for entry in expected:
        item = by_key[str(entry["ratingKey"])]
        assert item.rating == max(1, min(10, round(entry["rating"])))
        assert item.rated_at
    episodes = [i for i in items if i.type == MediaType.EPISODE]
    external = ("imdb", "tmdb", "tvdb")
    assert episodes and all(i.show_ids or not any(k in i.ids for k in external) for i in episodes)
    assert sum(1 for i in episodes if i.show_ids) > len(episodes) // 2
    assert any(i.ids.get("imdb") for i in items if i.type == MediaType.MOVIE)


@pytest.mark.anyio
async def test_library_whitelist_and_sign_in_errors(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    async with serve_app(emu) as url:
        movies_only = _client(url, _signed_in(tmp_path, emu.owner_token), ratings={"libraries": [1]})
        items = await read_ratings(movies_only)
        await movies_only.aclose()
        assert items and {i.type for i in items} == {MediaType.MOVIE}  # section 1 is the movie library
        assert all(i.extra.get("section") == 1 for i in items)
        wrong = _client(url, _signed_in(tmp_path / "x", "not-a-token"))
        with pytest.raises(PlexError, match="crosswatch auth plex"):
            await read_ratings(wrong)
        await wrong.aclose()
        nobody = _client(url, StateDir(tmp_path / "none"))
        with pytest.raises(PlexError, match="not signed in"):
            await read_ratings(nobody)
