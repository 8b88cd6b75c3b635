"""Finding a title in the Plex library by its external ids, for writes (rate, mark watched, ...).

The index maps every strong id of every movie, show, season and episode (episodes and seasons
also by their show's ids and numbers) to the item's ratingKey. It is built once per provider
instance from the whitelisted libraries; no fuzzy title matching.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crosswatch.model import Item, MediaType
from crosswatch_plex.client import PlexClient
from crosswatch_plex.guids import EXTERNAL
from crosswatch_plex.mapping import to_item
from crosswatch_plex.scan import SECTION_TYPES, hydrate, library_sections
from crosswatch_plex.scan import rating_key as plex_key


def keys_of(item: Item) -> set[tuple]:
    """Every key under which ``item`` may be found in the index."""
    keys: set[tuple[Any, ...]] = {
        (str(item.type), name, str(value)) for name, value in item.ids.items() if name in EXTERNAL
    }
    if item.type in (MediaType.EPISODE, MediaType.SEASON) and item.season is not None:
        for name, value in item.show_ids.items():
            if name in EXTERNAL:
                keys.add((str(item.type), "show-" + name, str(value), item.season, item.episode))
    return keys


class LibraryIndex:
    """External ids -> PMS ratingKey for the whitelisted libraries."""

    def __init__(self) -> None:
        self._keys: dict[tuple, str] = {}
        self.items: dict[str, Item] = {}

    @classmethod
    async def build(
        cls, client: PlexClient, libraries: Iterable[int], kinds: Iterable[int] = (1, 2, 3, 4)
    ) -> LibraryIndex:
        index = cls()
        wanted = set(kinds)
        for section in await library_sections(client, list(libraries)):
            for kind in SECTION_TYPES[section["type"]]:
                if kind not in wanted:
                    continue
                entries = await client.get_all(
                    f"/library/sections/{section['key']}/all",
                    params={"type": kind, "includeGuids": 1},
                    scope="PLEX:library",
                )
                parents = {"episode": "grandparentRatingKey", "season": "parentRatingKey"}
                show_keys = {str(e.get(parents[e["type"]])) for e in entries if e.get("type") in parents}
                shows = await hydrate(client, show_keys, "PLEX:library")
                for meta in entries:
                    parent = shows.get(str(meta.get(parents.get(str(meta.get("type")), ""), "")))
                    item = to_item(meta, show=parent)
                    if item is not None:
                        index.add(item)
        return index

    def add(self, item: Item) -> None:
        """Index ``item``; one whose ratingKey is not a PMS key is never written to, so not indexed."""
        rating_key = plex_key(item.extra.get("ratingKey"))
        if rating_key is None:
            return
        self.items[rating_key] = item
        for key in keys_of(item):
            self._keys.setdefault(key, rating_key)

    def find(self, item: Item) -> str | None:
        """The ratingKey of ``item`` in this library, or None."""
        found = next((self._keys[k] for k in keys_of(item) if k in self._keys), None)
        if found is None and item.extra.get("ratingKey") in self.items:  # an item of this server without ids
            found = str(item.extra["ratingKey"])
        return found
