"""The ``[plex]`` config section (seed key names kept, ``plex.fallback_GUID`` included)."""

from __future__ import annotations

from typing import Annotated

import msgspec

Workers = Annotated[int, msgspec.Meta(ge=1, le=64)]


class LibraryFilter(msgspec.Struct, kw_only=True, frozen=True):
    libraries: list[int] = []  # section ids; [] = every library the account sees


class PlexHistory(LibraryFilter, kw_only=True, frozen=True):
    include_marked_watched: bool = False  # owner only, add-only, only items with a timestamp


class PlexSettings(msgspec.Struct, kw_only=True, frozen=True):
    url: str = "http://127.0.0.1:32400"  # the Plex Media Server
    plextv_url: str = "https://plex.tv"
    clients_url: str = "https://clients.plex.tv"
    discover_url: str = "https://discover.provider.plex.tv"
    metadata_url: str = "https://metadata.provider.plex.tv"
    user: str = ""  # home user (title or account id) whose history is read; "" = the owner
    verify_ssl: bool = True
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 15.0
    max_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 3
    rating_workers: Workers = 12
    history_workers: Workers = 12
    ratings: LibraryFilter = LibraryFilter()
    history: PlexHistory = PlexHistory()
    progress: LibraryFilter = LibraryFilter()
    watchlist_query_limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 25
    watchlist_write_delay_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000)] = 0
    watchlist_allow_pms_fallback: bool = False
    watchlist_page_size: Annotated[int, msgspec.Meta(ge=10, le=200)] = 100
    history_ignore_local_guid: bool = True
    history_ignore_guid_prefixes: list[str] = msgspec.field(default_factory=lambda: ["local://"])
    history_require_external_ids: bool = True
    fallback_GUID: bool = False
