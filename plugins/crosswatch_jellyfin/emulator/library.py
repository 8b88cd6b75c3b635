"""The server's library over the catalogue: item ids, libraries (views), ProviderIds, dates.

Everything here is a pure function of ``(catalogue, seed, flavour)``, except ``saved`` (an
item's ``DateLastSaved``), which ``touch`` moves as a metadata refresh would:

- **items** in catalogue order: a movie; or a series, its first season, that season's
  episodes, the next season, ... Types ``Movie``, ``Series``, ``Season``, ``Episode``.
- **ids**: Jellyfin: 32 lower-case hex digits (seeded); Emby: decimal strings counting up
  from a seeded base. Dashed or upper-case Guids are accepted on input, as Jellyfin does.
- **libraries** (``CollectionFolder`` views): "Movies" (``movies``: every movie), "Shows"
  (``tvshows``: every series), "Music" (``music``: empty, a library clients must skip).
- **ProviderIds**, one style per title (a series' style holds for its seasons and episodes):

  ==========  =====  ====================================================================
  style       share  ProviderIds
  ==========  =====  ====================================================================
  full        88 %   movie ``Imdb``, ``Tmdb``; series ``Imdb``, ``Tmdb``, ``Tvdb``; season
                     ``Tvdb``, ``Tmdb``; episode ``Tvdb``, ``Tmdb``, ``Imdb`` (when the
                     catalogue has one)
  tmdb_only    4 %   ``Tmdb`` only
  imdb_only    3 %   ``Imdb`` only (seasons, and episodes without one: none)
  no_ids       5 %   ``{}`` (an unidentified item)
  ==========  =====  ====================================================================

- **dates**: ``DateCreated`` in 2019-2024, ``DateLastSaved`` up to 30 days later,
  ``PremiereDate`` from the catalogue (release day, first air day).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from crosswatch.emulation.catalog import Catalog, Episode, Media, Movie, Season, Show
from crosswatch_jellyfin.emulator.flavour import Flavour

FULL, TMDB_ONLY, IMDB_ONLY, NO_IDS = range(4)
STYLES = ("full", "tmdb_only", "imdb_only", "no_ids")
_STYLE_CUTS = ((0.88, FULL), (0.92, TMDB_ONLY), (0.95, IMDB_ONLY), (1.01, NO_IDS))
ITEM_TYPES = {"movie": "Movie", "show": "Series", "season": "Season", "episode": "Episode"}
KINDS = {v: k for k, v in ITEM_TYPES.items()}
TICKS = 10_000_000
_ADDED_BASE, _ADDED_SPAN = 1_546_300_800, 6 * 365 * 86_400
_ARTICLES = ("the ", "a ", "an ")
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Folder:
    """A library (``CollectionFolder``), the playlists folder, or the user's root folder."""

    id: str
    name: str
    collection_type: str  # movies | tvshows | music | playlists | "" for the root
    type: str = "CollectionFolder"
    created: float = float(_ADDED_BASE)


def sort_title(title: str) -> str:
    """``SortName`` of a movie or series: lower case, a leading article dropped."""
    lower = title.lower()
    for article in _ARTICLES:
        if lower.startswith(article):
            return lower[len(article) :]
    return lower


class Library:
    """The emulated server's items and libraries (see the module docstring)."""

    def __init__(self, catalog: Catalog, seed: int, flavour: Flavour) -> None:
        self.catalog, self.flavour = catalog, flavour
        rng = random.Random(f"crosswatch-jellyfin-library:{seed}")
        self.guid_ids = flavour.item_ids == "guid"
        self._rng = rng
        self._next_number = 10_000 + rng.randrange(90_000)  # Emby's ids count up from here
        self.root = Folder(self.new_id(), "Media Folders", "", "UserRootFolder")
        self.movies_view = Folder(self.new_id(), "Movies", "movies")
        self.shows_view = Folder(self.new_id(), "Shows", "tvshows")
        self.music_view = Folder(self.new_id(), "Music", "music")
        self.playlists_folder = Folder(self.new_id(), "Playlists", "playlists", "ManualPlaylistsFolder")
        self.folders = {f.id: f for f in (self.root, self.movies_view, self.shows_view, self.music_view)}
        self.folders[self.playlists_folder.id] = self.playlists_folder
        self._merged: dict[tuple[str, ...], list[int]] = {}
        self.media: list[Media] = []
        self.index: dict[Media, int] = {}
        self.style: dict[Movie | Show, int] = {}
        # the styles have their own generator, so Jellyfin and Emby of one seed show the same ProviderIds
        rand = random.Random(f"crosswatch-jellyfin-styles:{seed}").random
        media, index, style = self.media, self.index, self.style
        for title in catalog.titles:
            roll = rand()
            style[title] = next(code for cut, code in _STYLE_CUTS if roll < cut)
            index[title] = len(media)
            media.append(title)
            if isinstance(title, Show):
                for season in title.seasons:
                    index[season] = len(media)
                    media.append(season)
                    for episode in season.episodes:
                        index[episode] = len(media)
                        media.append(episode)
        if self.guid_ids:
            bits = rng.getrandbits
            self.ids = [f"{bits(128):032x}" for _ in media]
        else:
            first = self._next_number + 100
            self.ids = [str(first + i) for i in range(len(media))]
            self._next_number = first + len(media)
        self.by_id = {item_id: i for i, item_id in enumerate(self.ids)}
        self.created = [float(_ADDED_BASE + (i * 104_729) % _ADDED_SPAN) for i in range(len(media))]
        self.saved = [at + (i * 7_919) % (30 * 86_400) for i, at in enumerate(self.created)]

    def __len__(self) -> int:
        return len(self.media)

    # -- ids ------------------------------------------------------------------------------------

    def new_id(self) -> str:
        """A fresh id of this server's kind (folders, playlists, playlist entries, sessions)."""
        if self.guid_ids:
            return f"{self._rng.getrandbits(128):032x}"
        self._next_number += 1
        return str(self._next_number)

    def parse_id(self, raw: str | None) -> str | None:
        """An id as the server stores it, or None when ``raw`` is not one (a 400 for Jellyfin)."""
        if raw is None:
            return None
        text = raw.strip()
        if self.guid_ids:
            text = text.replace("-", "").lower()
            return text if len(text) == 32 and set(text) <= _HEX else None
        return text if text.isdigit() else None

    @staticmethod
    def parse_user_id(raw: str) -> str | None:
        """A user id (32 hex; dashes and upper case accepted) or None when malformed."""
        text = raw.strip().replace("-", "").lower()
        return text if len(text) == 32 and set(text) <= _HEX else None

    def id_of(self, media: Media) -> str:
        return self.ids[self.index[media]]

    def get(self, item_id: str | None) -> Media | None:
        """The media of an item id (already parsed), or None."""
        i = self.by_id.get(item_id) if item_id is not None else None
        return self.media[i] if i is not None else None

    # -- what the server shows ------------------------------------------------------------------

    def title_of(self, media: Media) -> Movie | Show:
        return media.show if isinstance(media, (Season, Episode)) else media

    def view_of(self, media: Media) -> Folder:
        return self.movies_view if isinstance(media, Movie) else self.shows_view

    def views(self) -> list[Folder]:
        """The libraries, in the order the server lists them."""
        return [self.movies_view, self.shows_view, self.music_view]

    def provider_ids(self, media: Media) -> dict[str, str]:
        """``ProviderIds`` of an item (by its title's style)."""
        style = self.style[self.title_of(media)]
        if style == NO_IDS:
            return {}
        imdb = getattr(media, "imdb", None)
        if style == TMDB_ONLY:
            return {"Tmdb": str(media.tmdb)}
        if style == IMDB_ONLY:
            return {"Imdb": imdb} if imdb and not isinstance(media, Season) else {}
        if isinstance(media, Movie):
            return {"Imdb": media.imdb, "Tmdb": str(media.tmdb)}
        if isinstance(media, Show):
            return {"Imdb": media.imdb, "Tmdb": str(media.tmdb), "Tvdb": str(media.tvdb)}
        if isinstance(media, Season):
            return {"Tvdb": str(media.tvdb), "Tmdb": str(media.tmdb)}
        out = {"Tvdb": str(media.tvdb), "Tmdb": str(media.tmdb)}
        if imdb:
            out["Imdb"] = imdb
        return out

    def user_data_key(self, media: Media) -> str:
        """``UserData.Key``: movie Tmdb, Imdb or Guid; series Tvdb, Imdb or Guid; + ``SSS``/``SSSEEE``."""
        ids = self.provider_ids(media)
        if isinstance(media, Movie):
            return ids.get("Tmdb") or ids.get("Imdb") or self.id_of(media)
        show = self.title_of(media)
        assert isinstance(show, Show)
        show_ids = self.provider_ids(show)
        base = show_ids.get("Tvdb") or show_ids.get("Imdb") or self.id_of(show)
        if isinstance(media, Season):
            return f"{base}{media.number:03d}"
        if isinstance(media, Episode):
            return f"{base}{media.season:03d}{media.number:03d}"
        return base

    def name(self, media: Media) -> str:
        if isinstance(media, Season):
            return f"Season {media.number}"
        return media.title

    def sort_name(self, media: Media) -> str:
        if isinstance(media, (Movie, Show)):
            return sort_title(media.title)
        if isinstance(media, Season):
            return f"season {media.number:04d}"
        return f"{media.season:03d} - {media.number:04d} - {media.title.lower()}"

    def runtime_ticks(self, media: Media) -> int | None:
        if isinstance(media, Season):
            return None
        return media.runtime * 60 * TICKS

    def premiere(self, media: Media) -> float | None:
        if isinstance(media, Movie):
            return float(media.released)
        if isinstance(media, Episode):
            return float(media.aired)
        show = self.title_of(media)
        assert isinstance(show, Show)
        season = media if isinstance(media, Season) else (show.seasons[0] if show.seasons else None)
        return float(season.episodes[0].aired) if season and season.episodes else None

    def touch(self, indices: Iterable[int], at: float) -> int:
        """``DateLastSaved = at`` for these items (a metadata refresh); how many."""
        count = 0
        for i in indices:
            self.saved[i] = at
            count += 1
        return count

    # -- lists in the default order (SortName, then Name) ---------------------------------------

    def _sorted(self, items: Iterable[Media]) -> list[int]:
        index = self.index
        return [index[m] for m in sorted(items, key=lambda m: (self.sort_name(m), self.name(m), index[m]))]

    @cached_property
    def rank(self) -> list[int]:
        """Each item's place in the default order of the whole library."""
        out = [0] * len(self.media)
        for place, i in enumerate(self._sorted(self.media)):
            out[i] = place
        return out

    @cached_property
    def movies(self) -> list[int]:
        return self._sorted(self.catalog.movies)

    @cached_property
    def series(self) -> list[int]:
        return self._sorted(self.catalog.shows)

    @cached_property
    def seasons(self) -> list[int]:
        return self._sorted(self.catalog.seasons())

    @cached_property
    def episodes(self) -> list[int]:
        return self._sorted(self.catalog.episodes())

    def merged(self, kinds: tuple[str, ...]) -> list[int]:
        """Every item of these types (``Movie``, ``Series``, ``Season``, ``Episode``) in the
        default order; built once per combination. Callers must not change the list."""
        cached = self._merged.get(kinds)
        if cached is None:
            pools = {"Movie": self.movies, "Series": self.series, "Season": self.seasons, "Episode": self.episodes}
            chosen = [pools[k] for k in kinds]
            if len(chosen) == 1:
                cached = chosen[0]
            else:
                rank = self.rank
                cached = sorted((i for pool in chosen for i in pool), key=rank.__getitem__)
            self._merged[kinds] = cached
        return cached

    def children(self, media: Media) -> list[Media]:
        """A series' seasons or a season's episodes (empty for movies and episodes)."""
        if isinstance(media, Show):
            return list(media.seasons)
        if isinstance(media, Season):
            return list(media.episodes)
        return []


def leaves(media: Media) -> list[Movie | Episode]:
    """The playable items under a media (itself for movies and episodes)."""
    if isinstance(media, Show):
        return [ep for season in media.seasons for ep in season.episodes]
    if isinstance(media, Season):
        return list(media.episodes)
    return [media]
