"""Reading present state from Trakt at the least cost: last_activities, the ETag shadow, index caches.

An unchanged feature costs at most one request: the watchlist is one conditional GET
(304 -> the shadow) while its activity stamp has not moved; ratings, history and progress
come from their index files while the matching ``/sync/last_activities`` stamps have not
moved. A list read from the network is checked afterwards: if its activity stamps moved
while the pages were read (entries may have shifted across pages), it is read again. A
read either returns the whole list or raises: a failed read never looks like an empty list.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx
import msgspec
import structlog

from crosswatch.model import Feature, Item, item_key, match_keys
from crosswatch.state import StateDir, StateError
from crosswatch_trakt.client import TraktClient
from crosswatch_trakt.errors import TraktError
from crosswatch_trakt.mapping import parse_list

log = structlog.get_logger("crosswatch.trakt")

#: an index group older than this is read again even when the stamps agree (a safety net)
INDEX_MAX_AGE_S = 6 * 3600
#: how long one /sync/last_activities answer is trusted within a provider instance
ACTIVITIES_TTL_S = 5.0
#: how often a list that keeps changing while it is read is read again before giving up
MAX_REREADS = 3

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
WATCHLIST_STAMPS = (
    ("watchlist", "updated_at"),
    ("movies", "watchlisted_at"),
    ("shows", "watchlisted_at"),
    ("seasons", "watchlisted_at"),
    ("episodes", "watchlisted_at"),
)


class Shadow(msgspec.Struct, kw_only=True):
    """``trakt_watchlist.shadow.json``: the last full watchlist, its ETag and activity stamp."""

    etag: str
    read_at: int
    stamp: str = ""
    items: list[Item]


class Index(msgspec.Struct, kw_only=True):
    """``trakt_<feature>.index.json``: the last read per activity group, with its stamp and time."""

    stamps: dict[str, str | None]
    read_at: dict[str, int]
    groups: dict[str, list[Item]]


def _stamp(activities: dict[str, Any], group: str, key: str) -> str | None:
    value = (activities.get(group) or {}).get(key)
    return value if isinstance(value, str) else None


def _watchlist_stamp(activities: dict[str, Any]) -> str:
    return "|".join(_stamp(activities, g, k) or "" for g, k in WATCHLIST_STAMPS)


class Reader:
    """Reads one profile's features, keeping its caches under ``.cw_state``."""

    def __init__(self, client: TraktClient, state: StateDir) -> None:
        self.client = client
        self.state = state
        self._activities: dict[str, Any] | None = None
        self._activities_at = 0.0
        self._current: dict[Feature, dict[str, Any]] = {}  # the stamps each index was last found current at

    def forget_activities(self) -> None:
        """After our own writes the stamps move: ask again next time."""
        self._activities = None

    async def activities(self, *, fresh: bool = False) -> dict[str, Any]:
        if fresh or self._activities is None or time.monotonic() - self._activities_at > ACTIVITIES_TTL_S:
            data = await self.client.get("/sync/last_activities", scope="TRAKT:activities")
            if not isinstance(data, dict):
                raise TraktError("GET /sync/last_activities: expected an object")
            self._activities, self._activities_at = data, time.monotonic()
        return self._activities

    async def _load(self, name: str, kind: type) -> Any:
        def load() -> Any:
            try:  # damaged: moved aside and reported; read afresh
                return self.state.read_json_or_default(
                    name, None, type=kind, instead="it is only a cache: Trakt is read afresh"
                )
            except StateError as exc:  # unreadable: read afresh
                log.error("trakt.cache_unreadable", file=name, error=str(exc))
                return None

        return await anyio.to_thread.run_sync(load)

    async def _save(self, name: str, data: Any) -> None:
        await anyio.to_thread.run_sync(lambda: self.state.write_json(name, data, pretty=False))

    async def read(self, feature: Feature) -> list[Item]:
        if feature == Feature.WATCHLIST:
            return await self.watchlist()
        return await self.indexed(feature)

    async def _read_list(self, path: str, scope: str, first_page: httpx.Response | None = None) -> list[Item]:
        """A whole paginated list as Items; pages are parsed as they arrive."""
        skipped = 0

        def parse(entries: list[Any]) -> list[Item]:
            nonlocal skipped
            items, unknown = parse_list(entries)
            skipped += unknown
            return items

        items = await self.client.get_pages(path, scope=scope, first_page=first_page, transform=parse)
        entry_ids = [i.extra["id"] for i in items if "id" in i.extra]
        if len(entry_ids) != len(set(entry_ids)):
            raise _Moved(f"GET {path}: an entry came twice (the list moved while it was read)")
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
        shadow: Shadow | None = await self._load(name, Shadow)
        for attempt in range(MAX_REREADS + 1):
            stamp = _watchlist_stamp(await self.activities(fresh=attempt > 0))
            headers = {}
            if shadow and shadow.stamp == stamp and time.time() - shadow.read_at < INDEX_MAX_AGE_S:
                headers["If-None-Match"] = shadow.etag
            limit = self.client.settings.page_size
            response = await self.client.request(
                "GET", "/sync/watchlist", scope=scope, params={"page": 1, "limit": limit}, headers=headers
            )
            if response.status_code == 304 and shadow:
                log.debug("trakt.unchanged", scope=scope, source="etag shadow")
                return shadow.items
            try:
                items = await self._read_list("/sync/watchlist", scope, first_page=response)
                if _watchlist_stamp(await self.activities(fresh=True)) != stamp:
                    raise _Moved("GET /sync/watchlist: the watchlist changed while it was read")
            except _Moved as exc:
                log.warning("trakt.reread", scope=scope, reason=str(exc), attempt=attempt + 1)
                continue
            etag = response.headers.get("etag")
            if etag:
                await self._save(name, Shadow(etag=etag, read_at=int(time.time()), stamp=stamp, items=items))
            log.info("trakt.read", scope=scope, items=len(items))
            return items
        raise TraktError(
            f"the Trakt watchlist kept changing while it was read ({MAX_REREADS + 1} tries); try again later"
        )

    async def indexed(self, feature: Feature) -> list[Item]:
        """Ratings, history or progress: groups whose activity stamp moved are read again."""
        scope = f"TRAKT:{feature}"
        name = f"{self.client.prefix}_{feature}.index.json"
        index: Index = await self._load(name, Index) or Index(stamps={}, read_at={}, groups={})
        new = Index(stamps=dict(index.stamps), read_at=dict(index.read_at), groups=dict(index.groups))
        activities = await self.activities()
        stale = []
        for group, (_path, key) in GROUPS[feature].items():
            stamp = _stamp(activities, group, key)
            fresh = time.time() - index.read_at.get(group, 0) < INDEX_MAX_AGE_S
            if not (fresh and stamp and group in index.groups and index.stamps.get(group) == stamp):
                stale.append(group)
        for attempt in range(MAX_REREADS + 1):
            if not stale:
                break
            try:
                for group in stale:
                    new.groups[group] = await self._read_list(GROUPS[feature][group][0], scope)
                after = await self.activities(fresh=True)
                moved = [
                    g
                    for g in stale
                    if _stamp(after, g, GROUPS[feature][g][1]) != _stamp(activities, g, GROUPS[feature][g][1])
                ]
                if moved:
                    raise _Moved(f"{', '.join(moved)} changed while read")
            except _Moved as exc:
                log.warning("trakt.reread", scope=scope, reason=str(exc), attempt=attempt + 1)
                activities = await self.activities()
                continue
            for group in stale:
                new.stamps[group] = _stamp(activities, group, GROUPS[feature][group][1])
                new.read_at[group] = int(time.time())
            await self._save(name, new)
            break
        else:
            raise TraktError(
                f"Trakt {feature} kept changing while it was read ({MAX_REREADS + 1} tries); try again later"
            )
        self._current[feature] = activities
        items = [item for group in GROUPS[feature] for item in new.groups.get(group, [])]
        if stale:
            log.info("trakt.read", scope=scope, items=len(items), groups_read=stale)
        else:
            log.debug("trakt.unchanged", scope=scope, source="index")
        return items

    def distrust(self, feature: Feature) -> None:
        """A write's outcome is not known: no later write of this run is carried into the index.

        The index keeps the stamps of its last full read, so the next run reads the feature again.
        """
        self._current.pop(feature, None)

    async def settle(self, feature: Feature, added: list[Item], removed: list[Item]) -> None:
        """After crosswatch's own writes: carry them into the index instead of reading it all again.

        Only when this reader found the index current earlier in the run: its groups whose
        stamps moved since take the new stamps. A change made elsewhere between that read and
        the writes is picked up when the index ages out (``INDEX_MAX_AGE_S``).
        """
        before = self._current.pop(feature, None)
        if before is None or feature not in (Feature.RATINGS, Feature.HISTORY):
            return
        if not (added or removed):
            self._current[feature] = before
            return
        name = f"{self.client.prefix}_{feature}.index.json"
        index: Index | None = await self._load(name, Index)
        if index is None:
            return
        after = await self.activities(fresh=True)
        changed = False
        for group, (_path, key) in GROUPS[feature].items():
            was, now = _stamp(before, group, key), _stamp(after, group, key)
            if group not in index.groups or index.stamps.get(group) != was or was == now:
                continue
            kind = group[:-1]  # "movies" -> "movie"
            mine_added = [i for i in added if i.type == kind]
            mine_removed = [i for i in removed if i.type == kind]
            if not (mine_added or mine_removed):
                continue
            index.groups[group] = _patched(feature, index.groups[group], mine_added, mine_removed)
            index.stamps[group] = now
            changed = True
        if all(
            index.stamps.get(g) == _stamp(after, g, k) for g, (_p, k) in GROUPS[feature].items() if g in index.groups
        ):
            self._current[feature] = after  # the index is current again: a next write can settle too
        if changed:
            await self._save(name, index)
            log.debug("trakt.index_settled", scope=f"TRAKT:{feature}", added=len(added), removed=len(removed))


def _patched(feature: Feature, items: list[Item], added: list[Item], removed: list[Item]) -> list[Item]:
    """An index group with crosswatch's own writes applied, as Trakt now holds them."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    # what another provider (or an old capture) kept in ``extra`` is not Trakt's: a history id
    # there would name a play Trakt no longer has (a removal by it fails); a sent play gets its
    # id from a read of its time window when one is needed
    added = [msgspec.structs.replace(i, extra={}) if i.extra else i for i in added]
    if feature == Feature.HISTORY:
        gone = set(map(item_key, removed))
        kept = [i for i in items if item_key(i) not in gone]
        there = {(k, (i.watched_at or "")[:19]) for i in kept for k in match_keys(i)}
        new = []
        for play in added:  # a play there already, or sent twice in one call, is one play on Trakt
            keys = {(k, (play.watched_at or "")[:19]) for k in match_keys(play)}
            if not keys & there:
                new.append(play)
                there |= keys
        return kept + new
    touched = TitleKeys(added + removed)
    kept = [i for i in items if not touched.holds(i)]
    latest: dict[tuple[object, ...], Item] = {}  # one rating per title: the last one sent
    for item in added:
        first = next(match_keys(item), None)
        latest[first if first is not None else (item_key(item),)] = item
    return kept + [msgspec.structs.replace(i, rated_at=i.rated_at or now) for i in latest.values()]


class TitleKeys:
    """Titles known by any strong id (the ratings an own write replaced or removed)."""

    def __init__(self, items: list[Item]) -> None:
        self.keys = {k for i in items for k in match_keys(i)}

    def holds(self, item: Item) -> bool:
        return any(k in self.keys for k in match_keys(item))


class _Moved(Exception):
    """The list changed while its pages were read."""
