"""CSVLOG against crosswatch's provider contract suite: every write rule, per feature, on asyncio and trio."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import crosswatch_csvlog

from crosswatch.model import Feature, Item, MediaType
from crosswatch.provider import Provider, ProviderContext
from crosswatch.state import StateDir
from crosswatch.testing import ProviderContract, registered_spec

#: titles as another provider would send them: strong ids, no feature value
TITLES = [
    Item(type=MediaType.MOVIE, ids={"imdb": "tt0133093", "tmdb": "603"}, title="The Matrix", year=1999),
    Item(type=MediaType.EPISODE, show_ids={"tvdb": "371980"}, show_title="Severance", season=1, episode=1),
    Item(type=MediaType.MOVIE, ids={"imdb": "tt2543164"}, title="Arrival", year=2016),
    Item(type=MediaType.SHOW, ids={"tvdb": "371980", "imdb": "tt11280740"}, title="Severance", year=2022),
]


class TestCsvlog(ProviderContract):
    spec = registered_spec(crosswatch_csvlog, "CSVLOG")

    @asynccontextmanager
    async def provider(self, config_dir: Path) -> AsyncIterator[Provider]:
        settings = crosswatch_csvlog.CsvlogSettings(folder="csv")
        yield self.spec.factory(ProviderContext("CSVLOG", "default", settings, StateDir(config_dir)))

    def known_items(self, feature: Feature) -> Sequence[Item]:
        return TITLES

    def unknown_item(self, feature: Feature) -> Item:
        # CSVLOG takes any title with a strong id; what it cannot keep is a title without one
        return Item(type=MediaType.MOVIE, title="A Home Video", year=2003)
