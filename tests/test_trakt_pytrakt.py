"""PyTrakt, an independent Trakt client, against the emulator: device sign-in, reads and writes.

PyTrakt is synchronous (requests), so the emulator runs in a thread (``serve_in_thread``).
Its module-level ``trakt.core.BASE_URL`` points it at the emulator; its config file goes to a
temporary folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trakt")

import trakt
import trakt.core
from trakt.movies import Movie
from trakt.pagination import paginate
from trakt.sync import (
    Scrobbler,
    add_to_history,
    add_to_watchlist,
    get_playback,
    get_watchlist,
    rate,
    remove_from_history,
    remove_from_watchlist,
)
from trakt.users import get_user_settings

from crosswatch.emulation.server import serve_in_thread
from crosswatch_trakt.emulator import EmulatorSettings, TraktEmulator


def _reset_pytrakt(base_url: str, config_path: Path) -> None:
    core: Any = trakt.core
    core.BASE_URL = base_url
    core.CONFIG_PATH = str(config_path)
    core.AUTH_METHOD = core.DEVICE_AUTH
    core.CLIENT_ID = core.CLIENT_SECRET = core.OAUTH_TOKEN = core.OAUTH_REFRESH = core.OAUTH_EXPIRES_AT = None
    core.api.cache_clear()
    core.config.cache_clear()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[TraktEmulator]:
    emu = TraktEmulator(seed=4, size=300, settings=EmulatorSettings(interval=0, post_limit=0))
    with serve_in_thread(emu) as url:
        _reset_pytrakt(url + "/", tmp_path / "pytrakt.json")
        try:
            yield emu
        finally:
            _reset_pytrakt("https://api.trakt.tv/", tmp_path / "unused.json")


def _sign_in(emu: TraktEmulator) -> None:
    """PyTrakt's own device flow: it polls until the emulator approves (after 2 polls)."""
    trakt.init(client_id=emu.client_id, client_secret=emu.client_secret, store=True)


def _counted(emu: TraktEmulator, request: str, at_least: int, timeout: float = 30.0) -> int:
    """How often ``request`` was counted, once that is ``at_least`` (or ``timeout`` passed).

    The emulator's thread counts a request after sending its answer, so the client may be on
    to its next line before the count of the request it was answered for is there.
    """
    deadline = time.monotonic() + timeout
    while emu.stats.requests.get(request, 0) < at_least and time.monotonic() < deadline:
        time.sleep(0.01)
    return emu.stats.requests.get(request, 0)


def _movie(emu: TraktEmulator, index: int) -> Movie:
    m = emu.catalog.movies[index]
    return Movie(m.title, year=m.year, ids={"trakt": m.trakt, "slug": m.slug, "imdb": m.imdb, "tmdb": m.tmdb})


def test_device_sign_in_and_settings(emulator: TraktEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    _sign_in(emulator)
    assert "Your user code is" in capsys.readouterr().out
    assert _counted(emulator, "POST /oauth/device/token", 3) == 3  # 2 pending, then approved
    assert Path(trakt.core.CONFIG_PATH).exists()
    settings = get_user_settings()
    assert settings["user"]["username"] == emulator.user["username"]
    assert settings["limits"]["watchlist"]["item_count"] == 250


def test_watchlist_read_add_remove(emulator: TraktEmulator) -> None:
    _sign_in(emulator)
    listed = get_watchlist()
    assert len(listed) == len(emulator.state.watchlist)
    movie = next(
        _movie(emulator, n)
        for n, m in enumerate(emulator.catalog.movies)
        if ("movie", m.trakt) not in emulator.state.watchlist
    )
    summary = add_to_watchlist(movie)
    assert summary["added"]["movies"] == 1
    assert ("movie", movie.trakt) in emulator.state.watchlist
    assert movie.slug in {m.slug for m in get_watchlist("movies") if isinstance(m, Movie)}
    summary = remove_from_watchlist(movie)
    assert summary["deleted"]["movies"] == 1
    assert ("movie", movie.trakt) not in emulator.state.watchlist


def test_ratings_write_then_read(emulator: TraktEmulator) -> None:
    _sign_in(emulator)
    movie = _movie(emulator, 10)
    summary = rate(movie, 8, rated_at=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC))
    assert summary["added"]["movies"] == 1
    eights = trakt.core.api().get("sync/ratings/movies/8")
    assert any(
        r["movie"]["ids"]["trakt"] == movie.trakt and r["rated_at"].startswith("2025-03-04T05:06:07") for r in eights
    )
    everything = trakt.core.api().get("sync/ratings/all")
    assert len(everything) == len(emulator.state.ratings)


def test_history_plays_are_kept_apart_and_paginated(emulator: TraktEmulator) -> None:
    _sign_in(emulator)
    movie = _movie(emulator, 20)
    watched = datetime(2025, 6, 1, 20, 0, tzinfo=UTC)
    before = len(emulator.state.plays)
    for _ in range(2):  # the same play twice: Trakt (and the emulator) keeps both
        assert add_to_history(movie, watched_at=watched)["added"]["movies"] == 1
    mine = paginate(f"sync/history/movies/{movie.trakt}")
    assert len(mine) >= 2 and len({p["id"] for p in mine}) == len(mine)
    everything = paginate("sync/history")  # PyTrakt follows X-Pagination-Page-Count
    assert len(everything) == before + 2 > 100
    assert remove_from_history(movie)["deleted"]["movies"] == len(mine)
    assert paginate(f"sync/history/movies/{movie.trakt}") == []


def test_playback_and_scrobble(emulator: TraktEmulator) -> None:
    _sign_in(emulator)
    entries = get_playback()
    assert len(entries) == len(emulator.state.playback)
    assert all(0 <= e.progress <= 100 and e.paused_at for e in entries)
    movie = _movie(emulator, 30)
    before = len(emulator.state.plays)
    scrobbler = Scrobbler(movie, 10.0, "1.0", "2026-01-01")
    scrobbler.pause(40.0)
    assert ("movie", movie.trakt) in {p.key for p in emulator.state.playback.values()}
    scrobbler.finish()
    assert len(emulator.state.plays) == before + 1


def test_expiring_tokens_are_refreshed_once_each(emulator: TraktEmulator) -> None:
    emulator.settings.token_ttl = 300  # PyTrakt refreshes within 10 minutes of expiry
    _sign_in(emulator)
    get_user_settings()
    get_user_settings()
    assert _counted(emulator, "POST /oauth/token", 1) >= 1
    assert emulator.stats.statuses.get("400", 0) == 2  # only the two "pending" polls: no refresh was refused
