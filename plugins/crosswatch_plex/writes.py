"""Writing to Plex: ratings, marked-watched plays, resume positions and the Discover watchlist.

Items are found by external ids (``library.LibraryIndex``; the watchlist by Discover's
``/library/metadata/matches``); what cannot be found is reported for the unresolved file.
Plex records a play at "now": a written play's ``watched_at`` is not kept (the provider's
capabilities say so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from crosswatch.http import HttpError
from crosswatch.model import Feature, Item
from crosswatch.provider import WriteResult
from crosswatch_plex.client import PlexClient
from crosswatch_plex.library import LibraryIndex
from crosswatch_plex.mapping import TYPE_NUMBERS, metadata_items

IDENTIFIER = "com.plexapp.plugins.library"
NOT_IN_LIBRARY = "not in the Plex library (no matching IMDb/TMDB/TVDB id)"


class PlexWriter:
    """Writes of one Plex profile; ``index`` finds library items by external ids.

    Library writes run ``plex.rating_workers`` (ratings) or ``plex.history_workers`` at a time.
    """

    def __init__(self, client: PlexClient, index: Callable[[Feature], Awaitable[LibraryIndex]]) -> None:
        self.client = client
        self.index = index

    async def _call(
        self, method: str, path: str, params: dict[str, Any], *, base: str | None = None, scope: str
    ) -> int:
        url = (base or self.client.settings.url).rstrip("/") + path
        headers = await self.client.server_headers() if base is None else None
        response = await self.client.policy.send(
            await self.client.http(), method, url, params=params, headers=headers, scope=scope, idempotent=True
        )
        if response.status_code == 401:
            self.client.check(response, f"{method} {path}")
        return response.status_code

    async def _each(
        self, feature: Feature, items: Sequence[Item], act: Callable[[str, Item], Awaitable[int]]
    ) -> WriteResult:
        """Find each item in the library and act on it; collect what took and what did not."""
        index = await self.index(feature)
        result = WriteResult()
        settings = self.client.settings
        workers = anyio.CapacityLimiter(
            settings.rating_workers if feature == Feature.RATINGS else settings.history_workers
        )

        async def one(rating_key: str, item: Item) -> None:
            async with workers:
                try:
                    status = await act(rating_key, item)
                except HttpError as exc:
                    result.failed.append((item, str(exc)))
                    return
            (result.ok.append(item) if status < 300 else result.failed.append((item, f"Plex answered HTTP {status}")))

        async with anyio.create_task_group() as tg:
            for item in items:
                rating_key = index.find(item)
                if rating_key is None:
                    result.unresolved.append((item, NOT_IN_LIBRARY))
                else:
                    tg.start_soon(one, rating_key, item)
        return result

    async def rate(self, items: Sequence[Item], *, clear: bool = False) -> WriteResult:
        async def act(rating_key: str, item: Item) -> int:
            rating = 0 if clear else item.rating
            if rating is None:
                return 422
            params = {"key": rating_key, "identifier": IDENTIFIER, "rating": rating}
            return await self._call("PUT", "/:/rate", params, scope="PLEX:ratings")

        return await self._each(Feature.RATINGS, items, act)

    async def mark_watched(self, items: Sequence[Item]) -> WriteResult:
        """Add = mark watched: Plex records the play at "now", whatever ``watched_at`` says."""

        async def act(rating_key: str, item: Item) -> int:
            params = {"key": rating_key, "identifier": IDENTIFIER}
            return await self._call("GET", "/:/scrobble", params, scope="PLEX:history")

        return await self._each(Feature.HISTORY, items, act)

    async def remove_plays(self, items: Sequence[Item]) -> WriteResult:
        """One play by its history row when known; else unscrobble (all plays of the title)."""

        async def act(rating_key: str, item: Item) -> int:
            history_key = item.extra.get("historyKey")
            if history_key is not None:  # PMS gives the row's path; older ones the bare id
                path = (
                    str(history_key) if str(history_key).startswith("/") else f"/status/sessions/history/{history_key}"
                )
                return await self._call("DELETE", path, {}, scope="PLEX:history")
            params = {"key": rating_key, "identifier": IDENTIFIER}
            return await self._call("GET", "/:/unscrobble", params, scope="PLEX:history")

        return await self._each(Feature.HISTORY, items, act)

    async def set_progress(self, items: Sequence[Item]) -> WriteResult:
        async def act(rating_key: str, item: Item) -> int:
            duration = item.duration_ms or (await self.index(Feature.PROGRESS)).items[rating_key].duration_ms
            offset = item.progress_ms
            if offset is None and item.progress is not None and duration:
                offset = int(duration * item.progress / 100)
            if not offset or not duration:
                return 422
            params = {
                "ratingKey": rating_key,
                "key": f"/library/metadata/{rating_key}",
                "state": "stopped",
                "time": offset,
                "duration": duration,
                "identifier": IDENTIFIER,
            }
            return await self._call("GET", "/:/timeline", params, scope="PLEX:progress")

        return await self._each(Feature.PROGRESS, items, act)

    async def watchlist(self, items: Sequence[Item], *, remove: bool) -> WriteResult:
        """Add/remove through Discover; "already" (409) counts as done."""
        settings = self.client.settings
        action = "removeFromWatchlist" if remove else "addToWatchlist"
        result = WriteResult()
        for item in items:
            key = item.extra.get("ratingKey") if remove and len(str(item.extra.get("ratingKey", ""))) == 24 else None
            key = key or await self._discover_key(item)
            if key is None:
                result.unresolved.append((item, "Discover has no title with these ids"))
                continue
            try:
                status = await self._call(
                    "PUT", f"/actions/{action}", {"ratingKey": key}, base=settings.discover_url, scope="PLEX:watchlist"
                )
            except HttpError as exc:
                result.failed.append((item, str(exc)))
                continue
            (
                result.ok.append(item)
                if status < 300 or status == 409
                else result.failed.append((item, f"Plex answered HTTP {status}"))
            )
            if settings.watchlist_write_delay_ms:
                await anyio.sleep(settings.watchlist_write_delay_ms / 1000)
        return result

    async def _discover_key(self, item: Item) -> str | None:
        """Discover's key for ``item`` by ``/library/metadata/matches`` on its external ids."""
        kind = TYPE_NUMBERS.get(item.type)
        if kind not in (1, 2):
            return None
        for name in ("imdb", "tmdb", "tvdb"):
            value = item.ids.get(name)
            if not value:
                continue
            body = await self.client.get(
                "/library/metadata/matches",
                base=self.client.settings.metadata_url,
                params={"type": kind, "guid": f"{name}://{value}"},
                scope="PLEX:watchlist",
            )
            for meta in metadata_items(body):
                return str(meta.get("ratingKey"))
        return None
