"""Turning a ``/sync`` write body into catalogue media, and what Trakt could not find.

Items match by ids only (trakt, imdb, tmdb, tvdb, slug: the first that matches); the
emulator does not fall back to title/year matching. Two ways to read a body:

- ``self`` (watchlist, ratings): each named level is the target. ``shows[].seasons[]``
  name seasons, ``...episodes[]`` name episodes ("number fallback"); a show with seasons is
  itself a target only when it carries ``own`` (``rating``).
- ``episodes`` (history, collection): a show without seasons means all its episodes, a
  season without episodes all of that season's.

Fields (``watched_at``, ``rating``, ``collected_at``, ...) are inherited down the nesting.
Anything not found is echoed in ``not_found`` as it was sent (nested misses as the show
entry pruned to the seasons/episodes that were missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from crosswatch.emulation.catalog import Catalog, Media, Season, Show

Mode = Literal["self", "episodes"]
STRUCTURE = frozenset({"ids", "seasons", "episodes", "number", "title", "year", "season"})
SECTIONS = ("movies", "shows", "seasons", "episodes")


class Invalid(Exception):
    """The body cannot be processed (422), with the reason."""


@dataclass(slots=True)
class Target:
    media: Media
    fields: dict[str, Any]


@dataclass
class Resolved:
    targets: list[Target] = field(default_factory=list)
    not_found: dict[str, list[Any]] = field(default_factory=lambda: {s: [] for s in SECTIONS})


def _fields(entry: dict[str, Any], inherited: dict[str, Any]) -> dict[str, Any]:
    own = {k: v for k, v in entry.items() if k not in STRUCTURE}
    return {**inherited, **own} if inherited else own


def _ids(entry: Any) -> dict[str, Any] | None:
    ids = entry.get("ids") if isinstance(entry, dict) else None
    return ids if isinstance(ids, dict) else None


def resolve(catalog: Catalog, body: Any, mode: Mode, *, own: str | None = None) -> Resolved:
    """The targets and the ``not_found`` echo of a write body (raises Invalid on a bad shape)."""
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    out = Resolved()
    for section in SECTIONS:
        entries = body.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise Invalid(f"{section} must be a list")
        for entry in entries:
            if not isinstance(entry, dict):
                raise Invalid(f"{section} must hold objects")
            if section == "shows":
                _show(catalog, entry, mode, own, out)
                continue
            kind = section[:-1]
            ids = _ids(entry)
            media = catalog.find(kind, ids) if ids else None  # type: ignore[arg-type]
            if media is None:
                out.not_found[section].append(entry)
            elif kind == "season" and mode == "episodes":
                assert isinstance(media, Season)
                fields = _fields(entry, {})
                out.targets.extend(Target(ep, fields) for ep in media.episodes)
            else:
                out.targets.append(Target(media, _fields(entry, {})))
    return out


def _show(catalog: Catalog, entry: dict[str, Any], mode: Mode, own: str | None, out: Resolved) -> None:
    ids = _ids(entry)
    show = catalog.find("show", ids) if ids else None
    if show is None:
        out.not_found["shows"].append(entry)
        return
    assert isinstance(show, Show)
    fields = _fields(entry, {})
    seasons = entry.get("seasons")
    if not seasons:
        if mode == "episodes":
            out.targets.extend(Target(ep, fields) for ep in show.episodes())
        else:
            out.targets.append(Target(show, fields))
        return
    if not isinstance(seasons, list):
        raise Invalid("shows[].seasons must be a list")
    if mode == "self" and own and own in entry:
        out.targets.append(Target(show, fields))
    missing: list[dict[str, Any]] = []
    for season_entry in seasons:
        if not isinstance(season_entry, dict) or not isinstance(season_entry.get("number"), int):
            raise Invalid("shows[].seasons[] need a number")
        season = show.season(season_entry["number"])
        if season is None:
            missing.append(season_entry)
            continue
        season_fields = _fields(season_entry, fields)
        episodes = season_entry.get("episodes")
        if not episodes:
            if mode == "episodes":
                out.targets.extend(Target(ep, season_fields) for ep in season.episodes)
            else:
                out.targets.append(Target(season, season_fields))
            continue
        if not isinstance(episodes, list):
            raise Invalid("shows[].seasons[].episodes must be a list")
        if mode == "self" and own and own in season_entry:
            out.targets.append(Target(season, season_fields))
        lost = []
        for ep_entry in episodes:
            if not isinstance(ep_entry, dict) or not isinstance(ep_entry.get("number"), int):
                raise Invalid("shows[].seasons[].episodes[] need a number")
            episode = season.episode(ep_entry["number"])
            if episode is None:
                lost.append(ep_entry)
            else:
                out.targets.append(Target(episode, _fields(ep_entry, season_fields)))
        if lost:
            missing.append({**season_entry, "episodes": lost})
    if missing:
        out.not_found["shows"].append({**entry, "seasons": missing})
