"""The ``[jellyfin]`` and ``[emby]`` config sections (one schema; each profile is one server and user).

::

    [jellyfin]
    url = "http://192.168.1.10:8096"
    user = "ann"                      # the user, by name (or user_id = "<32 hex>")
    api_key = ""                      # optional: sign in with an API key instead of a password
    workers = 12                      # writes in flight at once (as Plex's history_workers)
    [jellyfin.history]
    libraries = ["Movies", "Shows"]   # by name (or id); [] = every movie and show library
    [jellyfin.watchlist]
    mode = "favorites"                # or "playlist": the playlist named below
    playlist = "Watchlist"
    [jellyfin.profiles.kids]          # another user or server: any key overridden
    user = "kai"
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Workers = Annotated[int, msgspec.Meta(ge=1, le=64)]


class LibraryFilter(msgspec.Struct, kw_only=True, frozen=True):
    """Which libraries a feature reads and writes (names or ids; [] = every movie and show library)."""

    libraries: list[str] = []


class WatchlistSettings(LibraryFilter, kw_only=True, frozen=True):
    #: ``favorites``: the user's favourites; ``playlist``: the playlist named ``playlist``
    mode: Literal["favorites", "playlist"] = "favorites"
    playlist: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "Watchlist"


class MediaServerSettings(msgspec.Struct, kw_only=True, frozen=True):
    """One Jellyfin or Emby profile: the server, the user, and how to talk to it."""

    url: str = "http://127.0.0.1:8096"
    #: the user whose data is read and written, by name; ``user_id`` picks one by id instead
    user: str = ""
    user_id: str = ""
    #: an API key (Dashboard > API Keys): no password needed, but ``user`` or ``user_id`` is
    api_key: str = ""
    verify_ssl: bool = True
    timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0
    max_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 3
    workers: Workers = 12
    #: seconds between two polls of a Quick Connect sign-in
    quick_connect_poll_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 3.0
    #: how long a Quick Connect code is waited for
    quick_connect_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 600.0
    history: LibraryFilter = LibraryFilter()
    progress: LibraryFilter = LibraryFilter()
    ratings: LibraryFilter = LibraryFilter()
    watchlist: WatchlistSettings = WatchlistSettings()

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
