"""Reading Plex ratings: scan the (whitelisted) libraries for items with a ``userRating``.

With a :class:`~crosswatch_plex.cache.ReadCache`, each library section and type is first
probed (one request, newest rating first) and read again only when its fingerprint moved.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from crosswatch.model import Item
from crosswatch_plex.cache import Entry, ReadCache, probe
from crosswatch_plex.client import PlexClient
from crosswatch_plex.mapping import iso, rating_of, to_item
from crosswatch_plex.scan import SECTION_TYPES, hydrate, library_sections

SCOPE = "PLEX:ratings"
SHOW_KEY = {"episode": "grandparentRatingKey", "season": "parentRatingKey"}


async def read_ratings(client: PlexClient, cache: ReadCache | None = None) -> list[Item]:
    """Every rated movie, show, season and episode of the whitelisted libraries."""
    items: list[Item] = []
    fresh: dict[str, tuple[list[Any], list[dict[str, Any]]]] = {}
    listings: set[str] = set()
    for section in await library_sections(client, client.settings.ratings.libraries):
        for kind in SECTION_TYPES[section["type"]]:
            path = f"/library/sections/{section['key']}/all"
            params = {"type": kind, "includeGuids": 1, "userRating>>": 0}
            key = f"{section['key']}:{kind}"
            listings.add(key)
            fingerprint: list[Any] = []
            if cache is not None:
                fingerprint = await probe(client, path, {**params, "sort": "lastRatedAt:desc"}, SCOPE)
                entry = await cache.get(key, fingerprint)
                if entry is not None:
                    items += entry.items
                    continue
            entries = await client.get_all(path, params=params, scope=SCOPE)
            fresh[key] = (fingerprint, [{"librarySectionID": int(section["key"]), **e} for e in entries])
    rated = [meta for _, metas in fresh.values() for meta in metas]
    shows = await hydrate(
        client, {str(m.get(SHOW_KEY[m["type"]], "")) for m in rated if m.get("type") in SHOW_KEY}, SCOPE
    )
    now = time.time()
    for key, (fingerprint, metas) in fresh.items():
        read = [item for meta in metas if (item := _rated(meta, shows)) is not None]
        items += read
        if cache is not None:
            await cache.put(key, Entry(fingerprint=fingerprint, read_at=now, items=read))
    if cache is not None:
        await cache.save(keep=listings)
    return items


def _rated(meta: dict[str, Any], shows: dict[str, dict[str, Any]]) -> Item | None:
    rating = rating_of(meta)
    parent = shows.get(str(meta.get(SHOW_KEY.get(str(meta.get("type")), ""), "")))
    item = to_item(meta, show=parent)
    if item is None or rating is None:
        return None
    return msgspec.structs.replace(item, rating=rating, rated_at=iso(meta.get("lastRatedAt")))
