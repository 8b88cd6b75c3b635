"""Scanning a Plex server's libraries: sections, paged listings, and hydration with ``Guid[]``.

Episodes and seasons carry only Plex's own key for their show, so their shows are hydrated
(``/library/metadata/{ids}``) once per show for the show's external ids.
"""

from __future__ import annotations

from typing import Any

import anyio

from crosswatch_plex.client import PlexClient, PlexError
from crosswatch_plex.mapping import metadata_items

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
