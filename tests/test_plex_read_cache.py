"""An unchanged Plex re-read costs a few probe requests; any change is seen on the next read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crosswatch.emulation.server import serve_app
from crosswatch.model import Feature
from crosswatch_plex.emulator import PlexEmulator
from tests.test_plex_adapter import _provider


def _requests(emu: PlexEmulator) -> int:
    return emu.stats.to_json()["total"]


@pytest.mark.anyio
async def test_unchanged_ratings_and_history_cost_only_probes(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=5, size=300)
    async with serve_app(emu) as url:
        plex = _provider(url, tmp_path, emu.owner_token)
        first_ratings = await plex.read(Feature.RATINGS)
        first_history = await plex.read(Feature.HISTORY)
        await plex.aclose()
        before = _requests(emu)
        again = _provider(url, tmp_path, emu.owner_token)  # a new process: the cache is on disk
        ratings = await again.read(Feature.RATINGS)
        history = await again.read(Feature.HISTORY)
        await again.aclose()
        spent = _requests(emu) - before
    assert ratings == first_ratings and history == first_history and len(history) > 100
    # one sections listing + one probe per section and type, one history probe
    assert spent <= 8, spent
    assert (tmp_path / ".cw_state" / "plex_ratings.index.json").exists()


@pytest.mark.anyio
async def test_changes_outside_crosswatch_are_seen(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=5, size=300)
    async with serve_app(emu) as url:
        plex = _provider(url, tmp_path, emu.owner_token)
        ratings = await plex.read(Feature.RATINGS)
        history = await plex.read(Feature.HISTORY)
        await plex.aclose()
        rated = next(r for r in ratings if r.type == "movie")
        key = str(rated.extra["ratingKey"])
        keys = {str(r.extra["ratingKey"]) for r in ratings}
        movie = next(m for m in emu.catalog.movies if str(emu.library.rk(m)) not in keys)
        unrated = str(emu.library.rk(movie))
        # in Plex itself, in the same second: a rating changed, a new title rated, a title played
        now = int(time.time())
        emu.state.rate(1, emu.library.get(key), 10 if rated.rating != 10 else 2, now)
        emu.state.rate(1, movie, 7, now)
        emu.state.play(1, movie, now)
        plex = _provider(url, tmp_path, emu.owner_token)
        after_ratings = {str(i.extra["ratingKey"]): i.rating for i in await plex.read(Feature.RATINGS)}
        before = _requests(emu)
        after_history = await plex.read(Feature.HISTORY)
        spent = _requests(emu) - before
        await plex.aclose()
    assert after_ratings[key] != rated.rating and after_ratings[unrated] == 7
    assert len(after_history) == len(history) + 1
    assert any(str(p.extra["ratingKey"]) == unrated for p in after_history)
    assert spent <= 6, spent  # probe, the new rows, their hydration: not the whole history
