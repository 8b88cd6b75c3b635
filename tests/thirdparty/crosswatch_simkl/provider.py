"""SIMKL in memory: watchlist and history (one Item per play), matched by strong ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import anyio
import msgspec

from crosswatch.model import Feature, Item, match_keys
from crosswatch.provider import FeatureSupport, ProviderContext, WriteResult


class SimklSettings(msgspec.Struct, kw_only=True, frozen=True):
    client_id: str = ""
    api_url: str = "https://api.simkl.com"
    page_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


FEATURES = {
    Feature.WATCHLIST: FeatureSupport(),
    Feature.HISTORY: FeatureSupport(keeps_watched_at=True),
}


class SimklProvider:
    def __init__(self, ctx: ProviderContext) -> None:
        self.id = ctx.provider_id
        self.profile = ctx.profile
        self.settings: SimklSettings = ctx.settings
        self.closed = False
        self._items: dict[Feature, list[Item]] = {f: [] for f in FEATURES}

    def _held(self, feature: Feature) -> list[Item]:
        if self.closed:
            raise RuntimeError(f"{self.id}.{self.profile} is closed")
        try:
            return self._items[Feature(feature)]
        except (KeyError, ValueError):
            raise ValueError(f"{self.id} does not support {feature}") from None

    @staticmethod
    def _same(a: Item, b: Item, feature: Feature) -> bool:
        if not set(match_keys(a)) & set(match_keys(b)):
            return False
        return feature != Feature.HISTORY or a.watched_at == b.watched_at  # a play is title + time

    async def read(self, feature: Feature) -> list[Item]:
        await anyio.sleep(0)
        return list(self._held(feature))

    async def add(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        await anyio.sleep(0)
        held, result = self._held(feature), WriteResult()
        for item in items:
            if not any(True for _ in match_keys(item)):
                result.unresolved.append((item, "no strong id"))
                continue
            held[:] = [h for h in held if not self._same(h, item, Feature(feature))]
            held.append(item)
            result.ok.append(item)
        return result

    async def remove(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        await anyio.sleep(0)
        held, result = self._held(feature), WriteResult()
        for item in items:
            kept = [h for h in held if not self._same(h, item, Feature(feature))]
            if len(kept) == len(held):
                result.failed.append((item, "not found"))
            else:
                held[:] = kept
                result.ok.append(item)
        return result

    async def aclose(self) -> None:
        self.closed = True
