"""Reading present state from Trakt at the least cost: last_activities, the ETag shadow, index caches.

An unchanged feature costs at most one request: the watchlist is one conditional GET
(304 -> the shadow), ratings, history and progress come from their index files while the
matching ``/sync/last_activities`` stamps have not moved. A read either returns the whole
list or raises: a failed read never looks like an empty list.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import structlog

from crosswatch.model import Feature, Item
from crosswatch.state import StateDir, StateError
from crosswatch_trakt.client import TraktClient
from crosswatch_trakt.errors import TraktError
from crosswatch_trakt.mapping import parse_list

log = structlog.get_logger("crosswatch.trakt")

#: an index older than this is read again even when the stamps agree (a safety net)
INDEX_MAX_AGE_S = 6 * 3600
#: how long one /sync/last_activities answer is trusted within a provider instance
ACTIVITIES_TTL_S = 5.0

#: per feature: activity group -> (endpoint, stamp key in that group)
GROUPS: dict[Feature, dict[str, tuple[str, str]]] = {
    Feature.RATINGS: {
        "movies": ("/sync/ratings/movies", "rated_at"),
        "shows": ("/sync/ratings/shows", "rated_at"),
        "seasons": ("/sync/ratings/seasons", "rated_at"),
        "episodes": ("/sync/ratings/episodes", "rated_at"),
    },
    Feature.HISTORY: {
        "movies": ("/sync/history/movies", "watched_at"),
        "episodes": ("/sync/history/episodes", "watched_at"),
    },
    Feature.PROGRESS: {
        "movies": ("/sync/playback/movies", "paused_at"),
        "episodes": ("/sync/playback/episodes", "paused_at"),
    },
}


class Shadow(msgspec.Struct, kw_only=True):
    """``trakt_watchlist.shadow.json``: the last full watchlist and its ETag."""

    etag: str
    read_at: int
    items: list[Item]


class Index(msgspec.Struct, kw_only=True):
    """``trakt_<feature>.index.json``: the last read per activity group, with the group's stamp."""

    read_at: int = 0
    stamps: dict[str, str | None] = {}
    groups: dict[str, list[Item]] = {}


class Reader:
    """Reads one profile's features, keeping its caches under ``.cw_state``."""

    def __init__(self, client: TraktClient, state: StateDir) -> None:
        self.client = client
        self.state = state
        self._activities: dict[str, Any] | None = None
        self._activities_at = 0.0

    def forget_activities(self) -> None:
        """After our own writes the stamps move: ask again next time."""
        self._activities = None

    async def activities(self) -> dict[str, Any]:
        if self._activities is None or time.monotonic() - self._activities_at > ACTIVITIES_TTL_S:
            data = await self.client.get("/sync/last_activities", scope="TRAKT:activities")
            if not isinstance(data, dict):
                raise TraktError("GET /sync/last_activities: expected an object")
            self._activities, self._activities_at = data, time.monotonic()
        return self._activities

    def _load(self, name: str, kind: type) -> Any:
        try:
            return self.state.read_json(name, None, type=kind | None)
        except StateError as exc:  # corrupt: moved aside and reported; read afresh
            log.error("trakt.cache_corrupt", file=name, error=str(exc))
            return None

    async def read(self, feature: Feature) -> list[Item]:
        if feature == Feature.WATCHLIST:
            return await self.watchlist()
        return await self.indexed(feature)

    async def _parse(self, data: list[Any], scope: str) -> list[Item]:
        items, skipped = parse_list(data)
        if skipped:
            log.warning(
                "trakt.skipped_unknown",
                scope=scope,
                skipped=skipped,
                hint="entries of a media type crosswatch does not know",
            )
        return items

    async def watchlist(self) -> list[Item]:
        """The whole watchlist; a 304 on the conditional first page serves the shadow."""
        scope = "TRAKT:watchlist"
        name = f"{self.client.prefix}_watchlist.shadow.json"
        shadow: Shadow | None = self._load(name, Shadow)
        headers = {}
        if shadow and time.time() - shadow.read_at < INDEX_MAX_AGE_S:
            headers["If-None-Match"] = shadow.etag
        limit = self.client.settings.page_size
        response = await self.client.request(
            "GET", "/sync/watchlist", scope=scope, params={"page": 1, "limit": limit}, headers=headers
        )
        if response.status_code == 304 and shadow:
            log.debug("trakt.unchanged", scope=scope, source="etag shadow")
            return shadow.items
        data = await self.client.get_pages("/sync/watchlist", scope=scope, first_page=response)
        items = await self._parse(data, scope)
        etag = response.headers.get("etag")
        if etag:
            self.state.write_json(name, Shadow(etag=etag, read_at=int(time.time()), items=items), pretty=False)
        log.info("trakt.read", scope=scope, items=len(items))
        return items

    async def indexed(self, feature: Feature) -> list[Item]:
        """Ratings, history or progress: groups whose activity stamp moved are read again."""
        scope = f"TRAKT:{feature}"
        name = f"{self.client.prefix}_{feature}.index.json"
        index: Index = self._load(name, Index) or Index()
        fresh = time.time() - index.read_at < INDEX_MAX_AGE_S
        activities = await self.activities()
        new = Index(read_at=index.read_at)
        read_any = False
        for group, (path, stamp_key) in GROUPS[feature].items():
            stamp = (activities.get(group) or {}).get(stamp_key)
            cached = index.groups.get(group)
            if fresh and stamp and cached is not None and index.stamps.get(group) == stamp:
                new.groups[group] = cached
            else:
                new.groups[group] = await self._parse(await self.client.get_pages(path, scope=scope), scope)
                new.read_at = int(time.time())
                read_any = True
            new.stamps[group] = stamp
        items = [item for group in new.groups.values() for item in group]
        if read_any:
            self.state.write_json(name, new, pretty=False)
            log.info("trakt.read", scope=scope, items=len(items))
        else:
            log.debug("trakt.unchanged", scope=scope, source="index")
        return items
