"""Reading Plex play history for the selected user, with external ids, filtered as configured.

Rows come from ``/status/sessions/history/all`` (one row per play); each played item is
hydrated once for its ``Guid[]`` (and an episode's show for the show's ids). Options:
``plex.history.libraries``, ``plex.history_ignore_local_guid``,
``plex.history_ignore_guid_prefixes``, ``plex.history_require_external_ids`` and
``plex.history.include_marked_watched`` (owner only, add-only, only items with a timestamp).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from crosswatch.model import Item, MediaType
from crosswatch_plex.cache import Entry, ReadCache, probe
from crosswatch_plex.client import PlexClient, PlexError
from crosswatch_plex.fallback import FallbackResolver
from crosswatch_plex.guids import EXTERNAL
from crosswatch_plex.mapping import iso, section_id, to_item
from crosswatch_plex.scan import hydrate, rating_key, scan_with_shows

OWNER = 1
HISTORY = "/status/sessions/history/all"
SCOPE = "PLEX:history"


@dataclass
class HistoryRead:
    """The plays read, and those left out with the reason (for the unresolved file)."""

    plays: list[Item] = field(default_factory=list)
    skipped: list[tuple[dict[str, Any], str]] = field(default_factory=list)


async def account_id(client: PlexClient) -> int:
    """The PMS account whose history is read: ``plex.user`` (title or id), else the owner."""
    wanted = client.settings.user.strip()
    if not wanted:
        return OWNER
    body = (await client.get("/accounts", scope="PLEX:history")).get("MediaContainer", {})
    for account in body.get("Account") or ():
        if wanted in (str(account.get("id")), account.get("name"), account.get("title")):
            return int(account["id"])
    raise PlexError(f"plex.user {wanted!r} is not an account of this server (see /accounts)")


def _excluded(meta: dict[str, Any], item: Item, client: PlexClient) -> str | None:
    settings = client.settings
    guid = str(meta.get("guid") or "")
    if any(guid.startswith(prefix) for prefix in settings.history_ignore_guid_prefixes):
        return f"guid {guid.split('://', 1)[0]}:// is ignored (plex.history_ignore_guid_prefixes)"
    has_external = any(k in item.ids or k in item.show_ids for k in EXTERNAL)
    if settings.history_ignore_local_guid and item.extra.get("local_only"):
        return "local:// item (plex.history_ignore_local_guid)"
    if settings.history_require_external_ids and not has_external:
        return "no IMDb, TMDB or TVDB id (plex.history_require_external_ids)"
    return None


async def _recover(fallback: FallbackResolver, meta: dict[str, Any], item: Item, show: dict[str, Any] | None) -> Item:
    """``plex.fallback_GUID``: fill in the external ids the server did not have."""
    if item.type in (MediaType.EPISODE, MediaType.SEASON):
        if any(k in item.show_ids for k in EXTERNAL) or show is None:
            return item
        ids = await fallback.ids_for("show", show.get("title"), show.get("year"), show.get("guid"))
        return msgspec.structs.replace(item, show_ids={**item.show_ids, **ids}) if ids else item
    ids = await fallback.ids_for(str(item.type), item.title, item.year, meta.get("guid"))
    return msgspec.structs.replace(item, ids={**item.ids, **ids}) if ids else item


async def read_history(
    client: PlexClient, fallback: FallbackResolver | None = None, cache: ReadCache | None = None
) -> HistoryRead:
    """Every play of the selected user in the whitelisted libraries, as Items with ``watched_at``.

    With ``fallback`` (``plex.fallback_GUID``), items without external ids, and movies the
    server can no longer hydrate, get their ids from the metadata service or Discover. With
    ``cache``, an unchanged history costs one request and new plays only their own rows.
    """
    account = await account_id(client)
    params = {"accountID": account, "sort": "viewedAt:desc"}
    result = HistoryRead()
    key = f"account:{account}"
    entry = None
    if cache is not None:
        fingerprint = await probe(client, HISTORY, params, SCOPE)
        entry = await cache.get(key)
        if entry is not None and entry.fingerprint == fingerprint:
            cache.hits += 1
            result.plays = list(entry.items)
        else:
            entry = await _grow(client, params, entry, fingerprint, result, fallback)
            if entry is None:
                rows = await client.get_all(HISTORY, params=params, scope=SCOPE)
                await _plays(client, rows, fallback, result)
                entry = _entry(fingerprint, rows, result.plays)
            await cache.put(key, entry)
            await cache.save(keep={key})
    else:
        rows = await client.get_all(HISTORY, params=params, scope=SCOPE)
        await _plays(client, rows, fallback, result)
    if client.settings.history.include_marked_watched and account == OWNER:
        played = {str(p.extra.get("ratingKey")) for p in result.plays}
        await _add_marked_watched(client, set(client.settings.history.libraries), played, result)
    if fallback is not None:
        await fallback.save()
    return result


def _entry(fingerprint: list[Any], rows: list[dict[str, Any]], plays: list[Item]) -> Entry:
    newest = max((v for r in rows if isinstance(v := r.get("viewedAt"), int)), default=0)
    keys = [str(r.get("historyKey")) for r in rows]
    return Entry(fingerprint=fingerprint, read_at=time.time(), items=list(plays), keys=keys, newest=newest)


async def _grow(
    client: PlexClient,
    params: dict[str, Any],
    entry: Entry | None,
    fingerprint: list[Any],
    result: HistoryRead,
    fallback: FallbackResolver | None,
) -> Entry | None:
    """Only new plays since the cached read, when that makes the whole history; else None."""
    total = fingerprint[0]
    if entry is None or not isinstance(total, int) or total <= len(entry.keys) or not entry.newest:
        return None
    rows = await client.get_all(HISTORY, params={**params, "viewedAt>": entry.newest}, scope=SCOPE)
    known = set(entry.keys)
    new = [r for r in rows if str(r.get("historyKey")) not in known]
    if len(known) + len(new) != total:  # plays were also deleted: read the whole history
        return None
    await _plays(client, new, fallback, result)
    result.plays += entry.items
    newest = max([entry.newest, *(r["viewedAt"] for r in new if isinstance(r.get("viewedAt"), int))])
    keys = [*(str(r.get("historyKey")) for r in new), *entry.keys]
    return Entry(fingerprint=fingerprint, read_at=entry.read_at, items=list(result.plays), keys=keys, newest=newest)


async def _plays(
    client: PlexClient, rows: list[dict[str, Any]], fallback: FallbackResolver | None, result: HistoryRead
) -> None:
    """History rows -> plays (hydrated once per item, filtered as configured) into ``result``."""
    libraries = set(client.settings.history.libraries)
    rows = [r for r in rows if not libraries or section_id(r.get("librarySectionID")) in libraries]
    metas = await hydrate(client, {str(r.get("ratingKey")) for r in rows}, SCOPE)
    shows = await hydrate(
        client, {str(m.get("grandparentRatingKey")) for m in metas.values() if m.get("type") == "episode"}, SCOPE
    )
    titles: dict[str, tuple[Item | None, str]] = {}  # ratingKey -> (item, why it is left out): once per title
    for row in rows:
        key = str(row.get("ratingKey"))
        if key not in titles:
            titles[key] = await _title(client, key, row, metas, shows, fallback)
        item, reason = titles[key]
        if reason:
            result.skipped.append((row, reason))
            continue
        if item is None:
            continue
        extra = {**item.extra, "historyKey": row.get("historyKey"), "account": row.get("accountID", OWNER)}
        result.plays.append(msgspec.structs.replace(item, watched_at=iso(row.get("viewedAt")), extra=extra))


async def _title(
    client: PlexClient,
    key: str,
    row: dict[str, Any],
    metas: dict[str, dict[str, Any]],
    shows: dict[str, dict[str, Any]],
    fallback: FallbackResolver | None,
) -> tuple[Item | None, str]:
    """One played title as an Item, or why its plays are left out."""
    meta = metas.get(key)
    if meta is None and fallback is not None and row.get("type") == "movie" and rating_key(row.get("ratingKey")):
        meta = {name: row.get(name) for name in ("ratingKey", "type", "title", "year", "guid", "librarySectionID")}
    if meta is None:
        return None, "Plex no longer knows this item (metadata 404)"
    show = shows.get(str(meta.get("grandparentRatingKey")))
    item = to_item(meta, show=show)
    if item is None:
        return None, ""
    if fallback is not None and not any(k in item.ids or k in item.show_ids for k in EXTERNAL):
        item = await _recover(fallback, meta, item, show)
    return item, _excluded(meta, item, client) or ""


async def _add_marked_watched(client: PlexClient, libraries: set[int], played: set[str], result: HistoryRead) -> None:
    """Owner only: items Plex counts as watched without a play row.

    One with a ``lastViewedAt`` is a play at that time. One without is read with no
    ``watched_at``: it cannot become a play elsewhere (syncs skip it, captures count and leave
    it out), but a clear still finds it.
    """
    for meta, show in await scan_with_shows(client, sorted(libraries), {"viewCount>>": 0}, "PLEX:history"):
        if str(meta.get("ratingKey")) in played:
            continue
        when = iso(meta.get("lastViewedAt"))
        item = to_item(meta, show=show)
        if item is None:
            continue
        if _excluded(meta, item, client) is None:
            extra = {**item.extra, "marked_watched": True, "account": OWNER}
            result.plays.append(msgspec.structs.replace(item, watched_at=when, extra=extra))
