"""Provider ``PLEX``: watchlist (Discover), history, ratings and progress of one Plex profile."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import structlog

from crosswatch.model import Feature, Item, MediaType
from crosswatch.provider import ProviderContext, WriteResult, file_prefix
from crosswatch.unresolved import UnresolvedStore
from crosswatch_plex.cache import ReadCache, settings_digest
from crosswatch_plex.client import PlexClient
from crosswatch_plex.fallback import FallbackResolver
from crosswatch_plex.history import read_history
from crosswatch_plex.library import LibraryIndex
from crosswatch_plex.mapping import iso
from crosswatch_plex.progress import read_progress
from crosswatch_plex.ratings import read_ratings
from crosswatch_plex.watchlist import read_watchlist
from crosswatch_plex.writes import PlexWriter

log = structlog.get_logger("crosswatch.plex")

#: library item types each feature's writes look in (1 movie, 2 show, 3 season, 4 episode)
WRITE_KINDS = {Feature.RATINGS: (1, 2, 3, 4), Feature.HISTORY: (1, 4), Feature.PROGRESS: (1, 4)}


class PlexProvider:
    """One Plex profile."""

    id = "PLEX"

    def __init__(self, ctx: ProviderContext) -> None:
        self.profile = ctx.profile
        self.settings = ctx.settings
        self.client = PlexClient(ctx.settings, ctx.state, ctx.profile)
        self.state = ctx.state
        self.prefix = file_prefix("PLEX", ctx.profile)
        self.unresolved = UnresolvedStore(ctx.state, self.prefix)
        self.writer = PlexWriter(self.client, self._index)
        self._indexes: dict[Feature, LibraryIndex] = {}
        self._rows: dict[str, set[str]] = {}  # ratingKey -> historyKeys of the last history read

    async def _index(self, feature: Feature) -> LibraryIndex:
        if feature not in self._indexes:
            libraries = {
                Feature.RATINGS: self.settings.ratings.libraries,
                Feature.HISTORY: self.settings.history.libraries,
                Feature.PROGRESS: self.settings.progress.libraries,
            }[feature]
            self._indexes[feature] = await LibraryIndex.build(self.client, libraries, WRITE_KINDS[feature])
        return self._indexes[feature]

    def _cache(self, feature: Feature) -> ReadCache:
        """The read cache of ``feature``; any setting that shapes the read is part of its key."""
        s = self.settings
        shaping = {
            Feature.WATCHLIST: (s.discover_url, s.metadata_url),
            Feature.RATINGS: (s.url, s.user, s.ratings.libraries),
            Feature.HISTORY: (
                s.url,
                s.user,
                s.history,
                s.history_ignore_local_guid,
                s.history_ignore_guid_prefixes,
                s.history_require_external_ids,
                s.fallback_GUID,
            ),
        }[feature]
        return ReadCache(self.state, self.prefix, str(feature), settings_digest(*shaping))

    async def read(self, feature: Feature) -> list[Item]:
        feature = Feature(feature)
        if feature == Feature.WATCHLIST:
            return await read_watchlist(self.client, self._cache(feature))
        if feature == Feature.RATINGS:
            return await read_ratings(self.client, self._cache(feature))
        if feature == Feature.PROGRESS:
            return await read_progress(self.client)
        fallback = FallbackResolver(self.client, self.state, self.prefix) if self.settings.fallback_GUID else None
        read = await read_history(self.client, fallback, self._cache(feature))
        self._rows = {}
        for play in read.plays:
            if play.extra.get("historyKey") is not None:
                self._rows.setdefault(str(play.extra.get("ratingKey")), set()).add(str(play.extra["historyKey"]))
        if read.skipped:
            missing = [(row, reason) for row, reason in read.skipped if "404" in reason]
            await anyio.to_thread.run_sync(self._freeze_rows, missing)
        return read.plays

    def _freeze_rows(self, rows: list) -> None:
        """History rows Plex can no longer hydrate go to the unresolved file, with the reason."""
        kinds = {m.value for m in MediaType}
        items = [
            (
                Item(
                    type=MediaType(r["type"]) if r.get("type") in kinds else MediaType.MOVIE,
                    title=r.get("title"),
                    extra={"ratingKey": str(r.get("ratingKey"))},
                    watched_at=iso(r.get("viewedAt")),
                ),
                reason,
            )
            for r, reason in rows
        ]
        self.unresolved.freeze(str(Feature.HISTORY), items)

    async def add(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        feature = Feature(feature)
        todo, frozen = await anyio.to_thread.run_sync(self.unresolved.split, str(feature), items)
        await self._before_writing(feature, todo)
        if feature == Feature.WATCHLIST:
            result = await self.writer.watchlist(todo, remove=False)
        elif feature == Feature.RATINGS:
            result = await self.writer.rate(todo)
        elif feature == Feature.HISTORY:
            result = await self.writer.mark_watched(todo)
        else:
            result = await self.writer.set_progress(todo)
        return await self._finish(feature, result, frozen)

    async def remove(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        feature = Feature(feature)
        if feature == Feature.PROGRESS:
            return WriteResult(failed=[(i, "Plex cannot clear a resume position") for i in items])
        await self._before_writing(feature, items)
        if feature == Feature.WATCHLIST:
            result = await self.writer.watchlist(items, remove=True)
        elif feature == Feature.RATINGS:
            result = await self.writer.rate(items, clear=True)
        else:
            result = await self.writer.remove_plays(items)
            await self._unwatch_emptied(result)
        return await self._finish(feature, result, [])

    async def _unwatch_emptied(self, result: WriteResult) -> None:
        """Titles whose every play was removed are marked unwatched too.

        Deleting history rows leaves Plex's view count; without this a cleared title would
        still read as "marked watched".
        """
        removed: dict[str, set[str]] = {}
        for item in result.ok:
            if item.extra.get("historyKey") is not None:
                removed.setdefault(str(item.extra.get("ratingKey")), set()).add(str(item.extra["historyKey"]))
        emptied = [key for key, rows in removed.items() if self._rows.get(key) and self._rows[key] <= rows]
        if emptied:
            failed = await self.writer.unscrobble(emptied)
            for key in emptied:
                self._rows.pop(key, None)
            for key, reason in failed:
                log.warning("plex.unwatch_failed", scope="PLEX:history", ratingKey=key, error=reason)

    async def _before_writing(self, feature: Feature, items: Sequence[Item]) -> None:
        """Drop the feature's read cache before the first write (never after: a crash may come between).

        Two changes in one second can leave a probe's fingerprint unchanged, so after
        crosswatch's own writes the next read is a full one.
        """
        if feature != Feature.PROGRESS and items:
            await self._cache(feature).forget()

    async def _finish(self, feature: Feature, result: WriteResult, frozen: list[Item]) -> WriteResult:
        if result.unresolved:
            await anyio.to_thread.run_sync(self.unresolved.freeze, str(feature), result.unresolved)
        result.frozen.extend(frozen)
        return result

    async def aclose(self) -> None:
        await self.client.aclose()
