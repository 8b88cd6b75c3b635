"""Reading Plex resume positions ("Continue Watching") of the whitelisted libraries."""

from __future__ import annotations

import msgspec

from crosswatch.model import Item
from crosswatch_plex.client import PlexClient
from crosswatch_plex.mapping import iso, to_item
from crosswatch_plex.scan import scan_with_shows


async def read_progress(client: PlexClient) -> list[Item]:
    """Movies and episodes with a resume position, as ``progress_ms`` of ``duration_ms``."""
    items: list[Item] = []
    entries = await scan_with_shows(client, client.settings.progress.libraries, {"inProgress": 1}, "PLEX:progress")
    for meta, show in entries:
        offset = meta.get("viewOffset")
        item = to_item(meta, show=show)
        if item is None or not isinstance(offset, int) or offset <= 0:
            continue
        percent = round(100 * offset / item.duration_ms, 2) if item.duration_ms else None
        paused = iso(meta.get("lastViewedAt") or meta.get("updatedAt"))
        items.append(msgspec.structs.replace(item, progress_ms=offset, progress=percent, paused_at=paused))
    return items
