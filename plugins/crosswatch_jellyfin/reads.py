"""Reading a feature: one listing per whitelisted library, holding only what the feature needs.

==========  =====================================================================================
feature     what a library's listing asks for (``/Users/{id}/Items``, recursive, with UserData)
==========  =====================================================================================
history     ``Filters=IsPlayed``, movies and episodes: one Item per played title, ``watched_at``
            its ``LastPlayedDate`` (the server keeps one date per title, and a ``PlayCount``)
progress    ``Filters=IsResumable``, movies and episodes: ``PlaybackPositionTicks``
ratings     every movie, series, season and episode (no server filter finds "rated"): those
            with a ``Rating``
watchlist   ``Filters=IsFavorite`` (mode ``favorites``), or the playlist's items (``playlist``:
            one request for the playlist, whatever the libraries)
==========  =====================================================================================

Items keep whatever ids the server has (none, for an unidentified item). An unchanged
re-read costs one request per library: the libraries and the index come from the state
file (:mod:`.library`), which is asked again only when a listing shows something it does
not know.

Ratings must list every item anyway, so a run that reads ratings and other features
(:meth:`Reader.plan`) shares that listing: the first read lists every item of each library,
the reader keeps it (in memory, never saved) and the run's other features take their items
from it, so all four cost one request per library. A write drops it (:meth:`Reader.forget`):
what was listed before no longer holds. Only a feature's first read takes the shared
listing: a later read of it wants the server as it is now, and asks again. Without a plan
each feature asks for its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crosswatch import progress
from crosswatch.http import HttpError
from crosswatch.model import Feature, Item
from crosswatch_jellyfin.client import MediaServerClient
from crosswatch_jellyfin.library import Library, LibraryIndex, View
from crosswatch_jellyfin.mapping import entry_of, feature_item, show_of

FIELDS = "ProviderIds,DateLastSaved"
QUERIES: dict[Feature, dict[str, str]] = {
    Feature.HISTORY: {"IncludeItemTypes": "Movie,Episode", "Filters": "IsPlayed"},
    Feature.PROGRESS: {"IncludeItemTypes": "Movie,Episode", "Filters": "IsResumable"},
    Feature.RATINGS: {"IncludeItemTypes": "Movie,Series,Season,Episode"},
    Feature.WATCHLIST: {"IncludeItemTypes": "Movie,Series,Season,Episode", "Filters": "IsFavorite"},
}
#: the item types each feature holds, for taking its items from the shared listing
TYPES = {feature: frozenset(query["IncludeItemTypes"].split(",")) for feature, query in QUERIES.items()}
#: the shared listing: every item, the ratings query
SHARED = Feature.RATINGS


class Reader:
    """Present-state reads of one profile's user."""

    def __init__(self, client: MediaServerClient, library: Library) -> None:
        self.client = client
        self.library = library
        self.planned: frozenset[Feature] = frozenset()  # the features this run will read (see plan)
        # library id -> feature -> the items of the shared listing that hold some of it
        self._shared: dict[str, dict[Feature, list[dict[str, Any]]]] = {}
        self._seen: set[Feature] = set()  # the features this reader has read

    def plan(self, features: Iterable[Feature]) -> None:
        """The features the run will read: with ratings among several, the first read lists every
        item once and the others take theirs from that listing."""
        self.planned = frozenset(Feature(f) for f in features)

    def forget(self) -> None:
        """Drop the shared listing (before a write: it no longer holds)."""
        self._shared.clear()

    async def _rows(self, feature: Feature, view: View, *, first: bool) -> list[dict[str, Any]]:
        """The library's items of ``feature`` (by the server's filter, or, on the feature's first
        read, out of the shared listing)."""
        held = self._shared.get(view.id) if first else None
        if held is None:
            shared = first and SHARED in self.planned and feature in self.planned
            rows = await self.library.items(view, **QUERIES[SHARED if shared else feature], Fields=FIELDS)
            if not shared:
                return [row for row in rows if _holds(feature, row)]
            held = self._shared[view.id] = _by_feature(rows, self.planned)
        return held.get(feature, [])

    @property
    def playlist_mode(self) -> bool:
        return self.client.settings.watchlist.mode == "playlist"

    async def read(self, feature: Feature) -> list[Item]:
        if feature == Feature.WATCHLIST and self.playlist_mode:
            items = await self.read_playlist()
        else:
            first = feature not in self._seen
            self._seen.add(feature)
            items = []
            views = await self.library.libraries(feature)
            title = f"{self.client.kind.provider} {feature}: reading"
            with progress.task(title, total=len(views), unit="libraries") as bar:
                for view in views:
                    rows = await self._rows(feature, view, first=first)
                    items += await self._items(feature, view, rows)
                    bar.advance()
        await self.library.save()
        return items

    async def _index_for(self, view: View, rows: list[dict[str, Any]]) -> LibraryIndex:
        """The library's index, brought up to date when a listed episode's or season's show is
        unknown to it, or the item was saved after it."""
        index = await self.library.index(view, refresh=False)
        for row in rows:
            series = row.get("SeriesId")
            if not isinstance(series, str) or not series or row.get("Type") not in ("Episode", "Season"):
                continue
            if series not in index.items or index.newer_than(row.get("DateLastSaved")):
                return await self.library.index(view, refresh=True)
        return index

    async def _items(self, feature: Feature, view: View, rows: list[dict[str, Any]]) -> list[Item]:
        index = await self._index_for(view, rows)
        out = []
        for row in rows:
            item = self._item(feature, row, index, view)
            if item is not None:
                out.append(item)
        return out

    def _item(
        self, feature: Feature, row: dict[str, Any], index: LibraryIndex, view: View, *, listed: bool = False
    ) -> Item | None:
        """A listed item as the feature's Item (``listed``: on the watchlist playlist, so held)."""
        series_id = row.get("SeriesId")
        show = None
        if isinstance(series_id, str) and series_id:
            name = row.get("SeriesName") if isinstance(row.get("SeriesName"), str) else None
            show = show_of(index.items.get(series_id), name)
        held = {"IsFavorite": True} if listed else None
        return feature_item(feature, row, show, {"Library": view.name}, user_data=held)

    async def read_playlist(self) -> list[Item]:
        """The watchlist playlist's movies and episodes that lie in the whitelisted libraries."""
        name = self.client.settings.watchlist.playlist
        playlist = await self.library.playlist_id(name)
        if playlist is None:
            return []
        try:
            rows = await self._playlist_rows(playlist)
        except HttpError as exc:
            if exc.status not in (400, 404):
                raise
            playlist = await self.library.playlist_id(name, fresh=True)  # deleted, or made again
            if playlist is None:
                return []
            rows = await self._playlist_rows(playlist)
        views = await self.library.libraries(Feature.WATCHLIST)
        indexes = {v.id: await self.library.index(v, refresh=False) for v in views}
        if any(not any(r.get("Id") in ix.items for ix in indexes.values()) for r in rows):
            indexes = {v.id: await self.library.index(v, refresh=True) for v in views}
        out: list[Item] = []
        seen: set[str] = set()
        for row in rows:
            item_id = row.get("Id")
            if not isinstance(item_id, str) or item_id in seen:
                continue
            view = next((v for v in views if item_id in indexes[v.id].items), None)
            if view is None:
                continue
            seen.add(item_id)
            entry = entry_of(row)
            if entry is None:
                continue
            item = self._item(Feature.WATCHLIST, row, indexes[view.id], view, listed=True)
            if item is not None:
                out.append(item)
        return out

    async def _playlist_rows(self, playlist: str) -> list[dict[str, Any]]:
        params = {"UserId": self.client.user_id, "Fields": FIELDS, "EnableImages": "false"}
        return await self.library.listing(f"/Playlists/{playlist}/Items", params)


def _by_feature(rows: list[dict[str, Any]], features: Iterable[Feature]) -> dict[Feature, list[dict[str, Any]]]:
    """The rows of a shared listing by the features they hold some of (one pass over the listing)."""
    wanted = [(f, TYPES[f]) for f in QUERIES if f in features]
    out: dict[Feature, list[dict[str, Any]]] = {f: [] for f, _ in wanted}
    for row in rows:
        data = row.get("UserData")
        if not isinstance(data, dict):
            continue
        kind = row.get("Type")
        for feature, types in wanted:
            if kind in types and _has(feature, data):
                out[feature].append(row)
    return out


def _holds(feature: Feature, row: dict[str, Any]) -> bool:
    """Whether a listed item is one of ``feature``'s, as its server filter would say."""
    data = row.get("UserData")
    return row.get("Type") in TYPES[feature] and isinstance(data, dict) and _has(feature, data)


def _has(feature: Feature, data: dict[str, Any]) -> bool:
    """Whether an item's ``UserData`` holds some of ``feature``."""
    if feature == Feature.HISTORY:
        return data.get("Played") is True
    if feature == Feature.PROGRESS:
        ticks = data.get("PlaybackPositionTicks")
        return isinstance(ticks, int) and not isinstance(ticks, bool) and ticks > 0
    if feature == Feature.RATINGS:
        rating = data.get("Rating")
        return isinstance(rating, (int, float)) and not isinstance(rating, bool)
    return data.get("IsFavorite") is True
