"""PMS metadata (JSON) -> crosswatch Items, with the item's external ids and its feature fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crosswatch.model import Item, MediaType
from crosswatch_plex.guids import parse_guid, parse_guids

TYPES = {"movie": MediaType.MOVIE, "show": MediaType.SHOW, "season": MediaType.SEASON, "episode": MediaType.EPISODE}
TYPE_NUMBERS = {MediaType.MOVIE: 1, MediaType.SHOW: 2, MediaType.SEASON: 3, MediaType.EPISODE: 4}


def iso(epoch: Any) -> str | None:
    """Plex epoch seconds -> ISO 8601 UTC (``Z``); None for missing or zero."""
    if not isinstance(epoch, (int, float)) or epoch <= 0:
        return None
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def section_id(value: Any) -> int | None:
    """A library section id (int or decimal text); None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def metadata_items(container: Any) -> list[dict[str, Any]]:
    """The ``Metadata`` list of a JSON ``MediaContainer`` (empty when there is none)."""
    body = container.get("MediaContainer", container) if isinstance(container, dict) else {}
    items = body.get("Metadata") if isinstance(body, dict) else None
    return [m for m in items or () if isinstance(m, dict)]


def to_item(meta: dict[str, Any], *, show: dict[str, Any] | None = None) -> Item | None:
    """One PMS item as an Item (no feature fields); None for collections, playlists, clips, ...

    ``show`` is the episode's or season's show metadata when it was hydrated, for its ids.
    """
    kind = TYPES.get(str(meta.get("type")))
    if kind is None:
        return None
    own = parse_guids(meta.get("guid"), meta.get("Guid"))
    fields: dict[str, Any] = {"type": kind, "ids": {k: v for k, v in own.ids.items()}, "title": meta.get("title")}
    year = meta.get("year") or meta.get("parentYear")
    if isinstance(year, int):
        fields["year"] = year
    if kind in (MediaType.EPISODE, MediaType.SEASON):
        parent = (
            parse_guids(show.get("guid"), show.get("Guid"))
            if show
            else parse_guid(meta.get("grandparentGuid") or meta.get("parentGuid"))
        )
        show_ids = {**own.show_ids, **{k: v for k, v in parent.ids.items() if k != "plex"}}
        fields["show_ids"] = show_ids
        fields["show_title"] = meta.get("grandparentTitle") or meta.get("parentTitle")
        if kind == MediaType.EPISODE:
            fields["season"] = meta.get("parentIndex", own.season)
            fields["episode"] = meta.get("index", own.episode)
        else:
            fields["season"] = meta.get("index", own.season)
    extra: dict[str, Any] = {"ratingKey": str(meta.get("ratingKey", ""))}
    section = section_id(meta.get("librarySectionID"))
    if section is not None:
        extra["section"] = section
    if own.local_only and not own.has_external:
        extra["local_only"] = True
    fields["extra"] = extra
    if isinstance(meta.get("duration"), int):
        fields["duration_ms"] = meta["duration"]
    return Item(**fields)


def rating_of(meta: dict[str, Any]) -> int | None:
    """Plex ``userRating`` (0-10, may be fractional) as crosswatch's 1-10; None when unrated."""
    value = meta.get("userRating")
    if not isinstance(value, (int, float)) or value <= 0:
        return None
    return max(1, min(10, round(value)))
