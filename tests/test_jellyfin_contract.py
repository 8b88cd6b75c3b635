"""The provider contract suite of ``crosswatch.testing``, run against JELLYFIN and EMBY.

A fresh emulator per check, signed in by password through the plugin's own flow; the titles
are movies and episodes the administrator has no data on, named by the ids another provider
would send (a movie's IMDb and TMDB ids, an episode's show TVDB id and numbers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import ClassVar

import crosswatch_jellyfin
from crosswatch.emulation.server import serve_app
from crosswatch.model import Feature, Item, MediaType
from crosswatch.provider import Provider, ProviderContext, ProviderSpec
from crosswatch.state import StateDir
from crosswatch.testing import ProviderContract, registered_spec
from crosswatch_jellyfin.emulator import EMBY, JELLYFIN, Flavour, MediaServerEmulator
from tests.test_jellyfin_env import (
    kind_of,
    make_emulator,
    settings_for,
    sign_in_by_password,
    untouched_movie,
    untouched_show,
)


class MediaServerContract(ProviderContract):
    flavour: ClassVar[Flavour]
    #: the server keeps no single plays: a removed play unmarks the title (FeatureSupport.note says so)
    history_remove_takes_all_plays = True
    emu: MediaServerEmulator

    @asynccontextmanager
    async def provider(self, config_dir: Path) -> AsyncIterator[Provider]:
        self.emu = make_emulator(self.flavour)
        kind = kind_of(self.flavour)
        async with serve_app(self.emu) as url:
            settings = settings_for(url, self.emu)
            state = StateDir(config_dir)
            await sign_in_by_password(kind, settings, state, self.emu.password)
            yield self.spec.factory(ProviderContext(self.spec.id, "default", settings, state))

    def known_items(self, feature: Feature) -> Sequence[Item]:
        emu = self.emu
        movies = [untouched_movie(emu, skip=n) for n in range(3)]
        shows = [untouched_show(emu, skip=n) for n in range(2)]
        out = [Item(type=MediaType.MOVIE, ids={"imdb": m.imdb, "tmdb": str(m.tmdb)}) for m in movies]
        for show in shows:
            ep = show.seasons[0].episodes[1]
            out.append(
                Item(type=MediaType.EPISODE, show_ids={"tvdb": str(show.tvdb)}, season=ep.season, episode=ep.number)
            )
        if feature in (Feature.RATINGS, Feature.WATCHLIST):
            out.append(Item(type=MediaType.SHOW, ids={"tmdb": str(shows[0].tmdb), "imdb": shows[0].imdb}))
        return out


class TestJellyfinContract(MediaServerContract):
    spec: ClassVar[ProviderSpec] = registered_spec(crosswatch_jellyfin, "JELLYFIN")
    flavour = JELLYFIN


class TestEmbyContract(MediaServerContract):
    spec: ClassVar[ProviderSpec] = registered_spec(crosswatch_jellyfin, "EMBY")
    flavour = EMBY
