"""Jellyfin/Emby item JSON (``BaseItemDto`` with ``UserData``) -> crosswatch Items.

The functions take the server's dicts as they come (PascalCase), so anything that sees an
item can use them: the reads here, and a websocket or webhook listener later
(:func:`feature_item` turns one item with its user data into the Item of a feature).

- types: ``Movie`` -> movie, ``Series`` -> show, ``Season`` -> season, ``Episode`` -> episode;
  other types (music, folders, playlists) are not items of crosswatch.
- ids: ``ProviderIds`` ``Imdb``, ``Tmdb``, ``Tvdb`` (any case) -> ``imdb``, ``tmdb``, ``tvdb``;
  an episode's or season's show ids are its series' ``ProviderIds`` (the caller passes
  them: a listing names only ``SeriesId``).
- times: the servers' ``2024-05-01T20:15:00.0000000Z`` -> ``2024-05-01T20:15:00Z``.
- ticks: 10,000,000 a second (``RunTimeTicks``, ``PlaybackPositionTicks``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from crosswatch.model import Feature, Item, MediaType, epoch_seconds

TYPES = {"Movie": MediaType.MOVIE, "Series": MediaType.SHOW, "Season": MediaType.SEASON, "Episode": MediaType.EPISODE}
SERVER_TYPES = {v: k for k, v in TYPES.items()}
ID_NAMES = {"imdb": "imdb", "tmdb": "tmdb", "tvdb": "tvdb"}
TICKS_PER_MS = 10_000


class Entry(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """What crosswatch keeps of one library item (its index): kind, ids, names, numbers."""

    kind: str  # movie | show | season | episode
    ids: dict[str, str]
    name: str = ""
    year: int | None = None
    series: str | None = None  # an episode's or season's SeriesId
    season: int | None = None
    episode: int | None = None
    runtime: int | None = None  # ticks
    saved: str | None = None  # DateLastSaved, as the server wrote it


class Show(msgspec.Struct, frozen=True):
    """An episode's or season's series: what its Items carry of it."""

    ids: dict[str, str]
    title: str | None = None


def provider_ids(raw: Any) -> dict[str, str]:
    """``ProviderIds`` -> crosswatch ids (IMDb, TMDB, TVDB; names in any case; empty values dropped)."""
    out: dict[str, str] = {}
    if not isinstance(raw, dict):
        return out
    for key, value in raw.items():
        name = ID_NAMES.get(str(key).lower())
        if name and value not in (None, ""):
            text = str(value).strip()
            if text:
                out[name] = text
    return out


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stamp(value: Any) -> str | None:
    """A server time as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds); None when missing or not a time."""
    if not isinstance(value, str):
        return None
    seconds = epoch_seconds(value)
    if seconds is None:
        return None
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_played(watched_at: str) -> str | None:
    """``DatePlayed`` for a play time: ``yyyyMMddHHmmss`` in UTC, the form both servers take."""
    seconds = epoch_seconds(watched_at)
    if seconds is None:
        return None
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y%m%d%H%M%S")


def entry_of(dto: Any) -> Entry | None:
    """The index entry of one item, or None for a type crosswatch does not keep."""
    if not isinstance(dto, dict):
        return None
    kind = TYPES.get(str(dto.get("Type")))
    if kind is None or not isinstance(dto.get("Id"), str):
        return None
    season = episode = None
    if kind == MediaType.EPISODE:
        season, episode = _int(dto.get("ParentIndexNumber")), _int(dto.get("IndexNumber"))
    elif kind == MediaType.SEASON:
        season = _int(dto.get("IndexNumber"))
    series = dto.get("SeriesId") if kind in (MediaType.EPISODE, MediaType.SEASON) else None
    return Entry(
        kind=str(kind),
        ids=provider_ids(dto.get("ProviderIds")),
        name=str(dto.get("Name") or ""),
        year=_int(dto.get("ProductionYear")),
        series=series if isinstance(series, str) and series else None,
        season=season,
        episode=episode,
        runtime=_int(dto.get("RunTimeTicks")),
        saved=dto.get("DateLastSaved") if isinstance(dto.get("DateLastSaved"), str) else None,
    )


def show_of(entry: Entry | None, fallback_title: str | None = None) -> Show | None:
    """A series' index entry as the show its episodes carry."""
    if entry is None:
        return Show({}, fallback_title) if fallback_title else None
    return Show(dict(entry.ids), entry.name or fallback_title)


def item_of(
    entry: Entry,
    item_id: str,
    show: Show | None = None,
    extra: dict[str, object] | None = None,
    feature_fields: dict[str, Any] | None = None,
) -> Item:
    """The Item of an index entry, with ``feature_fields`` (``extra`` keeps the server's ids)."""
    kind = MediaType(entry.kind)
    fields: dict[str, Any] = {"type": kind, "ids": dict(entry.ids), "title": entry.name or None}
    if kind in (MediaType.MOVIE, MediaType.SHOW) and entry.year:
        fields["year"] = entry.year
    if kind in (MediaType.EPISODE, MediaType.SEASON):
        if show is not None:
            fields["show_ids"] = dict(show.ids)
            fields["show_title"] = show.title
        fields["season"] = entry.season
        if kind == MediaType.EPISODE:
            fields["episode"] = entry.episode
    if entry.runtime:
        fields["duration_ms"] = entry.runtime // TICKS_PER_MS
    fields["extra"] = {"Id": item_id, **(extra or {})}
    if feature_fields:
        fields.update(feature_fields)
    return Item(**fields)


def user_fields(feature: Feature, user_data: Any, runtime: int | None) -> dict[str, Any] | None:
    """The feature's fields from an item's ``UserData``; None when the item holds nothing of it.

    - history: ``Played`` -> ``watched_at`` = ``LastPlayedDate`` (None when the server has no
      date), ``PlayCount`` in ``extra``;
    - progress: ``PlaybackPositionTicks`` > 0 -> ``progress_ms``, ``progress`` (percent, of
      ``RunTimeTicks``), ``paused_at`` = ``LastPlayedDate``;
    - ratings: ``Rating`` (0-10) -> ``rating`` rounded into 1-10 (a like is 10, a dislike 1);
    - watchlist: ``IsFavorite`` (the favourites watchlist; no date).
    """
    if not isinstance(user_data, dict):
        return None
    if feature == Feature.HISTORY:
        if user_data.get("Played") is not True:
            return None
        return {"watched_at": stamp(user_data.get("LastPlayedDate"))}
    if feature == Feature.PROGRESS:
        ticks = _int(user_data.get("PlaybackPositionTicks")) or 0
        if ticks <= 0:
            return None
        out: dict[str, Any] = {
            "progress_ms": ticks // TICKS_PER_MS,
            "paused_at": stamp(user_data.get("LastPlayedDate")),
        }
        if runtime:
            out["progress"] = round(min(100.0, ticks / runtime * 100), 2)
        elif isinstance(user_data.get("PlayedPercentage"), (int, float)):
            out["progress"] = round(float(user_data["PlayedPercentage"]), 2)
        return out
    if feature == Feature.RATINGS:
        value = user_data.get("Rating")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        return {"rating": max(1, min(10, round(value)))}
    if user_data.get("IsFavorite") is not True:
        return None
    return {}


def feature_item(
    feature: Feature,
    dto: Any,
    show: Show | None = None,
    extra: dict[str, object] | None = None,
    user_data: Any = None,
) -> Item | None:
    """One server item with its ``UserData`` (or ``user_data``, e.g. from a websocket message) as
    the Item of ``feature``; None when it holds none of it."""
    entry = entry_of(dto)
    if entry is None:
        return None
    data = dto.get("UserData") if user_data is None else user_data
    fields = user_fields(feature, data, entry.runtime)
    if fields is None:
        return None
    more: dict[str, object] = {}
    if isinstance(dto.get("ServerId"), str) and dto["ServerId"]:
        more["ServerId"] = dto["ServerId"]  # with "Id": this server's own name of the item
    more.update(extra or {})
    if feature == Feature.HISTORY:
        plays = _int(data.get("PlayCount"))
        if plays is not None:
            more["PlayCount"] = plays
    if show is None and entry.kind in ("episode", "season"):
        show = Show({}, dto.get("SeriesName") if isinstance(dto.get("SeriesName"), str) else None)
    return item_of(entry, dto["Id"], show, more, fields)
