"""Reading Plex ratings: scan the (whitelisted) libraries for items with a ``userRating``.

Episodes and seasons carry only Plex's own key for their show, so their shows are
hydrated (``/library/metadata/{ids}`` with ``Guid[]``) for the show's external ids.
"""

from __future__ import annotations

from typing import Any

import anyio
import msgspec

from crosswatch.model import Item
from crosswatch_plex.client import PlexClient, PlexError
from crosswatch_plex.mapping import iso, metadata_items, rating_of, to_item

SECTION_TYPES = {"movie": (1,), "show": (2, 3, 4)}
HYDRATE_BATCH = 50


async def library_sections(client: PlexClient, wanted: list[int]) -> list[dict[str, Any]]:
    """Movie and show sections, limited to ``wanted`` section ids when given."""
    body = (await client.get("/library/sections")).get("MediaContainer", {})
    sections = [d for d in body.get("Directory") or () if d.get("type") in SECTION_TYPES]
    return [d for d in sections if not wanted or int(d["key"]) in wanted]


async def hydrate(
    client: PlexClient, keys: set[str], scope: str = "PLEX", base: str | None = None
) -> dict[str, dict[str, Any]]:
    """Metadata (with ``Guid[]``) of ``keys``, fetched in batches at the policy's concurrency."""
    found: dict[str, dict[str, Any]] = {}
    ordered = sorted(k for k in keys if k)

    async def fetch(batch: list[str]) -> None:
        try:
            path = f"/library/metadata/{','.join(batch)}"
            body = await client.get(path, base=base, params={"includeGuids": 1}, scope=scope)
        except PlexError as exc:
            if exc.status != 404:
                raise
            return  # none of these is known any more: the caller reports them as missing
        for meta in metadata_items(body):
            found[str(meta.get("ratingKey"))] = meta

    async with anyio.create_task_group() as tg:
        for i in range(0, len(ordered), HYDRATE_BATCH):
            tg.start_soon(fetch, ordered[i : i + HYDRATE_BATCH])
    return found


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


async def scan_with_shows(
    client: PlexClient, libraries: list[int], params: dict[str, Any], scope: str, *, kinds: tuple[int, ...] = (1, 4)
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Every item of ``kinds`` in the libraries matching ``params``, with its show's metadata."""
    found: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for section in await library_sections(client, libraries):
        for kind in (k for k in SECTION_TYPES[section["type"]] if k in kinds):
            entries = await client.get_all(
                f"/library/sections/{section['key']}/all",
                params={"type": kind, "includeGuids": 1, **params},
                scope=scope,
            )
            parents = {str(e.get("grandparentRatingKey")) for e in entries if e.get("grandparentRatingKey")}
            shows = await hydrate(client, parents, scope)
            found += [(e, shows.get(str(e.get("grandparentRatingKey")))) for e in entries]
    return found
