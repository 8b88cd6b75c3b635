"""Plex guids -> external ids: modern ``Guid[]`` children, legacy agent guids, local and none.

- ``Guid[]`` children: ``imdb://tt0111161``, ``tmdb://278``, ``tvdb://81189``.
- ``plex://movie/5d7768...``: Plex's own key (kept as ``plex``; not an external id).
- Legacy agents: ``com.plexapp.agents.imdb://tt0111161?lang=en``,
  ``com.plexapp.agents.themoviedb://278?lang=en``, ``com.plexapp.agents.thetvdb://81189/1/2?lang=en``
  (for an episode the number is the **show's** tvdb id, with season and episode), and
  ``com.plexapp.agents.hama://tvdb-81189`` (anime).
- ``local://``, ``com.plexapp.agents.none://``, ``collection://``: no external id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

EXTERNAL = ("imdb", "tmdb", "tvdb")
_CHILD = re.compile(r"^(imdb|tmdb|tvdb)://([^?/]+)")
_AGENTS = {
    "com.plexapp.agents.imdb": "imdb",
    "com.plexapp.agents.themoviedb": "tmdb",
    "com.plexapp.agents.tmdb": "tmdb",
    "com.plexapp.agents.thetvdb": "tvdb",
    "com.plexapp.agents.thetvdbdvdorder": "tvdb",
}
_HAMA = re.compile(r"^(tvdb|tmdb|imdb)\d*-(\w+)")


@dataclass
class ParsedGuid:
    """What one item's guids say: its own ids, and for legacy episodes the show's id and numbers."""

    ids: dict[str, str] = field(default_factory=dict)
    show_ids: dict[str, str] = field(default_factory=dict)
    season: int | None = None
    episode: int | None = None
    local_only: bool = False

    @property
    def has_external(self) -> bool:
        return any(k in self.ids or k in self.show_ids for k in EXTERNAL)


def parse_guid(guid: str | None) -> ParsedGuid:
    """One ``guid`` attribute (modern or legacy)."""
    parsed = ParsedGuid()
    if not guid:
        return parsed
    scheme, sep, rest = guid.partition("://")
    if not sep:
        return parsed
    rest = rest.split("?", 1)[0]
    if scheme == "plex":
        parsed.ids["plex"] = guid.split("?", 1)[0]
    elif scheme in ("local", "com.plexapp.agents.none", "collection", "library"):
        parsed.local_only = scheme == "local"
    elif scheme in _AGENTS:
        name = _AGENTS[scheme]
        parts = rest.split("/")
        # TV agents name an episode (or season) by its show's id: <show>/<season>[/<episode>]
        if name in ("tvdb", "tmdb") and len(parts) >= 3 and all(p.isdigit() for p in parts[:3]):
            parsed.show_ids[name] = parts[0]
            parsed.season, parsed.episode = int(parts[1]), int(parts[2])
        elif name in ("tvdb", "tmdb") and len(parts) == 2 and all(p.isdigit() for p in parts):
            parsed.show_ids[name] = parts[0]
            parsed.season = int(parts[1])
        elif parts[0]:
            parsed.ids[name] = parts[0]
    elif scheme == "com.plexapp.agents.hama":
        match = _HAMA.match(rest)
        if match:
            numbers = rest.split("/")[1:]
            if len(numbers) >= 2 and all(n.isdigit() for n in numbers[:2]):  # an episode: the ids are its show's
                parsed.show_ids[match[1]] = match[2]
                parsed.season, parsed.episode = int(numbers[0]), int(numbers[1])
            else:
                parsed.ids[match[1]] = match[2]
    elif scheme in EXTERNAL:
        parsed.ids[scheme] = rest.split("/")[0]
    return parsed


def parse_guids(guid: str | None, children: Iterable[dict] | None) -> ParsedGuid:
    """An item's ``guid`` plus its ``Guid[]`` children; the children win where both name an id."""
    parsed = parse_guid(guid)
    for child in children or ():
        match = _CHILD.match(str(child.get("id", "")))
        if match and match[2]:
            parsed.ids[match[1]] = match[2]
    if parsed.ids.keys() & set(EXTERNAL):
        parsed.local_only = False
    return parsed
