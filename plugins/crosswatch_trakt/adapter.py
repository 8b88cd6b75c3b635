"""Provider ``TRAKT``: watchlist, ratings, history and progress of one Trakt account."""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from crosswatch.model import Feature, Item
from crosswatch.provider import ProviderContext, WriteResult
from crosswatch.unresolved import UnresolvedStore
from crosswatch_trakt.client import TraktClient
from crosswatch_trakt.reads import Reader
from crosswatch_trakt.writes import Writer


class TraktProvider:
    """One Trakt profile: present-state reads at the least cost, batched writes, frozen failures."""

    id = "TRAKT"

    def __init__(self, ctx: ProviderContext) -> None:
        self.profile = ctx.profile
        self.client = TraktClient(ctx.settings, ctx.state, ctx.profile)
        self.unresolved = UnresolvedStore(ctx.state, self.client.prefix)
        self.reader = Reader(self.client, ctx.state)
        self.writer = Writer(self.client, self.unresolved, count=self._count, on_write=self.reader.forget_activities)

    async def _count(self, feature: Feature) -> int:
        return len(await self.reader.read(feature))

    @property
    def requests(self) -> int:
        return self.client.policy.stats.requests

    async def read(self, feature: Feature) -> list[Item]:
        return await self.reader.read(Feature(feature))

    async def add(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        feature = Feature(feature)
        if feature == Feature.PROGRESS:
            todo, frozen = await anyio.to_thread.run_sync(self.unresolved.split, str(feature), items)
            result = await self.writer.set_progress(todo)
            if result.unresolved:
                await anyio.to_thread.run_sync(self.unresolved.freeze, str(feature), result.unresolved)
            result.frozen.extend(frozen)
            return result
        result = await self.writer.add(feature, items)
        await self._settle(feature, result, added=True)
        return result

    async def remove(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        feature = Feature(feature)
        if feature == Feature.PROGRESS:
            return await self.writer.remove_progress(items)
        result = await self.writer.remove(feature, items)
        await self._settle(feature, result, added=False)
        return result

    async def _settle(self, feature: Feature, result: WriteResult, *, added: bool) -> None:
        """Carry the writes into the index, unless one failed: Trakt may hold what it reported not done."""
        if result.failed:
            self.reader.distrust(feature)
            return
        await self.reader.settle(feature, result.ok if added else [], [] if added else result.ok)

    async def scrobble(self, action: str, item: Item, progress: float) -> str:
        """A live scrobble (``start``, ``pause``, ``stop``) of one movie or episode."""
        return await self.writer.scrobble(action, item, progress)

    async def aclose(self) -> None:
        await self.client.aclose()
