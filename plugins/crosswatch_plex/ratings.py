"""Reading Plex ratings: scan the (whitelisted) libraries for items with a ``userRating``."""

from __future__ import annotations

from typing import Any

import msgspec

from crosswatch.model import Item
from crosswatch_plex.client import PlexClient
from crosswatch_plex.mapping import iso, rating_of, to_item
from crosswatch_plex.scan import SECTION_TYPES, hydrate, library_sections


async def read_ratings(client: PlexClient) -> list[Item]:
    """Every rated movie, show, season and episode of the whitelisted libraries."""
    rated: list[dict[str, Any]] = []
    for section in await library_sections(client, client.settings.ratings.libraries):
        for kind in SECTION_TYPES[section["type"]]:
            entries = await client.get_all(
                f"/library/sections/{section['key']}/all",
                params={"type": kind, "includeGuids": 1, "userRating>>": 0},
                scope="PLEX:ratings",
            )
            rated += [{"librarySectionID": int(section["key"]), **entry} for entry in entries]
    show_key = {"episode": "grandparentRatingKey", "season": "parentRatingKey"}
    shows = await hydrate(
        client, {str(m.get(show_key[m["type"]], "")) for m in rated if m.get("type") in show_key}, "PLEX:ratings"
    )
    items = []
    for meta in rated:
        rating = rating_of(meta)
        parent = shows.get(str(meta.get(show_key.get(str(meta.get("type")), ""), "")))
        item = to_item(meta, show=parent)
        if item is None or rating is None:
            continue
        items.append(msgspec.structs.replace(item, rating=rating, rated_at=iso(meta.get("lastRatedAt"))))
    return items
