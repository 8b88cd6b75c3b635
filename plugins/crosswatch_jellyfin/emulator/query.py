"""Query parameters (names case-insensitive, lists comma-separated or repeated, unknown enum
values dropped) and the item query behind ``/Users/{id}/Items`` and ``/Items``.

What a query lists (``ParentId``, ``Recursive``, ``Ids``):

- no ``ParentId``: the libraries; with ``Recursive=true`` every movie, series, season,
  episode and the user's playlists;
- a library: its movies or series (a shows library with ``Recursive``: also the seasons and
  episodes); the playlists folder: the user's playlists;
- a series: its seasons (``Recursive``: and episodes); a season: its episodes; a playlist:
  its items; ``Ids``: exactly those items (in the default order, not the order asked).

Filters: ``IncludeItemTypes``/``ExcludeItemTypes``, ``IsPlayed``, ``IsFavorite``,
``Filters`` (``IsPlayed, IsUnplayed, IsFavorite, IsResumable, Likes, Dislikes,
IsFavoriteOrLikes, IsFolder, IsNotFolder``), ``HasImdbId``/``HasTmdbId``/``HasTvdbId``,
``MinDateLastSaved`` and ``MinDateLastSavedForUser`` (both on the item's ``DateLastSaved``,
as Jellyfin 10.10-10.11 do: neither sees a new play), ``MinPremiereDate``/``MaxPremiereDate``,
``Years``, ``SearchTerm``, ``NameStartsWith``, ``ParentIndexNumber``, ``IndexNumber``,
``ExcludeItemIds``, ``MediaTypes`` and (Emby) ``AnyProviderIdEquals=imdb.tt0133093,tmdb.603``.
``IsPlayed`` with ``IncludeItemTypes=Series`` alone means "has a played episode"
(BaseItemRepository.cs @10.11); on other folders it reads their own flag.

Sorts (``SortBy``, ``SortOrder`` per key; default ``SortName``): ``SortName, Name,
DateCreated, DatePlayed, PremiereDate, ProductionYear, PlayCount, IsPlayed, IsUnplayed,
IsFavoriteOrLiked, Random, Runtime, SeriesSortName, ParentIndexNumber, IndexNumber,
AiredEpisodeOrder, IsFolder, DateLastContentAdded``; nulls first when ascending. Paging:
``StartIndex``, ``Limit`` (none: everything, unless the ``default_limit`` knob says otherwise;
the ``max_limit`` knob clamps it).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from crosswatch.emulation.catalog import Episode, Media, Movie, Season, Show
from crosswatch_jellyfin.emulator.library import ITEM_TYPES, Folder, Library
from crosswatch_jellyfin.emulator.render import OPTIONAL_FIELDS, Reject, parse_date, problem
from crosswatch_jellyfin.emulator.userdata import Data, Playlist, UserState

#: BaseItemKind: known names filter (to nothing, for kinds this server has none of); others are dropped
ITEM_KINDS = {
    k.lower(): k
    for k in [
        "AggregateFolder",
        "Audio",
        "AudioBook",
        "BasePluginFolder",
        "Book",
        "BoxSet",
        "Channel",
        "ChannelFolderItem",
        "CollectionFolder",
        "Episode",
        "Folder",
        "Genre",
        "LiveTvChannel",
        "LiveTvProgram",
        "ManualPlaylistsFolder",
        "Movie",
        "MusicAlbum",
        "MusicArtist",
        "MusicGenre",
        "MusicVideo",
        "Person",
        "Photo",
        "PhotoAlbum",
        "Playlist",
        "PlaylistsFolder",
        "Program",
        "Recording",
        "Season",
        "Series",
        "Studio",
        "Trailer",
        "TvChannel",
        "TvProgram",
        "UserRootFolder",
        "UserView",
        "Video",
        "Year",
    ]
}
FILTERS = {
    f.lower(): f
    for f in [
        "IsFolder",
        "IsNotFolder",
        "IsUnplayed",
        "IsPlayed",
        "IsFavorite",
        "IsResumable",
        "Likes",
        "Dislikes",
        "IsFavoriteOrLikes",
    ]
}
SORTS = {
    s.lower(): s
    for s in [
        "Default",
        "AiredEpisodeOrder",
        "Album",
        "AlbumArtist",
        "Artist",
        "DateCreated",
        "OfficialRating",
        "DatePlayed",
        "PremiereDate",
        "StartDate",
        "SortName",
        "Name",
        "Random",
        "Runtime",
        "CommunityRating",
        "ProductionYear",
        "PlayCount",
        "CriticRating",
        "IsFolder",
        "IsUnplayed",
        "IsPlayed",
        "SeriesSortName",
        "VideoBitRate",
        "AirTime",
        "Studio",
        "IsFavoriteOrLiked",
        "DateLastContentAdded",
        "SeriesDatePlayed",
        "ParentIndexNumber",
        "IndexNumber",
    ]
}
Node = int | Folder | Playlist


class Params:
    """The query string with case-insensitive names; typed getters answer 400 on a bad value."""

    def __init__(self, request: Request) -> None:
        self.items = [(k.lower(), v) for k, v in request.query_params.multi_items()]

    def get(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.items if k == wanted and v != ""), None)

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def values(self, name: str) -> list[str]:
        wanted = name.lower()
        out: list[str] = []
        for k, v in self.items:
            if k == wanted:
                out += [part.strip() for part in v.split(",") if part.strip()]
        return out

    def bool(self, name: str) -> bool | None:
        value = self.get(name)
        if value is None:
            return None
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise Reject(problem(name, value))
        return lowered == "true"

    def int(self, name: str) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return int(value.strip())
        except ValueError:
            raise Reject(problem(name, value)) from None

    def number(self, name: str) -> float | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return float(value.strip())
        except ValueError:
            raise Reject(problem(name, value)) from None

    def date(self, name: str) -> float | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return parse_date(value)
        except ValueError:
            raise Reject(problem(name, value)) from None

    def id(self, name: str, library: Library) -> str | None:
        value = self.get(name)
        if value is None:
            return None
        parsed = library.parse_id(value)
        if parsed is None:
            if library.guid_ids:
                raise Reject(problem(name, value))
            return value.strip()  # Emby: an unknown id simply matches nothing
        return parsed

    def ids(self, name: str, library: Library) -> list[str]:
        out = []
        for value in self.values(name):
            parsed = library.parse_id(value)
            if parsed is None and library.guid_ids:
                raise Reject(problem(name, value))
            out.append(parsed or value)
        return out

    def fields(self) -> frozenset[str]:
        return frozenset(f.lower() for f in self.values("Fields")) & OPTIONAL_FIELDS

    def enums(self, name: str, known: dict[str, str]) -> list[str]:
        return [known[v.lower()] for v in self.values(name) if v.lower() in known]


@dataclass
class Page:
    nodes: list[Node]
    total: int
    start: int


class ItemQuery:
    """One item query over the library and a user's data (see the module docstring)."""

    def __init__(self, emu: Any, params: Params, user_id: str | None, parent: Node | None = None) -> None:
        self.emu, self.params, self.user_id = emu, params, user_id
        self.lib: Library = emu.library
        self.state: UserState = emu.state
        self.parent = parent
        self.store: dict[int, Data] = self.state.data.get(user_id, {}) if user_id else {}

    # -- what is listed -------------------------------------------------------------------------

    def playlists(self) -> list[Playlist]:
        """The playlists this caller sees (a user: their own; an API key: all)."""
        lists = self.state.playlists.values()
        return [p for p in lists if self.user_id is None or p.owner == self.user_id]

    def candidates(self) -> Sequence[Node]:
        p, lib = self.params, self.lib
        ids = p.ids("Ids", lib)
        recursive = bool(p.bool("Recursive"))
        if ids:
            return self._by_ids(ids)
        parent = self.parent
        if parent is None:
            parent_id = p.id("ParentId", lib)
            if parent_id is not None:
                parent = self.resolve(parent_id)
                if parent is None:
                    return []
        if parent is None or parent is lib.root:
            if not recursive:
                views: list[Node] = list(lib.views())
                if self.playlists():
                    views.append(lib.playlists_folder)
                return views
            return [*self._typed(("Movie", "Series", "Season", "Episode")), *self.playlists()]
        if isinstance(parent, Playlist):
            return [i for _, i in parent.entries]
        if isinstance(parent, Folder):
            if parent is lib.movies_view:
                return lib.movies
            if parent is lib.shows_view:
                if recursive:
                    return self._typed(("Series", "Season", "Episode"))
                return lib.series
            if parent is lib.playlists_folder:
                return list(self.playlists())
            return []
        media = lib.media[parent]
        if isinstance(media, Show):
            seasons = [lib.index[s] for s in media.seasons]
            if recursive:
                return self._ordered(seasons + [lib.index[ep] for ep in media.episodes()])
            return seasons
        if isinstance(media, Season):
            return [lib.index[ep] for ep in media.episodes]
        return []

    def resolve(self, node_id: str) -> Node | None:
        """A folder, playlist or item by id (None if unknown or not visible)."""
        lib = self.lib
        if node_id in lib.folders:
            return lib.folders[node_id]
        playlist = self.state.playlists.get(node_id)
        if playlist is not None:
            return playlist if self.user_id is None or playlist.owner == self.user_id else None
        return lib.by_id.get(node_id)

    def _by_ids(self, ids: list[str]) -> Sequence[Node]:
        nodes: list[Node] = []
        seen: set[str] = set()
        for node_id in ids:
            if node_id in seen:
                continue
            seen.add(node_id)
            node = self.resolve(node_id)
            if node is not None:
                nodes.append(node)
        items = self._ordered([n for n in nodes if isinstance(n, int)])
        return [*items, *(n for n in nodes if not isinstance(n, int))]

    def _typed(self, kinds: tuple[str, ...]) -> list[int]:
        """The library's items of ``kinds`` (narrowed by ``IncludeItemTypes``) in the default order."""
        include = set(self.params.enums("IncludeItemTypes", ITEM_KINDS))
        return self.lib.merged(tuple(k for k in kinds if not include or k in include))

    def _ordered(self, indices: list[int]) -> list[int]:
        rank = self.lib.rank
        return sorted(indices, key=rank.__getitem__)

    # -- filters --------------------------------------------------------------------------------

    def filters(self) -> list[Callable[[Node], bool]]:
        p, lib = self.params, self.lib
        out: list[Callable[[Node], bool]] = []
        include = p.enums("IncludeItemTypes", ITEM_KINDS)
        exclude = p.enums("ExcludeItemTypes", ITEM_KINDS)
        if include:
            wanted: set[str] = set(include)
            out.append(lambda n: node_type(lib, n) in wanted)
        if exclude:
            unwanted: set[str] = set(exclude)
            out.append(lambda n: node_type(lib, n) not in unwanted)
        media_types = {m.lower() for m in p.values("MediaTypes")}
        if media_types:
            out.append(lambda n: node_media_type(lib, n).lower() in media_types)
        flags: set[str] = set(p.enums("Filters", FILTERS))
        played = p.bool("IsPlayed")
        if "IsPlayed" in flags:
            played = True
        if "IsUnplayed" in flags:
            played = False
        if played is not None:
            series_only = include == ["Series"]
            out.append(lambda n: self._played(n, series_only) == played)
        favorite = p.bool("IsFavorite")
        if "IsFavorite" in flags:
            favorite = True
        if favorite is not None:
            out.append(lambda n: self._data(n).favorite == favorite)
        if "IsFavoriteOrLikes" in flags:
            out.append(lambda n: self._data(n).favorite)
        if "IsResumable" in flags:
            out.append(lambda n: self._data(n).position > 0)
        if "Likes" in flags:
            out.append(lambda n: self._data(n).likes is True)
        if "Dislikes" in flags:
            out.append(lambda n: self._data(n).likes is False)
        if "IsFolder" in flags:
            out.append(lambda n: node_is_folder(lib, n))
        if "IsNotFolder" in flags:
            out.append(lambda n: not node_is_folder(lib, n))
        for param, key in (("HasImdbId", "Imdb"), ("HasTmdbId", "Tmdb"), ("HasTvdbId", "Tvdb")):
            has = p.bool(param)
            if has is not None:
                out.append(self._has_id(key, has))
        for param in ("MinDateLastSaved", "MinDateLastSavedForUser"):
            since = p.date(param)
            if since is not None:
                out.append(self._saved_since(since))
        low, high = p.date("MinPremiereDate"), p.date("MaxPremiereDate")
        if low is not None or high is not None:
            out.append(lambda n: self._premiere_between(n, low, high))
        years = {int(y) for y in p.values("Years") if y.isdigit()}
        if years:
            out.append(lambda n: isinstance(n, int) and lib.title_of(lib.media[n]).year in years)
        term = (p.get("SearchTerm") or "").strip().lower()
        if term:
            out.append(lambda n: term in node_name(lib, n).lower())
        starts = (p.get("NameStartsWith") or "").strip().lower()
        if starts:
            out.append(lambda n: node_sort_name(lib, n).startswith(starts))
        season_no, index_no = p.int("ParentIndexNumber"), p.int("IndexNumber")
        if season_no is not None:
            out.append(lambda n: isinstance(n, int) and getattr(lib.media[n], "season", None) == season_no)
        if index_no is not None:
            out.append(lambda n: isinstance(n, int) and _index_number(lib.media[n]) == index_no)
        excluded: set[str] = set(p.ids("ExcludeItemIds", lib))
        if excluded:
            out.append(lambda n: node_id(lib, n) not in excluded)
        if self.emu.flavour.provider_id_filter:
            pairs = _provider_pairs(p.values("AnyProviderIdEquals"))
            if pairs:
                out.append(lambda n: any(pair in pairs for pair in _lowered(self._provider_ids(n))))
        return out

    def _has_id(self, key: str, has: bool) -> Callable[[Node], bool]:
        return lambda n: (key in self._provider_ids(n)) == has

    def _saved_since(self, since: float) -> Callable[[Node], bool]:
        saved = self.lib.saved
        return lambda n: isinstance(n, int) and saved[n] >= since

    def _data(self, node: Node) -> Data:
        if isinstance(node, int):
            return self.store.get(node) or _EMPTY
        return _EMPTY

    def _played(self, node: Node, series_only: bool) -> bool:
        if not isinstance(node, int) or self.user_id is None:
            return False
        media = self.lib.media[node]
        if series_only and isinstance(media, Show):
            played, _ = self.state.folder_counts(self.user_id, media)
            return played > 0
        return self._data(node).played

    def _provider_ids(self, node: Node) -> dict[str, str]:
        return self.lib.provider_ids(self.lib.media[node]) if isinstance(node, int) else {}

    def _premiere_between(self, node: Node, low: float | None, high: float | None) -> bool:
        if not isinstance(node, int):
            return False
        at = self.lib.premiere(self.lib.media[node])
        return at is not None and (low is None or at >= low) and (high is None or at <= high)

    # -- order and paging -----------------------------------------------------------------------

    def sort(self, nodes: Sequence[Node]) -> list[Node]:
        p = self.params
        keys = [k for k in p.enums("SortBy", SORTS) if k != "Default"]
        orders = [o.lower() for o in p.values("SortOrder")]
        if not keys:
            return list(nodes)
        out = list(nodes)
        for n in range(len(keys) - 1, -1, -1):
            descending = (orders[n] if n < len(orders) else (orders[0] if orders else "ascending")) == "descending"
            out.sort(key=self._key(keys[n]), reverse=descending)
        return out

    def _key(self, name: str) -> Callable[[Node], Any]:
        lib = self.lib

        def opt(value: Any) -> tuple[bool, Any]:
            return (value is not None, value if value is not None else 0)

        def of(node: Node, get: Callable[[Media], Any]) -> tuple[bool, Any]:
            return opt(get(lib.media[node]) if isinstance(node, int) else None)

        if name == "Random":
            rng = random.Random()
            return lambda n: rng.random()
        table: dict[str, Callable[[Node], Any]] = {
            "SortName": lambda n: (node_sort_name(lib, n), node_name(lib, n)),
            "Name": lambda n: node_name(lib, n),
            "DateCreated": lambda n: opt(lib.created[n] if isinstance(n, int) else None),
            "DateLastContentAdded": lambda n: opt(lib.created[n] if isinstance(n, int) else None),
            "DatePlayed": lambda n: opt(self._data(n).last_played),
            "PremiereDate": lambda n: of(n, lib.premiere),
            "ProductionYear": lambda n: of(n, lambda m: lib.title_of(m).year),
            "PlayCount": lambda n: self._data(n).play_count,
            "IsPlayed": lambda n: self._data(n).played,
            "IsUnplayed": lambda n: not self._data(n).played,
            "IsFavoriteOrLiked": lambda n: self._data(n).favorite,
            "Runtime": lambda n: of(n, lib.runtime_ticks),
            "SeriesSortName": lambda n: _series_sort(lib, n),
            "ParentIndexNumber": lambda n: of(n, lambda m: getattr(m, "season", None)),
            "IndexNumber": lambda n: of(n, _index_number),
            "AiredEpisodeOrder": lambda n: of(n, lib.premiere),
            "IsFolder": lambda n: node_is_folder(lib, n),
        }
        return table.get(name, lambda n: 0)

    def page(self) -> Page:
        """The filtered, sorted page (``StartIndex``, ``Limit``) and the total before paging."""
        checks = self.filters()
        nodes = [n for n in self.candidates() if all(check(n) for check in checks)]
        nodes = self.sort(nodes)
        start = max(0, self.params.int("StartIndex") or 0)
        settings = self.emu.settings
        limit = self.params.int("Limit")
        if limit is None and settings.default_limit:
            limit = settings.default_limit
        if limit is not None and settings.max_limit:
            limit = min(limit, settings.max_limit)
        end = len(nodes) if limit is None or limit < 0 else start + limit
        return Page(nodes[start:end], len(nodes), start)


_EMPTY = Data()


def node_type(lib: Library, node: Node) -> str:
    if isinstance(node, int):
        return ITEM_TYPES[lib.media[node].kind]
    return "Playlist" if isinstance(node, Playlist) else node.type


def node_media_type(lib: Library, node: Node) -> str:
    if isinstance(node, int):
        return "Video" if isinstance(lib.media[node], (Movie, Episode)) else "Unknown"
    return node.media_type if isinstance(node, Playlist) else "Unknown"


def node_is_folder(lib: Library, node: Node) -> bool:
    return not isinstance(node, int) or isinstance(lib.media[node], (Show, Season))


def node_name(lib: Library, node: Node) -> str:
    return lib.name(lib.media[node]) if isinstance(node, int) else node.name


def node_sort_name(lib: Library, node: Node) -> str:
    return lib.sort_name(lib.media[node]) if isinstance(node, int) else node.name.lower()


def node_id(lib: Library, node: Node) -> str:
    return lib.ids[node] if isinstance(node, int) else node.id


def _index_number(media: Media | None) -> int | None:
    if isinstance(media, (Season, Episode)):
        return media.number
    return None


def _series_sort(lib: Library, node: Node) -> str:
    if not isinstance(node, int):
        return ""
    media = lib.media[node]
    return lib.sort_name(media.show) if isinstance(media, (Season, Episode)) else ""


def _provider_pairs(values: Iterable[str]) -> set[tuple[str, str]]:
    pairs = set()
    for value in values:
        name, _, ident = value.partition(".")
        if name and ident:
            pairs.add((name.strip().lower(), ident.strip().lower()))
    return pairs


def _lowered(ids: dict[str, str]) -> list[tuple[str, str]]:
    return [(k.lower(), v.lower()) for k, v in ids.items()]
