"""Reads that cost a few requests when nothing changed: a cached read checked by a cheap probe.

Each cached listing (one library section and type for ratings, one account's play history)
is kept with a fingerprint from one request of a single entry, sorted newest first: the
listing's ``totalSize`` and its newest entry. A rating given, changed or cleared, or a play
added or deleted, changes it. Cached reads are also dropped after ``MAX_AGE_S`` (a re-match
in Plex can change an item's ids without touching ratings or plays) and whenever a setting
that shapes the read changes. The cache lives in ``.cw_state/plex_<feature>.index.json``;
deleting it forces a full read.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import anyio
import msgspec

from crosswatch.model import Item
from crosswatch.state import StateDir
from crosswatch_plex.client import PlexClient, listing_page

MAX_AGE_S = 6 * 3600
VERSION = 1


class Entry(msgspec.Struct, kw_only=True):
    """One cached listing: its fingerprint, when it was read, and the Items made of it."""

    fingerprint: list[Any]
    read_at: float
    items: list[Item] = []
    keys: list[str] = []  # history: every row's historyKey, filtered out or not
    newest: int = 0  # history: the newest row's viewedAt


class CacheFile(msgspec.Struct, kw_only=True):
    """``plex_<feature>.index.json``: the cached listings, with the cache's version and settings digest."""

    version: int
    settings: str
    entries: dict[str, Entry] = {}


def settings_digest(*parts: Any) -> str:
    """A short digest of the settings a read depends on (a change drops the cache)."""
    return hashlib.sha256(msgspec.json.encode(parts)).hexdigest()[:16]


async def probe(client: PlexClient, path: str, params: dict[str, Any], scope: str) -> list[Any]:
    """The fingerprint of a listing sorted newest first: total and newest entry, in one request."""
    query = {**params, "X-Plex-Container-Start": 0, "X-Plex-Container-Size": 1}
    entries, total = listing_page(await client.get(path, params=query, scope=scope), f"GET {path}")
    first = entries[0] if entries else {}
    fields = ("ratingKey", "historyKey", "viewedAt", "lastRatedAt", "userRating", "lastViewedAt", "viewCount")
    return [total, *(first.get(f) for f in fields)]


class ReadCache:
    """The cached listings of one feature of one Plex profile."""

    def __init__(self, state: StateDir, prefix: str, feature: str, settings: str) -> None:
        self.state = state
        self.name = f"{prefix}_{feature}.index.json"
        self.settings = settings
        self._file: CacheFile | None = None
        self.hits = 0

    async def _load(self) -> CacheFile:
        if self._file is None:
            fresh = CacheFile(version=VERSION, settings=self.settings)
            loaded = await anyio.to_thread.run_sync(
                lambda: self.state.read_json_or_default(
                    self.name, fresh, type=CacheFile, instead="it is only a cache: Plex is read in full"
                )
            )
            if loaded.version != VERSION or loaded.settings != self.settings:
                loaded = fresh
            self._file = loaded
        return self._file

    async def get(self, key: str, fingerprint: list[Any] | None = None) -> Entry | None:
        """The entry under ``key`` if it is young enough (and has ``fingerprint``, when given)."""
        entry = (await self._load()).entries.get(key)
        if entry is None or time.time() - entry.read_at > MAX_AGE_S:
            return None
        if fingerprint is not None and entry.fingerprint != fingerprint:
            return None
        self.hits += fingerprint is not None
        return entry

    async def put(self, key: str, entry: Entry) -> None:
        (await self._load()).entries[key] = entry

    async def forget(self) -> None:
        """Drop the whole cache (after crosswatch's own writes: the next read is a full one)."""
        self._file = None
        await anyio.to_thread.run_sync(self.state.remove, self.name)

    async def save(self, keep: set[str] | None = None) -> None:
        """Write the cache; ``keep`` drops entries of listings that no longer exist."""
        if self._file is None:
            return
        data = self._file
        if keep is not None:
            data.entries = {k: v for k, v in data.entries.items() if k in keep}
        await anyio.to_thread.run_sync(lambda: self.state.write_json(self.name, data, pretty=False))
