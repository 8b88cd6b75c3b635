"""The user's libraries and an index of their items, kept in ``.cw_state/<prefix>_library.json``.

The index is the last full listing of each library (every movie, series, season and episode
with its ``ProviderIds``, numbers and ``DateLastSaved``). Writes find titles in it
(Jellyfin has no provider-id filter: titles are matched locally, by ``match_keys``), and
reads take an episode's show ids from it (a listing names only ``SeriesId``).

Keeping it current costs little: a library's index is built once, then brought up to date
with ``MinDateLastSaved`` (the items whose metadata was saved since the newest date seen:
new items and refreshed ones). Writes do that once per call; reads only when a listed item
is unknown to the index or newer than it. The libraries themselves (``/Users/{id}/Views``,
movie, show and mixed libraries) are kept for an hour, and fetched again when a whitelist
names one the index does not know. User data (plays, positions, ratings, favourites) is
never cached: the servers have no filter for "user data changed since" (their
``MinDateLastSavedForUser`` looks at the item's metadata), so every read lists it afresh,
one request per library, holding only the items that have some of the feature.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import anyio
import msgspec

from crosswatch.errors import ProviderError
from crosswatch.http import HttpError
from crosswatch.model import Feature, epoch_seconds, match_keys
from crosswatch.state import StateDir
from crosswatch_jellyfin.client import MediaServerClient
from crosswatch_jellyfin.config import LibraryFilter, MediaServerSettings
from crosswatch_jellyfin.mapping import Entry, entry_of, item_of, show_of

#: library kinds that hold movies and shows (a library without a kind is a mixed one)
KEPT = frozenset({"movies", "tvshows", "mixed", ""})
#: how long the list of libraries is trusted
VIEWS_TTL_S = 3600.0
INDEX_TYPES = "Movie,Series,Season,Episode"
INDEX_FIELDS = "ProviderIds,DateLastSaved"
WITHOUT = "the libraries are listed again (one full read of each)"
FORMAT = 1


class View(msgspec.Struct, frozen=True):
    """One library: its id, name and kind (``CollectionType``)."""

    id: str
    name: str
    collection: str = ""


class LibraryIndex(msgspec.Struct):
    """The items of one library by id, and the newest ``DateLastSaved`` among them."""

    items: dict[str, Entry] = {}
    stamp: str | None = None

    def take(self, rows: Iterable[Any]) -> int:
        """Add or replace the entries of listed items; how many."""
        count = 0
        newest = epoch_seconds(self.stamp) or 0.0
        for row in rows:
            entry = entry_of(row)
            if entry is None:
                continue
            self.items[row["Id"]] = entry
            count += 1
            saved = epoch_seconds(entry.saved)
            if saved is not None and saved > newest:
                newest, self.stamp = saved, entry.saved
        return count

    def newer_than(self, saved: object) -> bool:
        """Whether an item saved at ``saved`` (its ``DateLastSaved``) was saved after the index
        was last brought up to date."""
        when = epoch_seconds(saved) if isinstance(saved, str) else None
        stamp = epoch_seconds(self.stamp)
        return when is not None and (stamp is None or when > stamp)


class IndexFile(msgspec.Struct):
    """The file: whose index it is, the libraries, each library's index, playlist ids by name."""

    format: int = FORMAT
    url: str = ""
    user_id: str = ""
    server_id: str = ""  # the server's Id, as its items name it (``ServerId``)
    views: list[View] = []
    views_at: float = 0.0
    libraries: dict[str, LibraryIndex] = {}
    playlists: dict[str, str] = {}


Target = tuple[str, str]  # (library id, item id)


class Matcher:
    """Server items of some libraries by every ``match_keys`` key of theirs."""

    def __init__(self, indexes: Mapping[str, LibraryIndex]) -> None:
        self.keys: dict[tuple[Any, ...], list[Target]] = {}
        for library, index in indexes.items():
            items = index.items
            for item_id, entry in items.items():
                series = items.get(entry.series) if entry.series else None
                item = item_of(entry, item_id, show_of(series))
                for key in match_keys(item):
                    self.keys.setdefault(key, []).append((library, item_id))

    def find(self, item: Any) -> list[Target]:
        """Every server item of the first key of ``item`` that has any (copies in two libraries: both)."""
        for key in match_keys(item):
            hits = self.keys.get(key)
            if hits:
                return hits
        return []


class Library:
    """The libraries and their index for one profile's user (see the module docstring)."""

    def __init__(self, client: MediaServerClient, state: StateDir, prefix: str, settings: MediaServerSettings) -> None:
        self.client = client
        self.state = state
        self.settings = settings
        self.name = f"{prefix}_library.json"
        self._file: IndexFile | None = None
        self._dirty = False
        self._refreshed: set[str] = set()  # libraries brought up to date by this instance

    # -- the file -------------------------------------------------------------------------------

    async def _load(self) -> IndexFile:
        if self._file is None:
            found: IndexFile | None = await anyio.to_thread.run_sync(
                lambda: self.state.read_json_or_default(self.name, None, type=IndexFile, instead=WITHOUT)
            )
            client = self.client
            if found is None or found.format != FORMAT or found.url != client.url or found.user_id != client.user_id:
                found = IndexFile(url=client.url, user_id=client.user_id)
            self._file = found
        return self._file

    async def save(self) -> None:
        """Write the index if it changed (atomically; a cache, so the last writer wins)."""
        if self._dirty and self._file is not None:
            data = self._file
            await anyio.to_thread.run_sync(lambda: self.state.write_json(self.name, data, pretty=False))
            self._dirty = False

    # -- libraries ------------------------------------------------------------------------------

    async def views(self, *, fresh: bool = False) -> list[View]:
        """The movie and show libraries the user sees (kept an hour unless ``fresh``)."""
        data = await self._load()
        if fresh or not data.views or time.time() - data.views_at > VIEWS_TTL_S:
            body = await self.client.get(f"/Users/{self.client.user_id}/Views")
            rows = body.get("Items") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise HttpError(f"{self.client.kind.title}: the list of libraries is not one (no Items)")
            views = []
            for row in rows:
                if not isinstance(row, dict) or not isinstance(row.get("Id"), str):
                    continue
                kind = str(row.get("CollectionType") or "").lower()
                if kind in KEPT and row.get("Type") in ("CollectionFolder", "Folder", "UserView", None):
                    views.append(View(row["Id"], str(row.get("Name") or row["Id"]), kind))
            data.views, data.views_at = views, time.time()
            known = {v.id for v in views}
            for gone in [k for k in data.libraries if k not in known]:
                del data.libraries[gone]
            self._dirty = True
        return data.views

    def _filter(self, feature: Feature) -> LibraryFilter:
        settings = self.settings
        return {
            Feature.HISTORY: settings.history,
            Feature.PROGRESS: settings.progress,
            Feature.RATINGS: settings.ratings,
            Feature.WATCHLIST: settings.watchlist,
        }[feature]

    async def libraries(self, feature: Feature) -> list[View]:
        """The libraries ``feature`` reads and writes: its whitelist (names or ids), else all."""
        wanted = self._filter(feature).libraries
        views = await self.views()
        if not wanted:
            return views
        chosen, unknown = _pick(views, wanted)
        if unknown:
            chosen, unknown = _pick(await self.views(fresh=True), wanted)
        if unknown:
            kind = self.client.kind
            have = ", ".join(v.name for v in await self.views()) or "none"
            raise ProviderError(
                f"[{kind.section}.{feature}] libraries names {', '.join(map(repr, unknown))}, which {kind.title} "
                f"at {self.client.url} does not have (movie and show libraries: {have})"
            )
        return chosen

    # -- listings -------------------------------------------------------------------------------

    async def listing(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every item a query lists: one request, more only where the server pages its answer."""
        client = self.client
        body = await client.get(path, **params)
        rows = _rows(client, body, path)
        total = body.get("TotalRecordCount") if isinstance(body, dict) else None
        size = max(len(rows), 100)
        while isinstance(total, int) and len(rows) < total:
            page = _rows(client, await client.get(path, **params, StartIndex=len(rows), Limit=size), path)
            if not page:
                break
            rows += page
        return rows

    async def items(self, view: View, **params: Any) -> list[dict[str, Any]]:
        """The items of one library (recursively) that ``params`` select."""
        query = {"ParentId": view.id, "Recursive": "true", "EnableImages": "false", **params}
        return await self.listing(f"/Users/{self.client.user_id}/Items", query)

    async def index(self, view: View, *, refresh: bool) -> LibraryIndex:
        """The library's index: built when there is none, brought up to date when ``refresh``
        (once per instance: a job's later calls use it as it is)."""
        data = await self._load()
        found = data.libraries.get(view.id)
        if found is None:
            found = LibraryIndex()
            rows = await self.items(view, IncludeItemTypes=INDEX_TYPES, Fields=INDEX_FIELDS, EnableUserData="false")
            found.take(rows)
            server = next((r["ServerId"] for r in rows if isinstance(r.get("ServerId"), str) and r["ServerId"]), "")
            data.server_id = server or data.server_id
            data.libraries[view.id] = found
            self._refreshed.add(view.id)
            self._dirty = True
        elif refresh and view.id not in self._refreshed:
            params: dict[str, Any] = {"IncludeItemTypes": INDEX_TYPES, "Fields": INDEX_FIELDS}
            if found.stamp:
                params["MinDateLastSaved"] = found.stamp
            rows = await self.items(view, **params, EnableUserData="false")
            if found.take(rows):
                self._dirty = True
            self._refreshed.add(view.id)
        return found

    async def matcher(self, views: Sequence[View]) -> Matcher:
        """Titles of these libraries by their keys, the index brought up to date first."""
        return Matcher({v.id: await self.index(v, refresh=True) for v in views})

    def entry(self, target: Target) -> Entry | None:
        """The index entry of a server item (None when the index has not got it)."""
        index = self._file.libraries.get(target[0]) if self._file is not None else None
        return index.items.get(target[1]) if index is not None else None

    @property
    def server_id(self) -> str:
        """The server's Id as its items name it ("" until a library was indexed)."""
        return self._file.server_id if self._file is not None else ""

    def own(self, item: Any, views: Sequence[View]) -> list[Target]:
        """The server item an Item of this server's own reads names (its ``extra`` ``Id`` and ``ServerId``).

        Only for an item that has none of the ids titles are found by (an unidentified item
        read here): another provider's ``extra``, or another server's, names nothing here.
        """
        extra = item.extra
        item_id, server = extra.get("Id"), extra.get("ServerId")
        if not isinstance(item_id, str) or not server or server != self.server_id or self._file is None:
            return []
        for view in views:
            index = self._file.libraries.get(view.id)
            entry = index.items.get(item_id) if index is not None else None
            if entry is not None and entry.kind == str(item.type):
                return [(view.id, item_id)]
        return []

    def forget(self, library: str, item_id: str) -> None:
        """An item the server does not know any more (a 404): out of the index."""
        if self._file is not None:
            found = self._file.libraries.get(library)
            if found is not None and found.items.pop(item_id, None) is not None:
                self._dirty = True

    # -- playlists ------------------------------------------------------------------------------

    async def playlist_id(self, name: str, *, fresh: bool = False) -> str | None:
        """The id of the user's playlist called ``name`` (any case), or None."""
        data = await self._load()
        key = name.strip().lower()
        if not fresh and key in data.playlists:
            return data.playlists[key]
        query = {"Recursive": "true", "IncludeItemTypes": "Playlist", "EnableImages": "false"}
        rows = await self.listing(f"/Users/{self.client.user_id}/Items", query)
        found = next(
            (r["Id"] for r in rows if r.get("Type") == "Playlist" and str(r.get("Name", "")).strip().lower() == key),
            None,
        )
        if found is None:
            if data.playlists.pop(key, None) is not None:
                self._dirty = True
        elif data.playlists.get(key) != found:
            data.playlists[key] = found
            self._dirty = True
        return found

    def remember_playlist(self, name: str, playlist_id: str) -> None:
        if self._file is not None:
            self._file.playlists[name.strip().lower()] = playlist_id
            self._dirty = True


def _pick(views: Sequence[View], wanted: Sequence[str]) -> tuple[list[View], list[str]]:
    chosen: list[View] = []
    unknown: list[str] = []
    for name in wanted:
        key = name.strip().lower()
        hit = next((v for v in views if v.id.lower() == key or v.name.strip().lower() == key), None)
        if hit is None:
            unknown.append(name)
        elif hit not in chosen:
            chosen.append(hit)
    return chosen, unknown


def _rows(client: MediaServerClient, body: Any, path: str) -> list[dict[str, Any]]:
    rows = body.get("Items") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise HttpError(f"{client.kind.title}: GET {path}: the answer holds no item list")
    return [r for r in rows if isinstance(r, dict)]
