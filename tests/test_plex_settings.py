"""The Plex settings that shape how writes are sent: workers, the watchlist write delay, the timeout."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from crosswatch.emulation.server import serve_app
from crosswatch.http import HttpError
from crosswatch.model import Feature, Item, MediaType
from crosswatch_plex.emulator import PlexEmulator
from crosswatch_plex.emulator.library import MODERN
from tests.test_plex_adapter import _provider


class InFlight:
    """The emulator behind a counter of concurrent requests per path, with arrival times."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.arrivals: dict[str, list[float]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        self.arrivals.setdefault(path, []).append(time.monotonic())
        self.now[path] = self.now.get(path, 0) + 1
        self.peak[path] = max(self.peak.get(path, 0), self.now[path])
        try:
            await self.app(scope, receive, send)
        finally:
            self.now[path] -= 1


def _movies(emu: PlexEmulator, n: int) -> list[Item]:
    """Movies the library knows by their IMDb id (modern agent guids)."""
    found = [m for m in emu.catalog.movies if m.imdb and emu.library.style[m] == MODERN]
    return [Item(type=MediaType.MOVIE, ids={"imdb": m.imdb}, rating=7) for m in found[:n]]


@pytest.mark.anyio
@pytest.mark.parametrize("workers", [2, 6])
async def test_rating_workers_bound_concurrent_rate_requests(tmp_path: Path, workers: int) -> None:
    emu = PlexEmulator(seed=4, size=150)
    emu.settings.update({"latency_ms": 40})
    app = InFlight(emu)
    async with serve_app(app) as url:
        plex = _provider(url, tmp_path, emu.owner_token, rating_workers=workers)
        items = _movies(emu, 24)
        result = await plex.add(Feature.RATINGS, items)
        await plex.aclose()
    assert len(result.ok) == len(items)
    assert app.peak["/:/rate"] == workers  # never more, and the pool is used


@pytest.mark.anyio
async def test_history_workers_bound_concurrent_scrobbles(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=4, size=150)
    emu.settings.update({"latency_ms": 40})
    app = InFlight(emu)
    async with serve_app(app) as url:
        plex = _provider(url, tmp_path, emu.owner_token, history_workers=3, rating_workers=12)
        items = [Item(type=MediaType.MOVIE, ids=i.ids, watched_at="2020-01-01T00:00:00Z") for i in _movies(emu, 15)]
        result = await plex.add(Feature.HISTORY, items)
        await plex.aclose()
    assert len(result.ok) == len(items)
    assert app.peak["/:/scrobble"] == 3


@pytest.mark.anyio
async def test_watchlist_write_delay_spaces_the_writes(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=4, size=150)
    listed = {e["ids"].get("imdb") for e in emu.state_json()["users"]["1"]["watchlist"]}
    items = [Item(type=MediaType.MOVIE, ids={"imdb": m.imdb}) for m in emu.catalog.movies if m.imdb not in listed][:3]
    app = InFlight(emu)
    async with serve_app(app) as url:
        plex = _provider(url, tmp_path, emu.owner_token, watchlist_write_delay_ms=300)
        result = await plex.add(Feature.WATCHLIST, items)
        await plex.aclose()
    times = app.arrivals["/actions/addToWatchlist"]
    assert len(result.ok) == 3 and len(times) == 3
    assert all(b - a >= 0.29 for a, b in itertools.pairwise(times))


@pytest.mark.anyio
async def test_timeout_gives_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=4, size=60)
    emu.settings.update({"latency_ms": 60_000})
    async with serve_app(emu) as url:
        plex = _provider(url, tmp_path, emu.owner_token, timeout_s=0.3, max_retries=0)
        # far sooner than the answer would come, however slow the machine
        with anyio.fail_after(30), pytest.raises(HttpError, match="(?i)timeout"):
            await plex.read(Feature.RATINGS)
        await plex.aclose()
