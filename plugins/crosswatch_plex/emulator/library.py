"""The PMS library drawn from the catalogue: sections, ratingKeys, guids, Discover keys.

Everything here is a pure function of ``(catalogue, seed)``:

- **ratingKeys** are consecutive integers from a seeded base, in catalogue order (a show,
  then its first season, that season's episodes, the next season, ...), so a key maps to
  its media by a list index and back by one dict.
- **Discover keys** (24 hex, shaped like Plex's ``5d776825880197001ec967c6``) are derived
  from the same index, so they need no table either; every movie, show, season and episode
  has one, and ``plex://<type>/<key>`` is its modern guid.
- **Sections**: 1 "Movies" (every movie), 2 "TV Shows" (every show), 3 "Music" (empty, an
  artist section that clients must skip).
- **Guid styles**, one per title (a show's style holds for its seasons and episodes):

  ===========  ======  ====================================================================
  style        share   what PMS shows
  ===========  ======  ====================================================================
  modern       80 %    ``plex://movie/<hex>``; ``Guid`` children ``imdb://``, ``tmdb://``,
                       ``tvdb://`` (those the catalogue has)
  legacy       8 %     ``com.plexapp.agents.imdb://tt...?lang=en`` (movies),
                       ``com.plexapp.agents.thetvdb://<show>/<season>/<episode>?lang=en``
                       (shows); no ``Guid`` children
  legacy_tmdb  4 %     ``com.plexapp.agents.themoviedb://<tmdb>[/<s>/<e>]?lang=en``; no children
  local        5 %     ``local://<ratingKey>`` only
  no_ids       3 %     ``plex://...`` with no ``Guid`` children (Discover still knows the ids)
  ===========  ======  ====================================================================
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from crosswatch.emulation.catalog import Catalog, Episode, Media, Movie, Season, Show

MODERN, LEGACY, LEGACY_TMDB, LOCAL, NO_IDS = range(5)
STYLES = ("modern", "legacy", "legacy_tmdb", "local", "no_ids")
_STYLE_CUTS = ((0.80, MODERN), (0.88, LEGACY), (0.92, LEGACY_TMDB), (0.97, LOCAL), (1.01, NO_IDS))

TYPE_NUMBERS = {"movie": 1, "show": 2, "season": 3, "episode": 4}
TYPE_NAMES = {v: k for k, v in TYPE_NUMBERS.items()}
#: "added to the library" times fall in 2019-2025
_ADDED_BASE, _ADDED_SPAN = 1_546_300_800, 6 * 365 * 86_400
_ARTICLES = ("the ", "a ", "an ")


@dataclass(frozen=True)
class Section:
    """One library section (``/library/sections``)."""

    id: int
    type: str  # movie, show, artist
    title: str
    uuid: str
    agent: str
    scanner: str
    location: str
    created_at: int


def title_sort(title: str) -> str:
    """PMS's ``titleSort``: lower case, a leading article dropped."""
    lower = title.lower()
    for article in _ARTICLES:
        if lower.startswith(article):
            return lower[len(article) :]
    return lower


class Library:
    """The emulated server's library over one catalogue (see the module docstring)."""

    def __init__(self, catalog: Catalog, seed: int) -> None:
        self.catalog = catalog
        rng = random.Random(f"crosswatch-plex-library:{seed}")
        self.base = 1000 + rng.randrange(9000)
        self.machine = rng.getrandbits(40)
        self._stamp = 0x5D700000 + rng.randrange(0x100000)
        self.sections = _sections(rng)
        self.media: list[Media] = []
        self.index: dict[Media, int] = {}
        self.style: dict[Movie | Show, int] = {}
        media, index, style, rand = self.media, self.index, self.style, rng.random
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

    def __len__(self) -> int:
        return len(self.media)

    # -- keys ---------------------------------------------------------------------------------

    def rk(self, media: Media) -> int:
        """The ratingKey of a catalogue media."""
        return self.base + self.index[media]

    def get(self, rk: int | str) -> Media | None:
        """The media of a ratingKey (int or string), or None."""
        if isinstance(rk, str):
            if not rk.isdigit():
                return None
            rk = int(rk)
        i = rk - self.base
        return self.media[i] if 0 <= i < len(self.media) else None

    def discover_key(self, media: Media) -> str:
        """The 24-hex Discover ratingKey of a media (an ObjectId-like string)."""
        i = self.index[media]
        return f"{(self._stamp + i * 37) & 0xFFFFFFFF:08x}{self.machine:010x}{i & 0xFFFFFF:06x}"

    def from_discover(self, key: str) -> Media | None:
        """The media of a Discover key, or None."""
        if len(key) != 24:
            return None
        try:
            i = int(key[-6:], 16)
        except ValueError:
            return None
        if i >= len(self.media):
            return None
        media = self.media[i]
        return media if self.discover_key(media) == key.lower() else None

    # -- what PMS shows -------------------------------------------------------------------------

    def title_of(self, media: Media) -> Movie | Show:
        return media.show if isinstance(media, (Season, Episode)) else media

    def style_of(self, media: Media) -> int:
        return self.style[self.title_of(media)]

    def section_of(self, media: Media) -> Section:
        return self.sections[0] if isinstance(media, Movie) else self.sections[1]

    def plex_guid(self, media: Media) -> str:
        """``plex://<type>/<discover key>`` (what Discover and the modern agent use)."""
        return f"plex://{media.kind}/{self.discover_key(media)}"

    def guid(self, media: Media) -> str:
        """The ``guid`` attribute PMS shows for this media (by its title's style)."""
        style = self.style_of(media)
        if style in (MODERN, NO_IDS):
            return self.plex_guid(media)
        if style == LOCAL:
            return f"local://{self.rk(media)}"
        if isinstance(media, Movie):
            if style == LEGACY:
                return f"com.plexapp.agents.imdb://{media.imdb}?lang=en"
            return f"com.plexapp.agents.themoviedb://{media.tmdb}?lang=en"
        show = self.title_of(media)
        assert isinstance(show, Show)  # not a movie: an episode's or a season's show
        if style == LEGACY:
            agent, root = "thetvdb", show.tvdb
        else:
            agent, root = "themoviedb", show.tmdb
        if isinstance(media, Season):
            return f"com.plexapp.agents.{agent}://{root}/{media.number}?lang=en"
        if isinstance(media, Episode):
            return f"com.plexapp.agents.{agent}://{root}/{media.season}/{media.number}?lang=en"
        return f"com.plexapp.agents.{agent}://{root}?lang=en"

    def guids(self, media: Media) -> list[str]:
        """The ``Guid`` children PMS shows (modern style only)."""
        if self.style_of(media) != MODERN:
            return []
        return external_guids(media)

    def added_at(self, media: Media) -> int:
        i = self.index[media]
        return _ADDED_BASE + (i * 104_729) % _ADDED_SPAN

    def duration_ms(self, media: Media) -> int | None:
        runtime = getattr(media, "runtime", None)
        return runtime * 60_000 if runtime else None

    # -- orders ---------------------------------------------------------------------------------

    @cached_property
    def movies_sorted(self) -> list[Movie]:
        """Movies in PMS's default order (titleSort, then year)."""
        return sorted(self.catalog.movies, key=lambda m: (title_sort(m.title), m.year, self.index[m]))

    @cached_property
    def shows_sorted(self) -> list[Show]:
        return sorted(self.catalog.shows, key=lambda s: (title_sort(s.title), s.year, self.index[s]))

    @cached_property
    def seasons_sorted(self) -> list[Season]:
        return [season for show in self.shows_sorted for season in show.seasons]

    @cached_property
    def episodes_sorted(self) -> list[Episode]:
        return [ep for show in self.shows_sorted for season in show.seasons for ep in season.episodes]

    def of_type(self, section: Section, type_number: int | None) -> Sequence[Media]:
        """The items ``/library/sections/{id}/all?type=`` lists, in default order."""
        if section.type == "movie":
            return self.movies_sorted if type_number in (None, 1) else []
        if section.type == "show":
            if type_number in (None, 2):
                return self.shows_sorted
            if type_number == 3:
                return self.seasons_sorted
            if type_number == 4:
                return self.episodes_sorted
        return []

    @cached_property
    def titles_lower(self) -> list[tuple[str, Movie | Show]]:
        return [(t.title.lower(), t) for t in self.catalog.titles]


def external_guids(media: Media) -> list[str]:
    """``imdb://``, ``tmdb://``, ``tvdb://`` ids of a media, as ``Guid`` ids (catalogue values)."""
    out = []
    imdb = getattr(media, "imdb", None)
    if imdb:
        out.append(f"imdb://{imdb}")
    out.append(f"tmdb://{media.tmdb}")
    tvdb = getattr(media, "tvdb", None)
    if tvdb:
        out.append(f"tvdb://{tvdb}")
    return out


def _sections(rng: random.Random) -> tuple[Section, ...]:
    def new_uuid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    created = 1_546_300_800
    return (
        Section(1, "movie", "Movies", new_uuid(), "tv.plex.agents.movie", "Plex Movie", "/data/Movies", created),
        Section(
            2, "show", "TV Shows", new_uuid(), "tv.plex.agents.series", "Plex TV Series", "/data/TV-Shows", created
        ),
        Section(3, "artist", "Music", new_uuid(), "tv.plex.agents.music", "Plex Music", "/data/Music", created),
    )
