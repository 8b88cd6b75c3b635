"""Experimental ``plex.fallback_GUID``: recover external ids where the server has none.

For an item the server cannot hydrate (404) or that carries no IMDb/TMDB/TVDB id:
1. its ``plex://`` guid is looked up on the metadata service (``Guid[]``);
2. else a Discover search for its exact title and year (``plex.watchlist_query_limit``
   results), accepted only on an exact title and year match, then looked up as in 1.
Answers, misses included, are memoised in ``.cw_state/plex_fallback_memo.json``: delete it to
retry. It costs requests; run it once to carry old data over, then turn it off.
"""

from __future__ import annotations

from typing import Any

import anyio
import structlog

from crosswatch.http import HttpError
from crosswatch.state import StateDir
from crosswatch_plex.client import PlexClient
from crosswatch_plex.guids import EXTERNAL, parse_guids
from crosswatch_plex.mapping import metadata_items

log = structlog.get_logger("crosswatch.plex")

#: ``plex_fallback_memo.json``: a plex:// guid or ``kind:title:year`` -> the ids found ({} for none)
Memo = dict[str, dict[str, str]]


class FallbackResolver:
    """Ids for items the server could not give, memoised per guid or title+year."""

    def __init__(self, client: PlexClient, state: StateDir, prefix: str) -> None:
        self.client = client
        self.state = state
        self.name = f"{prefix}_fallback_memo.json"
        self._memo: Memo | None = None
        self.lookups = 0

    async def _load(self) -> Memo:
        if self._memo is None:
            memo: Memo = await anyio.to_thread.run_sync(
                lambda: self.state.read_json_or_default(
                    self.name, {}, type=Memo, instead="its items are looked up again (and memoised afresh)"
                )
            )
            self._memo = memo
            return memo
        return self._memo

    async def save(self) -> None:
        if self._memo is not None:
            memo = self._memo
            await anyio.to_thread.run_sync(lambda: self.state.write_json(self.name, memo))

    async def ids_for(self, kind: str, title: str | None, year: int | None, guid: str | None) -> dict[str, str]:
        """External ids for one item ({} when nothing matched); memoised."""
        memo = await self._load()
        key = guid if guid and guid.startswith("plex://") else f"{kind}:{title}:{year}"
        if key in memo:
            return memo[key]
        ids: dict[str, str] = {}
        try:
            if guid and guid.startswith("plex://"):
                ids = await self._metadata(guid.rsplit("/", 1)[-1])
            if not ids and title and kind in ("movie", "show"):
                ids = await self._search(kind, title, year)
        except HttpError as exc:  # an outage is not a miss: do not memoise it
            log.warning("plex.fallback_failed", scope="PLEX:fallback", title=title, error=str(exc))
            return {}
        memo[key] = ids
        return ids

    async def _metadata(self, discover_key: str) -> dict[str, str]:
        self.lookups += 1
        try:
            body = await self.client.get(
                f"/library/metadata/{discover_key}", base=self.client.settings.metadata_url, scope="PLEX:fallback"
            )
        except HttpError as exc:
            if exc.status == 404:
                return {}
            raise
        for meta in metadata_items(body):
            parsed = parse_guids(meta.get("guid"), meta.get("Guid"))
            return {k: v for k, v in parsed.ids.items() if k in EXTERNAL}
        return {}

    async def _search(self, kind: str, title: str, year: int | None) -> dict[str, str]:
        self.lookups += 1
        params: dict[str, Any] = {
            "query": title,
            "limit": self.client.settings.watchlist_query_limit,
            "searchTypes": "movies,tv",
        }
        body = await self.client.get(
            "/library/search", base=self.client.settings.discover_url, params=params, scope="PLEX:fallback"
        )
        for group in body.get("MediaContainer", {}).get("SearchResults") or ():
            for result in group.get("SearchResult") or ():
                meta = result.get("Metadata") or {}
                if (
                    meta.get("type") == kind
                    and meta.get("title") == title
                    and (year is None or meta.get("year") == year)
                ):
                    return await self._metadata(str(meta.get("ratingKey")))
        return {}
