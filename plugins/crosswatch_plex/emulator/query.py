"""Filters and sorts of ``/library/sections/{id}/all`` (PMS's query-string syntax).

A filter is a query parameter ``<field><op>=<value>``; after the query string is split at
the first ``=`` the operator is the tail of the name:

=======================  ========  ==============================================
written                  operator  meaning
=======================  ========  ==============================================
``year=2001,2002``       ``=``     equals one of (strings: contains, any case)
``title==Exact``         ``==``    equals exactly
``year!=2001``           ``!=``    differs from all (strings: contains none)
``userRating>>=0``       ``>>``    greater than
``year<<=2000``          ``<<``    less than
``viewedAt>=1700000000`` ``>=``    at least (``viewedAt>`` as a parameter name)
``viewedAt<=...``        ``<=``    at most
=======================  ========  ==============================================

Numeric fields: ``viewCount``, ``lastViewedAt``, ``userRating``, ``lastRatedAt``,
``viewOffset``, ``addedAt``, ``updatedAt``, ``year``, ``index``, ``parentIndex``, ``duration``,
``leafCount``, ``viewedLeafCount``, ``ratingKey``/``id``; a missing value never matches a
comparison (an unrated item fails ``userRating>>=0``). Dates also take relative values
(``-30d``, ``-2w``, ``-6m``, ``-1y``). Text: ``title``, ``guid``. Flags: ``unwatched=1|0``,
``inProgress=1|0``. A ``type.`` prefix (``episode.viewCount``) is ignored. Unknown
parameters are ignored.

``sort=field[:asc|:desc][,field...]``: the fields above plus ``titleSort``/``title``,
``originallyAvailableAt``; missing values sort lowest (first ascending, last descending).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from crosswatch.emulation.catalog import Episode, Media, Movie, Season, Show
from crosswatch_plex.emulator.library import Library, title_sort
from crosswatch_plex.emulator.userstate import PlexState, leaves

NUMERIC = frozenset(
    {
        "viewCount",
        "lastViewedAt",
        "userRating",
        "lastRatedAt",
        "viewOffset",
        "addedAt",
        "updatedAt",
        "year",
        "index",
        "parentIndex",
        "duration",
        "leafCount",
        "viewedLeafCount",
        "ratingKey",
        "id",
        "viewedAt",
    }
)
DATES = frozenset({"lastViewedAt", "lastRatedAt", "addedAt", "updatedAt", "viewedAt"})
TEXT = frozenset({"title", "guid"})
FLAGS = frozenset({"unwatched", "inProgress"})
_UNITS = {"d": 86_400, "w": 7 * 86_400, "m": 30 * 86_400, "y": 365 * 86_400, "h": 3600}

Getter = Callable[[Media], Any]


class BadQuery(ValueError):
    """A filter PMS would refuse with 400."""


def split_param(name: str, value: str) -> tuple[str, str, str]:
    """``("userRating>>", "0")`` -> ``("userRating", ">>", "0")``; ``("title", "=x")`` -> ``("title", "==", "x")``."""
    field = name.rstrip("<>!")
    op = name[len(field) :]
    if op == "" and value.startswith("="):
        return field, "==", value[1:]
    if op in (">", "<"):
        op += "="
    elif op == "!":
        op = "!="
    return field.rsplit(".", 1)[-1], op or "=", value


def number(field: str, text: str, now: float | None = None) -> float:
    text = text.strip()
    if field in DATES and text.startswith("-") and text[-1:] in _UNITS and text[1:-1].isdigit():
        return (now or time.time()) - int(text[1:-1]) * _UNITS[text[-1]]
    try:
        return float(text)
    except ValueError:
        raise BadQuery(f"{field}: not a number: {text!r}") from None


def compare(op: str, have: Any, wants: list[Any]) -> bool:
    if have is None:
        return op == "!="
    if op == ">>":
        return have > wants[0]
    if op == "<<":
        return have < wants[0]
    if op == ">=":
        return have >= wants[0]
    if op == "<=":
        return have <= wants[0]
    if op == "!=":
        return all(have != w for w in wants)
    return any(have == w for w in wants)


class Fields:
    """Field values of library items for one account (what filters and sorts read)."""

    def __init__(self, lib: Library, state: PlexState, account: int) -> None:
        self.lib, self.state, self.account = lib, state, account
        self.data = state.users[account]

    def getter(self, field: str) -> Getter:
        lib, data, state, account = self.lib, self.data, self.state, self.account
        rk = lib.rk
        if field == "viewCount":
            return lambda m: state.view_of(account, m)[0]
        if field == "lastViewedAt":
            return lambda m: state.view_of(account, m)[1]
        if field == "viewedLeafCount":
            return lambda m: state.view_of(account, m)[2]
        if field == "userRating":
            return lambda m: (data.ratings.get(rk(m)) or (None,))[0]
        if field == "lastRatedAt":
            return lambda m: (data.ratings.get(rk(m)) or (None, None))[1]
        if field == "viewOffset":
            return lambda m: data.offsets.get(rk(m))
        if field == "addedAt":
            return lib.added_at
        if field == "updatedAt":
            return lambda m: lib.added_at(m) + 3600
        if field in ("ratingKey", "id"):
            return rk
        if field == "duration":
            return lib.duration_ms
        if field == "leafCount":
            return lambda m: len(leaves(m)) if isinstance(m, (Show, Season)) else None
        if field == "year":
            return _year
        if field == "index":
            return _index
        if field == "parentIndex":
            return lambda m: m.season if isinstance(m, Episode) else (1 if isinstance(m, Season) else None)
        if field in ("title", "titleSort"):
            return lambda m: title_sort(_title(m))
        if field == "guid":
            return lib.guid
        if field == "originallyAvailableAt":
            return _released
        raise BadQuery(f"unknown field {field!r}")

    def predicate(self, field: str, op: str, value: str) -> Callable[[Media], bool] | None:
        """The test of one filter parameter; None for a parameter that is not a filter."""
        if field in FLAGS:
            wanted = value.strip() not in ("0", "false", "")
            if field == "unwatched":
                state, account = self.state, self.account

                def unwatched(m: Media) -> bool:
                    _, _, viewed = state.view_of(account, m)
                    return (viewed < len(leaves(m))) == wanted

                return unwatched
            offsets, rk = self.data.offsets, self.lib.rk
            return lambda m: (rk(m) in offsets) == wanted
        if field in NUMERIC and field != "viewedAt":
            get = self.getter(field)
            wants = [number(field, v) for v in value.split(",") if v.strip()]
            if not wants:
                raise BadQuery(f"{field}: no value")
            return lambda m: compare(op, get(m), wants)
        if field in TEXT:
            get = self.lib.guid if field == "guid" else _title
            texts = [v for v in value.split(",") if v]
            if op == "==" or field == "guid":
                exact = set(texts)
                return lambda m: (get(m) in exact) != (op == "!=")
            lowered = [t.lower() for t in texts]
            if op == "!=":
                return lambda m: not any(t in get(m).lower() for t in lowered)
            return lambda m: any(t in get(m).lower() for t in lowered)
        return None

    def sort_key(self, spec: str) -> list[tuple[Getter, bool]]:
        """``[(getter, descending), ...]`` of a ``sort=`` value."""
        keys = []
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            field, _, direction = part.partition(":")
            keys.append((self.getter(field.rsplit(".", 1)[-1]), direction.lower() == "desc"))
        return keys


def _sort_key(get: Getter) -> Callable[[Media], Any]:
    return lambda media: _nullable(get(media))


def apply_sort(items: list[Media], keys: Iterable[tuple[Getter, bool]]) -> list[Media]:
    """Stable multi-key sort; None values sort lowest."""
    out = list(items)
    for get, descending in reversed(list(keys)):
        out.sort(key=_sort_key(get), reverse=descending)
    return out


def _nullable(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


def _title(media: Media) -> str:
    if isinstance(media, Season):
        return f"Season {media.number}"
    return media.title


def _year(media: Media) -> int | None:
    if isinstance(media, (Movie, Show)):
        return media.year
    if isinstance(media, Season):
        return media.show.year
    return time.gmtime(media.aired).tm_year


def _index(media: Media) -> int | None:
    if isinstance(media, Episode):
        return media.number
    if isinstance(media, Season):
        return media.number
    return 1 if isinstance(media, Show) else None


def _released(media: Media) -> int | None:
    if isinstance(media, Movie):
        return media.released
    if isinstance(media, Episode):
        return media.aired
    if isinstance(media, Show):
        first = next(iter(leaves(media)), None)
        return first.aired if isinstance(first, Episode) else None
    return media.episodes[0].aired if media.episodes else None
