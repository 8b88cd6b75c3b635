"""Reading Plex resume positions ("Continue Watching") of the whitelisted libraries."""

from __future__ import annotations

import msgspec

from crosswatch.model import Item
from crosswatch_plex.client import PlexClient
from crosswatch_plex.mapping import iso, to_item
from crosswatch_plex.ratings import hydrate, library_sections


async def read_progress(client: PlexClient) -> list[Item]:
    """Movies and episodes with a resume position, as ``progress_ms`` of ``duration_ms``."""
    items: list[Item] = []
    for section in await library_sections(client, client.settings.progress.libraries):
        kind = 1 if section["type"] == "movie" else 4
        entries = await client.get_all(
            f"/library/sections/{section['key']}/all",
            params={"type": kind, "includeGuids": 1, "inProgress": 1},
            scope="PLEX:progress",
        )
        shows = await hydrate(
            client, {str(e.get("grandparentRatingKey")) for e in entries if kind == 4}, "PLEX:progress"
        )
        for meta in entries:
            offset = meta.get("viewOffset")
            item = to_item(meta, show=shows.get(str(meta.get("grandparentRatingKey"))))
            if item is None or not isinstance(offset, int) or offset <= 0:
                continue
            percent = round(100 * offset / item.duration_ms, 2) if item.duration_ms else None
            paused = iso(meta.get("lastViewedAt") or meta.get("updatedAt"))
            items.append(msgspec.structs.replace(item, progress_ms=offset, progress=percent, paused_at=paused))
    return items
