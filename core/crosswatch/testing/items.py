"""What the contract checks compare: items with a feature's value, and reads as comparable views.

Items are compared the way core compares them: two items are the same title when they share
a ``match_keys`` key, results are counted by ``item_key`` (never by object identity), and a
read is reduced to what a person would see of the feature (the title and its value).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import msgspec

from crosswatch.model import Feature, Item, MediaType, epoch_seconds, match_keys, title_key

#: the ratings the checks write: the first add, then the upsert
RATINGS = (7, 4)
#: the resume positions (percent) the checks write: the first add, then the upsert
PROGRESS = (30.0, 65.0)
#: how far apart two progress percentages may be and still be the same position (rounding)
PROGRESS_TOLERANCE = 1.0
#: the plays the checks write are dated from here on (2020-05-20T18:40:00Z), one hour apart
HISTORY_BASE = 1_590_000_000

#: extra keys other providers write (with values that would mislead a provider that used them)
FOREIGN_EXTRA: dict[str, object] = {
    "ratingKey": "1",  # Plex
    "historyKey": "/status/sessions/history/1",
    "section": 1,
    "account": 1,
    "local_only": True,
    "marked_watched": True,
    "id": 1,  # Trakt: history, playback or list item id
    "action": "scrobble",
    "plays": 3,
    "Id": "0" * 32,  # Jellyfin and Emby
    "ServerId": "f" * 32,
    "x-crosswatch-contract": {"written by": "another provider", "ids": [1, 2, 3]},
}


def stamp(epoch: float) -> str:
    """An ISO 8601 UTC time with milliseconds, as trackers write it."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def bare(item: Item) -> Item:
    """``item`` without any feature value (what ``known_items`` should give)."""
    return msgspec.structs.replace(
        item,
        listed_at=None,
        rating=None,
        rated_at=None,
        watched_at=None,
        progress_ms=None,
        progress=None,
        paused_at=None,
    )


def valued(feature: Feature, item: Item, index: int, *, second: bool = False) -> Item:
    """``item`` with the value the checks write for ``feature``.

    ``index`` tells items apart (history: each its own hour); ``second`` is the upsert's
    value (ratings, progress) or, for history, another play of the same title a day later.
    """
    item = bare(item)
    if feature == Feature.RATINGS:
        return msgspec.structs.replace(item, rating=RATINGS[1 if second else 0])
    if feature == Feature.PROGRESS:
        return msgspec.structs.replace(item, progress=PROGRESS[1 if second else 0])
    if feature == Feature.HISTORY:
        when = HISTORY_BASE + index * 3600 + (86_400 if second else 0)
        return msgspec.structs.replace(item, watched_at=stamp(when))
    return item


def with_extra(item: Item, extra: dict[str, object]) -> Item:
    """``item`` carrying ``extra`` besides its own (its own keys win)."""
    return msgspec.structs.replace(item, extra={**extra, **item.extra})


def percent(item: Item) -> float | None:
    """The resume position of ``item`` in percent, from ``progress`` or ``progress_ms``/``duration_ms``."""
    if item.progress is not None:
        return item.progress
    if item.progress_ms is not None and item.duration_ms:
        return 100 * item.progress_ms / item.duration_ms
    return None


def second_of(item: Item) -> int | None:
    """The play's time in whole seconds (providers keep seconds; formats differ)."""
    seconds = epoch_seconds(item.watched_at)
    return None if seconds is None else int(seconds)


def same_title(a: Item, b: Item) -> bool:
    """Whether two items are one title: they share a ``match_keys`` key."""
    return not set(match_keys(a)).isdisjoint(match_keys(b))


def of_title(items: Iterable[Item], title: Item) -> list[Item]:
    """The items of ``items`` that are the title ``title``."""
    keys = set(match_keys(title))
    return [i for i in items if not keys.isdisjoint(match_keys(i))]


def holds_value(feature: Feature, held: Item, wanted: Item) -> bool:
    """Whether ``held`` (read back) carries the value ``wanted`` was written with (one title)."""
    if feature == Feature.RATINGS:
        return held.rating == wanted.rating
    if feature == Feature.PROGRESS:
        got, want = percent(held), percent(wanted)
        return got is not None and want is not None and abs(got - want) <= PROGRESS_TOLERANCE
    if feature == Feature.HISTORY:
        return second_of(held) == second_of(wanted)
    return True


def view(feature: Feature, items: Iterable[Item]) -> Counter[tuple[object, ...]]:
    """A read as a person sees it: each title with the feature's value (history: each play)."""
    out: Counter[tuple[object, ...]] = Counter()
    for item in items:
        key = title_key(item)
        if feature == Feature.RATINGS:
            out[(key, item.rating)] += 1
        elif feature == Feature.PROGRESS:
            value = percent(item)
            out[(key, None if value is None else round(value))] += 1
        elif feature == Feature.HISTORY:
            second = second_of(item)
            out[(key, None if second is None else stamp(second))] += 1
        else:
            out[(key,)] += 1
    return out


def view_change(before: Counter[tuple[object, ...]], after: Counter[tuple[object, ...]], limit: int = 6) -> str:
    """What differs between two views, for a failure message."""
    gained, lost = after - before, before - after

    def show(entries: Counter[tuple[object, ...]]) -> str:
        listed = [f"{' '.join(map(str, key))}" + (f" x{n}" if n > 1 else "") for key, n in entries.most_common(limit)]
        more = sum(entries.values()) - sum(n for _, n in entries.most_common(limit))
        return ", ".join(listed) + (f" (+{more} more)" if more > 0 else "")

    parts = []
    if gained:
        parts.append(f"now also held: {show(gained)}")
    if lost:
        parts.append(f"no longer held: {show(lost)}")
    return "; ".join(parts) or "no difference"


def describe(items: Sequence[Item], limit: int = 4) -> str:
    """A short list of items for a failure message."""
    names = [_name(i) for i in items[:limit]]
    return ", ".join(names) + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _name(item: Item) -> str:
    label = item.title or item.show_title or ""
    if item.type == MediaType.EPISODE and item.season is not None:
        label = f"{label} S{item.season:02d}E{item.episode or 0:02d}".strip()
    key = title_key(item)
    return f"{key} ({label})" if label else key
