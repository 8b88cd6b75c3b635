"""Writing to Plex: ratings, marked-watched plays, resume positions and the Discover watchlist.

Items are found by external ids (``library.LibraryIndex``); what cannot be found is reported
for the unresolved file. Plex records a play at "now": a written play's ``watched_at`` is not
kept (the provider's capabilities say so).

The watchlist is written through Discover, by its 24-hex ratingKey of the title, found:

1. by ``/library/metadata/matches?type=1|2&guid=imdb://...`` (then tmdb, tvdb);
2. else, for an item with a title, by a Discover search for that title
   (``plex.watchlist_query_limit`` results): a result is taken only if its type, its exact
   title and (when the item has one) its year match AND its metadata (``Guid[]``) carries one
   of the item's external ids; a same-title title with other ids is never used;
3. else, only with ``plex.watchlist_allow_pms_fallback``, in the server's own library by
   external ids: a library item whose guid is ``plex://movie/<key>`` / ``plex://show/<key>``
   names the Discover key (legacy-agent and local items do not). Without the setting no PMS
   request is made for watchlist writes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import msgspec

from crosswatch import progress
from crosswatch.http import HttpError
from crosswatch.model import Feature, Item
from crosswatch.provider import WriteResult
from crosswatch_plex.client import PlexClient
from crosswatch_plex.guids import EXTERNAL, parse_guids
from crosswatch_plex.library import LibraryIndex
from crosswatch_plex.mapping import TYPE_NUMBERS, metadata_items

IDENTIFIER = "com.plexapp.plugins.library"
NOT_IN_LIBRARY = "not in the Plex library (no matching IMDb/TMDB/TVDB id)"
NOT_ON_DISCOVER = "Discover has no title with these ids"
NOT_ON_DISCOVER_OR_PMS = "neither Discover nor the Plex library has a title with these ids"
#: watchlist item type number -> the Discover type and its ``searchTypes`` value
_DISCOVER_TYPES = {1: ("movie", "movies"), 2: ("show", "tv")}
_DISCOVER_KEY = re.compile(r"^[0-9a-f]{24}$")


_HISTORY_ROW = re.compile(r"(?:/status/sessions/history/)?([0-9]+)")


def history_path(history_key: object) -> str | None:
    """The path of one history row (PMS gives ``/status/sessions/history/<id>``, older ones the id).

    Anything else from a bad answer is never used as a DELETE path.
    """
    if isinstance(history_key, bool) or not isinstance(history_key, (str, int)):
        return None
    found = _HISTORY_ROW.fullmatch(str(history_key))
    return f"/status/sessions/history/{found.group(1)}" if found else None


class PlexWriter:
    """Writes of one Plex profile; ``index`` finds library items by external ids.

    Library writes run ``plex.rating_workers`` (ratings) or ``plex.history_workers`` at a time.
    """

    def __init__(self, client: PlexClient, index: Callable[[Feature], Awaitable[LibraryIndex]]) -> None:
        self.client = client
        self.index = index
        self._watchlist_index: LibraryIndex | None = None  # every movie and show, for the PMS fallback

    async def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        *,
        base: str | None = None,
        scope: str,
        idempotent: bool = True,
    ) -> int:
        url = (base or self.client.settings.url).rstrip("/") + path
        headers = await self.client.server_headers() if base is None else None
        response = await self.client.policy.send(
            await self.client.http(),
            method,
            url,
            params=params,
            headers=headers,
            scope=scope,
            idempotent=idempotent,
            write=True,
        )
        if response.status_code == 401:
            self.client.check(response, f"{method} {path}")
        return response.status_code

    async def _each(
        self,
        feature: Feature,
        items: Sequence[Item],
        act: Callable[[str, Item], Awaitable[int]],
        verb: str = "writing",
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

        async def counted(rating_key: str, item: Item) -> None:
            try:
                await one(rating_key, item)
            finally:
                bar.advance(1)

        with progress.task(f"PLEX {feature}: {verb}", total=len(items)) as bar:
            async with anyio.create_task_group() as tg:
                for item in items:
                    rating_key = index.find(item)
                    if rating_key is None:
                        result.unresolved.append((item, NOT_IN_LIBRARY))
                        bar.advance(1)
                    else:
                        tg.start_soon(counted, rating_key, item)
        return result

    async def rate(self, items: Sequence[Item], *, clear: bool = False) -> WriteResult:
        async def act(rating_key: str, item: Item) -> int:
            rating = 0 if clear else item.rating
            if rating is None:
                return 422
            params = {"key": rating_key, "identifier": IDENTIFIER, "rating": rating}
            return await self._call("PUT", "/:/rate", params, scope="PLEX:ratings")

        return await self._each(Feature.RATINGS, items, act, "removing" if clear else "writing")

    async def mark_watched(self, items: Sequence[Item]) -> WriteResult:
        """Add = mark watched: Plex records the play at "now", whatever ``watched_at`` says.

        Each scrobble Plex applies is one more play: one whose outcome is unknown (a 5xx, a
        dropped answer) is never sent again here; it fails, and the next run reads whether it took.
        """

        async def act(rating_key: str, item: Item) -> int:
            params = {"key": rating_key, "identifier": IDENTIFIER}
            return await self._call("GET", "/:/scrobble", params, scope="PLEX:history", idempotent=False)

        return await self._each(Feature.HISTORY, items, act)

    async def remove_plays(self, items: Sequence[Item]) -> WriteResult:
        """One play by its history row when known; else unscrobble (all plays of the title)."""

        async def act(rating_key: str, item: Item) -> int:
            path = history_path(item.extra.get("historyKey"))
            if path is not None:
                return await self._call("DELETE", path, {}, scope="PLEX:history")
            params = {"key": rating_key, "identifier": IDENTIFIER}
            return await self._call("GET", "/:/unscrobble", params, scope="PLEX:history")

        return await self._each(Feature.HISTORY, items, act, "removing")

    async def unscrobble(self, rating_keys: Sequence[str]) -> list[tuple[str, str]]:
        """Mark library items unwatched (view count 0); returns the keys that failed, with why."""
        workers = anyio.CapacityLimiter(self.client.settings.history_workers)
        failed: list[tuple[str, str]] = []

        async def one(key: str) -> None:
            async with workers:
                try:
                    status = await self._call(
                        "GET", "/:/unscrobble", {"key": key, "identifier": IDENTIFIER}, scope="PLEX:history"
                    )
                except HttpError as exc:
                    failed.append((key, str(exc)))
                    return
            if status >= 300:
                failed.append((key, f"Plex answered HTTP {status}"))

        async with anyio.create_task_group() as tg:
            for key in rating_keys:
                tg.start_soon(one, key)
        return failed

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
        missing = NOT_ON_DISCOVER_OR_PMS if settings.watchlist_allow_pms_fallback else NOT_ON_DISCOVER
        result = WriteResult()
        for item in progress.each(f"PLEX watchlist: {'removing' if remove else 'writing'}", items):
            key = item.extra.get("ratingKey") if remove and len(str(item.extra.get("ratingKey", ""))) == 24 else None
            try:
                key = key or await self._discover_key(item)
            except HttpError as exc:  # an outage is not a miss: report it, do not freeze the item
                result.failed.append((item, str(exc)))
                continue
            if key is None:
                result.unresolved.append((item, missing))
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
        """Discover's key for ``item``: matches by id, else an exact search, else (if allowed) the PMS."""
        kind = TYPE_NUMBERS.get(item.type)
        if kind not in _DISCOVER_TYPES:
            return None
        ids = {name: str(item.ids[name]) for name in EXTERNAL if item.ids.get(name)}
        if not ids:
            return None
        key = await self._matches(kind, ids) or await self._search(item, kind, ids)
        if key is None and self.client.settings.watchlist_allow_pms_fallback:
            key = await self._library_key(item, kind, ids)
        return key

    async def _matches(self, kind: int, ids: dict[str, str]) -> str | None:
        """``/library/metadata/matches`` on each external id in turn (imdb, tmdb, tvdb)."""
        for name, value in ids.items():
            body = await self.client.get(
                "/library/metadata/matches",
                base=self.client.settings.metadata_url,
                params={"type": kind, "guid": f"{name}://{value}"},
                scope="PLEX:watchlist",
            )
            for meta in metadata_items(body):
                return str(meta.get("ratingKey"))
        return None

    async def _search(self, item: Item, kind: int, ids: dict[str, str]) -> str | None:
        """A Discover search for the exact title (and year); a hit counts only if it carries one of ``ids``."""
        if not item.title:
            return None
        settings = self.client.settings
        wanted, search_types = _DISCOVER_TYPES[kind]
        limit = settings.watchlist_query_limit
        params = {"query": item.title, "limit": limit, "searchTypes": search_types}
        body = await self.client.get(
            "/library/search", base=settings.discover_url, params=params, scope="PLEX:watchlist"
        )
        results = [
            result.get("Metadata") or {}
            for group in body.get("MediaContainer", {}).get("SearchResults") or ()
            for result in group.get("SearchResult") or ()
        ]
        seen: set[str] = set()
        for meta in results[:limit]:  # only the first ``limit`` results, whatever the service sent
            key = str(meta.get("ratingKey") or "")
            if (
                not key
                or key in seen
                or meta.get("type") != wanted
                or meta.get("title") != item.title
                or (item.year is not None and meta.get("year") != item.year)
            ):
                continue
            seen.add(key)
            if await self._carries(key, ids):
                return key
        return None

    async def _carries(self, key: str, ids: dict[str, str]) -> bool:
        """Whether Discover's metadata of ``key`` names one of ``ids`` (imdb/tmdb/tvdb)."""
        try:
            body = await self.client.get(
                f"/library/metadata/{key}", base=self.client.settings.metadata_url, scope="PLEX:watchlist"
            )
        except HttpError as exc:
            if exc.status == 404:
                return False
            raise
        for meta in metadata_items(body):
            found = parse_guids(meta.get("guid"), meta.get("Guid")).ids
            if any(found.get(name) == value for name, value in ids.items()):
                return True
        return False

    async def _library_key(self, item: Item, kind: int, ids: dict[str, str]) -> str | None:
        """The Discover key from the PMS library item with one of ``ids`` and a ``plex://`` guid."""
        if self._watchlist_index is None:
            self._watchlist_index = await LibraryIndex.build(self.client, [], tuple(_DISCOVER_TYPES))
        index = self._watchlist_index
        # by external ids only: not by a ratingKey the item may carry from elsewhere
        rating_key = index.find(msgspec.structs.replace(item, extra={}))
        found = index.items.get(rating_key) if rating_key is not None else None
        if found is None or found.type != item.type or not any(found.ids.get(n) == v for n, v in ids.items()):
            return None
        guid = str(found.ids.get("plex") or "")
        prefix = f"plex://{_DISCOVER_TYPES[kind][0]}/"
        key = guid[len(prefix) :] if guid.startswith(prefix) else ""
        return key if _DISCOVER_KEY.match(key) else None
