"""Shared set-up of the Jellyfin/Emby provider tests (imported by the other ``test_jellyfin_*`` files).

An emulator (Jellyfin or Emby) served on loopback, a config directory whose profile points
at it, the sign-in by password through the plugin's own flow, and the provider built by the
plugin's registered factory::

    async with provider_env(JELLYFIN, tmp_path) as env:
        items = await env.provider.read(Feature.HISTORY)
        env.requests()          # requests the emulator answered since the last reset

The tests of this file check the set-up itself: the emulator's printed config block is a
valid ``[jellyfin]``/``[emby]`` section.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

import crosswatch_jellyfin
from crosswatch.emulation.catalog import Episode, Movie, Show
from crosswatch.emulation.server import serve_app
from crosswatch.errors import ProviderError
from crosswatch.model import Feature, Item, MediaType
from crosswatch.provider import AuthContext, Provider, ProviderContext, ProviderSpec
from crosswatch.state import StateDir
from crosswatch_jellyfin.config import MediaServerSettings
from crosswatch_jellyfin.emulator import EMBY, JELLYFIN, EmulatorSettings, Flavour, MediaServerEmulator
from crosswatch_jellyfin.emulator.library import FULL
from crosswatch_jellyfin.servers import KINDS, ServerKind

SEED, SIZE = 3, 120
FLAVOURS = [pytest.param(JELLYFIN, id="jellyfin"), pytest.param(EMBY, id="emby")]


def kind_of(flavour: Flavour) -> ServerKind:
    return KINDS[flavour.name.upper()]


def make_emulator(flavour: Flavour = JELLYFIN, **knobs: Any) -> MediaServerEmulator:
    knobs.setdefault("approve_after_polls", 10**6)  # Quick Connect codes are approved by the tests only
    return MediaServerEmulator(SEED, SIZE, flavour=flavour, settings=EmulatorSettings(**knobs))


def settings_for(url: str, emu: MediaServerEmulator, **over: Any) -> MediaServerSettings:
    """A validated profile pointing at ``url`` as the emulator's administrator (``over`` merged in)."""
    raw: dict[str, Any] = {"url": url, "user": emu.username, "quick_connect_poll_s": 0.02, "max_retries": 0}
    raw.update(over)
    return msgspec.convert(raw, MediaServerSettings)


def specs() -> dict[str, ProviderSpec]:
    """The provider specs the plugin registers, by id."""
    found: list[ProviderSpec] = []
    crosswatch_jellyfin.crosswatch_register_providers(found.append)
    return {s.id: s for s in found}


async def read_refused(raw: dict[str, Any], folder: Path) -> ProviderError:
    """What a JELLYFIN profile of ``raw`` settings raises on its first read (history), closed after."""
    settings = msgspec.convert(raw, MediaServerSettings)
    provider = specs()["JELLYFIN"].factory(ProviderContext("JELLYFIN", "default", settings, StateDir(folder)))
    try:
        with pytest.raises(ProviderError) as refused:
            await provider.read(Feature.HISTORY)
    finally:
        await provider.aclose()
    return refused.value


def flows() -> dict[str, Callable[[AuthContext], Any]]:
    return crosswatch_jellyfin.crosswatch_auth_flows()


@contextmanager
def password_env(kind: ServerKind, password: str | None) -> Iterator[None]:
    """The sign-in's password variable set (None: unset) for the block."""
    before = os.environ.pop(kind.password_env, None)
    if password is not None:
        os.environ[kind.password_env] = password
    try:
        yield
    finally:
        os.environ.pop(kind.password_env, None)
        if before is not None:
            os.environ[kind.password_env] = before


async def sign_in_by_password(
    kind: ServerKind, settings: MediaServerSettings, state: StateDir, password: str, profile: str = "default"
) -> list[str]:
    """Run the plugin's sign-in flow with a password; what it said."""
    said: list[str] = []
    with password_env(kind, password):
        await flows()[kind.section](AuthContext(profile, settings, state, said.append))
    return said


class InFlight:
    """An ASGI wrapper that knows how many of the emulator's API requests are in flight.

    ``most`` is the most requests in flight at once (a writer's concurrency); :meth:`settled`
    waits until no request is in the server any more (a request a test did not await itself).
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app, self.now, self.most = app, 0, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        counted = scope["type"] == "http" and not scope["path"].startswith("/_emulator")
        if counted:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            if counted:
                self.now -= 1

    async def settled(self, deadline: float = 30.0) -> None:
        with anyio.fail_after(deadline):
            while self.now:
                await anyio.sleep(0.002)


@dataclass
class ProviderEnv:
    emu: MediaServerEmulator
    url: str
    kind: ServerKind
    settings: MediaServerSettings
    state: StateDir
    provider: Provider
    server: InFlight
    said: list[str] = field(default_factory=list)

    async def stats(self) -> dict[str, Any]:
        """The emulator's counts since the last ``reset``, once every request has been counted."""
        await self.server.settled()
        return self.emu.stats.to_json()

    async def requests(self) -> dict[str, int]:
        """The requests answered since the last ``reset`` (``METHOD path`` -> count)."""
        return dict((await self.stats())["requests"])

    async def total(self) -> int:
        return int((await self.stats())["total"])

    async def writes(self) -> list[str]:
        return [f"{w['method']} {w['path']}" for w in (await self.stats())["writes"]]

    async def reset(self) -> None:
        await self.server.settled()
        self.emu.stats.reset()

    def build(self, **over: Any) -> Provider:
        """Another provider instance of the profile (settings ``over`` merged in)."""
        settings = settings_for(self.url, self.emu, **over) if over else self.settings
        spec = specs()[self.kind.provider]
        return spec.factory(ProviderContext(spec.id, "default", settings, self.state))


@asynccontextmanager
async def provider_env(
    flavour: Flavour, folder: Path, *, knobs: dict[str, Any] | None = None, **over: Any
) -> AsyncIterator[ProviderEnv]:
    """A served emulator, a signed-in profile on it, and its provider (closed at the end)."""
    emu = make_emulator(flavour, **(knobs or {}))
    kind = kind_of(flavour)
    server = InFlight(emu)
    async with serve_app(server) as url:
        state = StateDir(folder)
        settings = settings_for(url, emu, **over)
        said = await sign_in_by_password(kind, settings, state, emu.password)
        spec = specs()[kind.provider]
        provider = spec.factory(ProviderContext(spec.id, "default", settings, state))
        try:
            yield ProviderEnv(emu, url, kind, settings, state, provider, server, said)
        finally:
            await provider.aclose()


# -- the emulator's catalogue as Items ---------------------------------------------------------------


def untouched_movie(emu: MediaServerEmulator, style: int = FULL, skip: int = 0) -> Movie:
    """A movie of this ProviderIds style with no user data of the administrator (the ``skip``-th)."""
    found = [
        m
        for m in emu.catalog.movies
        if emu.library.style[m] == style and emu.state.get(emu.user_id, emu.library.index[m]) is None
    ]
    return found[skip]


def untouched_show(emu: MediaServerEmulator, style: int = FULL, skip: int = 0) -> Show:
    found = []
    for show in emu.catalog.shows:
        if emu.library.style[show] != style or len(show.seasons[0].episodes) < 2:
            continue
        lib, store = emu.library, emu.state.data[emu.user_id]
        if all(lib.index[m] not in store for m in [show, *show.seasons, *show.episodes()]):
            found.append(show)
    return found[skip]


def movie_item(movie: Movie, **fields: Any) -> Item:
    """A movie as another provider would name it: its IMDb id only."""
    return Item(type=MediaType.MOVIE, ids={"imdb": movie.imdb}, title=movie.title, year=movie.year, **fields)


def show_item(show: Show, **fields: Any) -> Item:
    return Item(type=MediaType.SHOW, ids={"tmdb": str(show.tmdb)}, title=show.title, **fields)


def episode_item(episode: Episode, **fields: Any) -> Item:
    """An episode by its show's TVDB id and its numbers only (no ids of its own)."""
    return Item(
        type=MediaType.EPISODE,
        show_ids={"tvdb": str(episode.show.tvdb)},
        show_title=episode.show.title,
        season=episode.season,
        episode=episode.number,
        **fields,
    )


def data_of(emu: MediaServerEmulator, media: Any) -> Any:
    """The administrator's user data on a catalogue item (None: none)."""
    return emu.state.get(emu.user_id, emu.library.index[media])


# -- the set-up's own checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_emulators_config_block_is_a_valid_section(flavour: Flavour) -> None:
    emu = make_emulator(flavour)
    block = tomllib.loads(emu.config_toml("http://127.0.0.1:8096"))
    settings = msgspec.convert(block[flavour.name], MediaServerSettings)
    assert settings.user == emu.username and settings.api_key == emu.api_key
    assert settings.watchlist.mode == "favorites" and settings.workers == 12


def test_a_bad_section_is_refused_with_the_key() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"workers"):
        msgspec.convert({"workers": 0}, MediaServerSettings)
    with pytest.raises(msgspec.ValidationError, match=r"watchlist.mode"):
        msgspec.convert({"watchlist": {"mode": "list"}}, MediaServerSettings)
    with pytest.raises(msgspec.ValidationError, match=r"http://"):
        msgspec.convert({"url": "jellyfin.local:8096"}, MediaServerSettings)
