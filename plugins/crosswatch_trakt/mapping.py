"""Trakt JSON <-> crosswatch Items: parsing every list shape, building write payloads."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from crosswatch.model import Feature, Item, MediaType

MEDIA = ("movie", "show", "season", "episode")
PLURAL = {"movie": "movies", "show": "shows", "season": "seasons", "episode": "episodes"}
ID_NAMES = ("trakt", "slug", "imdb", "tmdb", "tvdb")
NUMERIC_IDS = ("trakt", "tmdb", "tvdb")


def ids_of(media: Any) -> dict[str, str]:
    """The usable ids of a Trakt media object, as strings (empty and null ids dropped)."""
    ids = media.get("ids") if isinstance(media, dict) else None
    if not isinstance(ids, dict):
        return {}
    out = {}
    for name in ID_NAMES:
        value = ids.get(name)
        if value:  # None, "" and 0 are no id
            out[name] = value if isinstance(value, str) else str(value)
    return out


def api_ids(ids: dict[str, str]) -> dict[str, Any]:
    """Item ids as Trakt wants them (numbers for trakt/tmdb/tvdb)."""
    out: dict[str, Any] = {}
    for name in ID_NAMES:
        value = ids.get(name)
        if value:
            out[name] = int(value) if name in NUMERIC_IDS and str(value).isdigit() else value
    return out


def _media_type(entry: dict[str, Any]) -> str | None:
    kind = entry.get("type")
    if kind in MEDIA:
        return kind
    if kind is not None:
        return None  # a type crosswatch does not know (person, list, ...)
    for name in ("episode", "season", "movie", "show"):  # older shapes carry no "type"
        if isinstance(entry.get(name), dict):
            return name
    return None


def parse_entry(entry: Any) -> Item | None:
    """One element of a watchlist/ratings/history/playback/collection list; None if unknown."""
    if not isinstance(entry, dict):
        return None
    kind = _media_type(entry)
    media = entry.get(kind) if kind else None
    if kind is None or not isinstance(media, dict):
        return None
    fields: dict[str, Any] = {"type": MediaType(kind), "ids": ids_of(media), "title": media.get("title")}
    if isinstance(media.get("year"), int):
        fields["year"] = media["year"]
    show = entry.get("show")
    if kind in ("season", "episode") and isinstance(show, dict):
        fields["show_ids"] = ids_of(show)
        fields["show_title"] = show.get("title")
        if isinstance(show.get("year"), int):
            fields["year"] = show["year"]
    if kind == "season":
        fields["season"] = media.get("number")
    elif kind == "episode":
        fields["season"] = media.get("season")
        fields["episode"] = media.get("number")
    runtime = media.get("runtime")
    if isinstance(runtime, int) and runtime > 0:
        fields["duration_ms"] = runtime * 60_000
    for name in ("listed_at", "rated_at", "watched_at", "paused_at"):
        if isinstance(entry.get(name), str):
            fields[name] = entry[name]
    if "collected_at" in entry and isinstance(entry["collected_at"], str):
        fields["listed_at"] = entry["collected_at"]
    if isinstance(entry.get("rating"), int):
        fields["rating"] = entry["rating"]
    progress = entry.get("progress")
    if isinstance(progress, (int, float)):
        fields["progress"] = float(progress)
        if "duration_ms" in fields:
            fields["progress_ms"] = int(fields["duration_ms"] * progress / 100)
    extra = {}
    if isinstance(entry.get("id"), int):
        extra["id"] = entry["id"]  # history id, playback id or list item id
    if entry.get("action"):
        extra["action"] = entry["action"]
    if extra:
        fields["extra"] = extra
    return Item(**fields)


def parse_list(data: Any) -> tuple[list[Item], int]:
    """Items of a list response, and how many entries were skipped as unknown."""
    if not isinstance(data, list):
        raise ValueError(f"expected a JSON list, got {type(data).__name__}")
    items, skipped = [], 0
    for entry in data:
        item = parse_entry(entry)
        if item is None:
            skipped += 1
        else:
            items.append(item)
    return items, skipped


def parse_nested(data: Any, stamp: str = "last_watched_at") -> list[Item]:
    """``/sync/watched`` and ``/sync/collection`` shapes: shows with seasons[].episodes[] numbers."""
    items: list[Item] = []
    for entry in data if isinstance(data, list) else ():
        if isinstance(entry.get("movie"), dict):
            item = parse_entry({"movie": entry["movie"], "watched_at": entry.get(stamp) or entry.get("collected_at")})
            if item:
                items.append(item)
            continue
        show = entry.get("show")
        if not isinstance(show, dict):
            continue
        for season in entry.get("seasons") or ():
            for ep in season.get("episodes") or ():
                when = ep.get("last_watched_at") or ep.get("collected_at")
                items.append(
                    Item(
                        type=MediaType.EPISODE,
                        show_ids=ids_of(show),
                        show_title=show.get("title"),
                        year=show.get("year") if isinstance(show.get("year"), int) else None,
                        season=season.get("number"),
                        episode=ep.get("number"),
                        watched_at=when,
                        extra={"plays": ep["plays"]} if "plays" in ep else {},
                    )
                )
    return items


# -- payloads ---------------------------------------------------------------------------


def _fields(item: Item, feature: Feature) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if feature == Feature.RATINGS and item.rating is not None:
        out["rating"] = item.rating
        if item.rated_at:
            out["rated_at"] = item.rated_at
    elif feature == Feature.HISTORY and item.watched_at:
        out["watched_at"] = item.watched_at
    elif feature == Feature.WATCHLIST and item.listed_at:
        out["listed_at"] = item.listed_at
    return out


def build_payload(
    items: Sequence[Item], feature: Feature, *, number_fallback: bool = True, remove: bool = False
) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[Item, str]]]:
    """The body of a /sync write for ``items``, and the items that cannot be sent, with reasons.

    Episodes (and seasons) without ids of their own go by show ids + numbers when
    ``number_fallback`` is on ("shows -> seasons -> episodes").
    """
    body: dict[str, list[dict[str, Any]]] = defaultdict(list)
    # (id name, value) -> the entry holding that show's numbered seasons and episodes; kept apart
    # from an entry for the show itself, which as a parent would narrow a removal to its seasons
    containers: dict[tuple[str, Any], dict[str, Any]] = {}
    refused: list[tuple[Item, str]] = []

    def container(show_ids: dict[str, Any]) -> dict[str, Any]:
        entry = next((containers[pair] for pair in show_ids.items() if pair in containers), None)
        if entry is None:
            entry = {"ids": show_ids, "seasons": []}
            body["shows"].append(entry)
        for pair in show_ids.items():
            containers.setdefault(pair, entry)
        return entry

    for item in items:
        fields = {} if remove and feature != Feature.HISTORY else _fields(item, feature)
        ids = api_ids(item.ids)
        if ids:
            entry = {"ids": ids, **fields}
            if item.type in (MediaType.MOVIE, MediaType.SHOW) and item.title:
                entry.update(title=item.title, **({"year": item.year} if item.year else {}))
            body[PLURAL[item.type]].append(entry)
            continue
        show_ids = api_ids(item.show_ids)
        numbered = item.type == MediaType.EPISODE and item.season is not None and item.episode is not None
        numbered = numbered or (item.type == MediaType.SEASON and item.season is not None)
        if show_ids and numbered and number_fallback:
            seasons = container(show_ids)["seasons"]
            season = next((s for s in seasons if s["number"] == item.season), None)
            if season is None:
                season = {"number": item.season}
                seasons.append(season)
            if item.type == MediaType.SEASON:
                season.update(fields)
            else:
                season.setdefault("episodes", []).append({"number": item.episode, **fields})
            continue
        reason = "no Trakt, IMDb, TMDB or TVDB id"
        if item.type == MediaType.EPISODE and show_ids and not number_fallback:
            reason = "episode has no ids of its own and number fallback is off"
        refused.append((item, reason))
    return dict(body), refused


def summary_not_found(summary: Any) -> list[dict[str, Any]]:
    """Every ``not_found`` element of a write summary, tagged with its media kind."""
    out = []
    not_found = summary.get("not_found") if isinstance(summary, dict) else None
    for plural, entries in (not_found or {}).items():
        kind = next((k for k, p in PLURAL.items() if p == plural), None)
        for entry in entries or ():
            if kind and isinstance(entry, dict):
                out.append({"kind": kind, **entry})
    return out


def match_sent(items: Iterable[Item], not_found: list[dict[str, Any]]) -> tuple[list[Item], list[Item]]:
    """Split sent items into (accepted, not found) by what Trakt echoed back in ``not_found``.

    Number-fallback episodes (no ids of their own) are matched by show ids + season and
    episode numbers, so one unknown episode does not take its show's other episodes along.
    """
    missing: set[tuple] = set()
    for entry in not_found:
        ids = ids_of(entry)
        kind = entry["kind"]
        for name, value in ids.items():
            missing.add((kind, name, value))
        seasons = entry.get("seasons") if kind == "show" else None
        for name, value in ids.items() if kind == "show" else ():
            if not seasons:
                missing.add(("show-all", name, value))
            for season in seasons or ():
                episodes = season.get("episodes")
                if not episodes:
                    missing.add(("season", name, value, season.get("number")))
                for episode in episodes or ():
                    missing.add(("episode", name, value, season.get("number"), episode.get("number")))
    ok: list[Item] = []
    lost: list[Item] = []
    for item in items:
        keys: set[tuple[Any, ...]] = {(str(item.type), n, v) for n, v in item.ids.items()}
        if not item.ids:
            for name, value in item.show_ids.items():
                keys |= {("show-all", name, value), ("season", name, value, item.season)}
                keys.add(("episode", name, value, item.season, item.episode))
        (lost if keys & missing else ok).append(item)
    return ok, lost
