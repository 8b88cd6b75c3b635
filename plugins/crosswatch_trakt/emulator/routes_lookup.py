"""Catalogue look-ups: ``GET /search/{id_type}/{id}`` and ``GET /shows/{id}/seasons`` ("OAuth optional").

Search by id (``trakt``, ``imdb``, ``tmdb``, ``tvdb``; ``?type=`` one kind or a comma list of
``movie,show,episode,person,list``) answers Trakt's search results ``{score, type, <media>}``
(episodes with their ``show``), always paginated (default 10). tvdb ids name shows and
episodes only; seasons are never results (as on Trakt). No match is ``200 []``.

A show's seasons (the show by Trakt id, slug or IMDb id): ``{number, ids}`` per season;
``?extended=episodes`` adds each season's episodes, ``?extended=full`` the full fields of
seasons (and of the episodes, with both). The catalogue has no specials (season 0).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.emulation.catalog import Episode, Season, Show, normalise_id
from crosswatch_trakt.emulator.media import media_json
from crosswatch_trakt.emulator.responses import BadRequest, endpoint, etag_for, json_response, not_modified, page_of
from crosswatch_trakt.emulator.routes_sync import emulator
from crosswatch_trakt.emulator.routes_users import extended
from crosswatch_trakt.emulator.times import iso

#: the kinds each id type can name, in the order results are listed
ID_KINDS = {
    "trakt": ("movie", "show", "episode"),
    "imdb": ("movie", "show", "episode"),
    "tmdb": ("movie", "show", "episode"),
    "tvdb": ("show", "episode"),
}
SEARCH_TYPES = frozenset({"movie", "show", "episode", "person", "list"})
#: Trakt's score of an id match
ID_SCORE = 1000


def _cached(request: Request) -> tuple[str, Response | None]:
    """The ETag of a catalogue look-up (the catalogue never changes) and the 304, if it applies."""
    catalog = emulator(request).catalog
    etag = etag_for(request, [catalog.seed, len(catalog)])
    return etag, not_modified(request, etag)


def _search_types(request: Request) -> frozenset[str] | None:
    raw = request.query_params.get("type")
    if raw is None or not raw.strip():
        return None
    wanted = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = sorted(wanted - SEARCH_TYPES)
    if unknown:
        raise BadRequest(400, "bad_request", f"type must be one of {', '.join(sorted(SEARCH_TYPES))}: {unknown[0]!r}")
    return wanted


@endpoint
async def search_by_id(request: Request) -> Response:
    emu = emulator(request)
    id_type, raw = request.path_params["id_type"], request.path_params["id"]
    if id_type not in ID_KINDS:
        raise BadRequest(404, "not_found", f"unknown id type {id_type!r} (trakt, imdb, tmdb or tvdb)")
    wanted = _search_types(request)
    etag, cached = _cached(request)
    if cached is not None:
        return cached
    value = normalise_id(id_type, raw)
    found = []
    if value is not None:
        for kind in ID_KINDS[id_type]:
            if wanted is None or kind in wanted:
                media = emu.catalog.index(kind, id_type).get(value)
                if media is not None:
                    found.append(media)
    page = page_of(request, len(found), default=10, maximum=emu.settings.max_page_limit, always=True)
    assert page is not None
    items = [emu.media.attach({"score": ID_SCORE}, media) for media in found[page.start : page.stop]]
    return json_response(items, headers={**page.headers, "ETag": etag})


def _show(emu: Any, ref: str) -> Show:
    """The show a path names by Trakt id, IMDb id or slug (404 if none)."""
    if ref.isdigit():
        ids: dict[str, Any] = {"trakt": ref}
    elif ref.startswith("tt") and ref[2:].isdigit():
        ids = {"imdb": ref}
    else:
        ids = {"slug": ref}
    show = emu.catalog.find("show", ids)
    if not isinstance(show, Show):
        raise BadRequest(404, "not_found", f"no show {ref!r}")
    return show


def _episode_full(episode: Episode) -> dict[str, Any]:
    aired = iso(episode.aired * 1000)
    return {
        "number_abs": None,
        "overview": None,
        "rating": 0.0,
        "votes": 0,
        "comment_count": 0,
        "first_aired": aired,
        "updated_at": aired,
        "available_translations": [],
        "runtime": episode.runtime,
        "episode_type": "standard",
    }


def _season_full(season: Season, now_s: float) -> dict[str, Any]:
    first = season.episodes[0].aired if season.episodes else None
    return {
        "rating": 0.0,
        "votes": 0,
        "episode_count": len(season.episodes),
        "aired_episodes": sum(1 for ep in season.episodes if ep.aired <= now_s),
        "title": f"Season {season.number}",
        "overview": None,
        "first_aired": iso(first * 1000) if first is not None else None,
        "updated_at": iso(max(ep.aired for ep in season.episodes) * 1000) if season.episodes else None,
        "network": None,
        "total_runtime": sum(ep.runtime for ep in season.episodes),
    }


@endpoint
async def show_seasons(request: Request) -> Response:
    emu = emulator(request)
    show = _show(emu, request.path_params["id"])
    etag, cached = _cached(request)
    if cached is not None:
        return cached
    levels = extended(request)
    full, with_episodes = "full" in levels, "episodes" in levels
    now_s = time.time()
    rows = []
    for season in show.seasons:
        row = media_json(season)
        if full:
            row.update(_season_full(season, now_s))
        if with_episodes:
            row["episodes"] = [{**media_json(ep), **(_episode_full(ep) if full else {})} for ep in season.episodes]
        rows.append(row)
    return json_response(rows, headers={"ETag": etag})


ROUTES = [
    Route("/search/{id_type}/{id}", search_by_id, methods=["GET"]),
    Route("/shows/{id}/seasons", show_seasons, methods=["GET"]),
]
