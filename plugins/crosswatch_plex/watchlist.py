"""Reading the Plex watchlist through Discover, with each title's external ids (metadata service)."""

from __future__ import annotations

import time

import msgspec

from crosswatch.model import Item
from crosswatch_plex.cache import Entry, ReadCache
from crosswatch_plex.client import PlexClient, PlexError, listing_page
from crosswatch_plex.mapping import iso, metadata_items, to_item
from crosswatch_plex.scan import hydrate

WATCHLIST = "/library/sections/watchlist/all"


async def read_watchlist(client: PlexClient, cache: ReadCache | None = None) -> list[Item]:
    """The whole watchlist, page by page (pages of ``plex.watchlist_page_size``); never partial.

    With ``cache``, one request of the newest entry tells whether the list changed.
    """
    fingerprint: list = []
    if cache is not None:
        fingerprint = await _probe(client)
        entry = await cache.get("watchlist", fingerprint)
        if entry is not None:
            return list(entry.items)
    items = await _read(client)
    if cache is not None:
        await cache.put("watchlist", Entry(fingerprint=fingerprint, read_at=time.time(), items=items))
        await cache.save(keep={"watchlist"})
    return items


async def _probe(client: PlexClient) -> list:
    params = {"sort": "watchlistedAt:desc", "X-Plex-Container-Start": 0, "X-Plex-Container-Size": 1}
    body = await client.get(WATCHLIST, base=client.settings.discover_url, params=params, scope="PLEX:watchlist")
    entries, total = listing_page(body, f"GET {WATCHLIST}")
    first = entries[0] if entries else {}
    return [total, first.get("ratingKey"), first.get("watchlistedAt")]


async def _read(client: PlexClient) -> list[Item]:
    settings = client.settings
    size = settings.watchlist_page_size
    entries: list[dict] = []
    start = 0
    while True:
        params = {
            "includeCollections": 1,
            "includeExternalMedia": 1,
            "X-Plex-Container-Start": start,
            "X-Plex-Container-Size": size,
        }
        body = await client.get(WATCHLIST, base=settings.discover_url, params=params, scope="PLEX:watchlist")
        page = metadata_items(body)
        entries += page
        total = body.get("MediaContainer", {}).get("totalSize")
        start += len(page)
        if not page or (isinstance(total, int) and start >= total) or (not isinstance(total, int) and len(page) < size):
            break
    total = body.get("MediaContainer", {}).get("totalSize")
    if isinstance(total, int) and len(entries) != total:
        raise PlexError(f"GET {WATCHLIST}: read {len(entries)} of {total} items (the watchlist changed while reading?)")
    metas = await hydrate(
        client, {str(e.get("ratingKey")) for e in entries}, "PLEX:watchlist", base=settings.metadata_url
    )
    items = []
    for entry in entries:
        meta = metas.get(str(entry.get("ratingKey")), entry)
        item = to_item(meta)
        if item is not None:
            items.append(
                msgspec.structs.replace(item, listed_at=iso(entry.get("watchlistedAt") or entry.get("addedAt")))
            )
    return items
