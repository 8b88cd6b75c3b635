"""The data model shared by every provider: features, media types, items and matching keys."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec


class Feature(StrEnum):
    """A kind of watch state a provider can hold."""

    WATCHLIST = "watchlist"
    RATINGS = "ratings"
    HISTORY = "history"
    PROGRESS = "progress"


class MediaType(StrEnum):
    MOVIE = "movie"
    SHOW = "show"
    SEASON = "season"
    EPISODE = "episode"


#: External ids strong enough to say two items are the same title.
STRONG_IDS = ("imdb", "tmdb", "tvdb", "trakt")


class Item(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    """One entry of one feature; a history Item is one play, so several plays are several Items.

    Not tracked by the garbage collector (``gc=False``): an Item holds only strings, numbers
    and flat dicts, never a cycle, and a list of 100,000 of them decodes twice as fast.
    """

    type: MediaType
    ids: dict[str, str] = {}
    title: str | None = None
    year: int | None = None
    # episodes and seasons: the show they belong to
    show_ids: dict[str, str] = {}
    show_title: str | None = None
    season: int | None = None
    episode: int | None = None
    # feature fields
    listed_at: str | None = None
    rating: int | None = None
    rated_at: str | None = None
    watched_at: str | None = None
    progress_ms: int | None = None
    progress: float | None = None  # percent watched, where the provider keeps only that
    duration_ms: int | None = None
    paused_at: str | None = None
    # whatever the provider needs to write the item back (library section, history id, ...)
    extra: dict[str, object] = {}


def match_keys(item: Item) -> Iterator[tuple[Any, ...]]:
    """Yield every key under which ``item`` may match another item of the same title.

    Two items are the same title when they share any key: a strong id of their own,
    or for episodes and seasons a strong id of their show plus the numbers.
    """
    return iter(match_key_list(item))


def match_key_list(item: Item) -> list[tuple[Any, ...]]:
    """:func:`match_keys` as a list (what an index of many items builds from)."""
    ids, kind = item.ids, item.type
    keys: list[tuple[Any, ...]] = [(kind, name, str(ids[name])) for name in STRONG_IDS if ids.get(name)]
    if item.season is not None and kind in _NUMBERED and item.show_ids:
        show = item.show_ids
        numbers = (item.season, item.episode)
        keys += [(kind, "show:" + name, str(show[name]), *numbers) for name in STRONG_IDS if show.get(name)]
    return keys


_NUMBERED = (MediaType.EPISODE, MediaType.SEASON)


#: id names in the order an item's key prefers them
KEY_IDS = ("imdb", "tmdb", "tvdb", "trakt", "slug", "plex")


def title_key(item: Item) -> str:
    """A stable text key for one title: ``movie:imdb:tt0111161`` (``item_key`` without the play time)."""
    ids = item.ids
    for name in KEY_IDS:
        value = ids.get(name)
        if value:
            return f"{item.type}:{name}:{value}"
    if item.season is not None:
        for name in KEY_IDS:
            value = item.show_ids.get(name)
            if value:
                episode = f"e{item.episode}" if item.episode is not None else ""
                return f"{item.type}:show-{name}:{value}:s{item.season}{episode}"
    return f"{item.type}:title:{item.title or '?'}:{item.year or '?'}"


def item_key(item: Item) -> str:
    """A stable text key for one item (one play, for history): ``movie:imdb:tt0111161@2024-01-01T20:00:00Z``.

    Used for unresolved files and caches; matching between providers uses ``match_keys``.
    """
    key = title_key(item)
    return f"{key}@{item.watched_at}" if item.watched_at else key


def epoch_seconds(stamp: str | None) -> float | None:
    """An ISO 8601 time as seconds since the epoch; None when missing or not a time.

    The one rule for every provider's timestamps: a time without a zone is UTC (never the
    host's local time). Cached: history repeats the same stamps many times.
    """
    return _epoch_seconds(stamp) if stamp else None


@functools.lru_cache(maxsize=200_000)
def _epoch_seconds(stamp: str) -> float | None:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
