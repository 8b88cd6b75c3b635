"""Discover and the metadata provider (discover/metadata.provider.plex.tv: the same paths here).

Every catalogue media has a 24-hex Discover key (its ratingKey there; :mod:`.library`), with
the catalogue's external ids, whatever guid style the PMS library shows for it.

- ``GET /library/sections/watchlist/{all|released|available}?includeCollections=1&includeExternalMedia=1``:
  the token's watchlist (``type=1|2``, ``sort=watchlistedAt:desc`` (default) / ``:asc`` /
  ``titleSort``), paged with ``X-Plex-Container-Start/Size`` (``discover_default_page`` items
  when no size is sent; a size above ``discover_max_page`` answers 504, as the real service
  does on big pages). Items carry ``ratingKey``, ``guid`` (``plex://movie/<key>``), ``type``,
  ``title``, ``year``, ``watchlistedAt``; no ``Guid`` children: hydrate them.
- ``GET /library/metadata/{key[,key...]}``: Discover items with ``Guid`` children (404 if none known).
- ``GET /library/metadata/{key}/userState``: ``UserState`` (``watchlistedAt``, ``viewCount``).
- ``GET /library/metadata/matches?type=1|2&guid=imdb://tt...|tmdb://N|tvdb://N|plex://...``, or
  ``title=tmdb-N`` / ``imdb-tt...`` / ``tvdb-N``, or a plain ``title`` (+ ``year``): the matches,
  with ``Guid`` children (an empty container when nothing matches). With the knob
  ``matches_by_id`` at 0, ``guid=imdb://|tmdb://|tvdb://`` lookups always answer the empty
  container (real Discover misses some titles by id); ``title=`` and ``plex://`` still match.
- ``GET /library/search?query=&limit=&searchTypes=movies,tv``: ``SearchResults`` (``id``
  ``external``) of ``SearchResult`` entries (``score``, one ``Metadata`` object), titles
  containing the query, best first; no ``Guid`` children.
- ``PUT /actions/addToWatchlist?ratingKey=``, ``PUT /actions/removeFromWatchlist?ratingKey=``:
  200 (empty); an unknown key 404; adding a listed title or removing an unlisted one answers
  ``watchlist_conflict_status`` (409 ``{"error": "... already ..."}`` by default, or 200).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.emulation.catalog import Episode, Media, Movie, Season, Show
from crosswatch_plex.emulator.common import Reject, account, empty_ok, emulator, endpoint, int_param
from crosswatch_plex.emulator.items import day
from crosswatch_plex.emulator.library import TYPE_NUMBERS, external_guids, title_sort
from crosswatch_plex.emulator.render import El, container, html_error, page, respond, x_plex

PROVIDER = "tv.plex.provider.discover"
#: ``guid=`` schemes that ``matches_by_id`` = 0 stops finding
EXTERNAL_SCHEMES = ("imdb", "tmdb", "tvdb")
_IMAGES = "https://metadata-static.plex.tv"


def discover_el(emu: Any, media: Media, *, guids: bool, listed_at: int | None = None) -> El:
    """One Discover item (``Video`` for movies and episodes, ``Directory`` for shows and seasons)."""
    lib = emu.library
    key = lib.discover_key(media)
    attrs: dict[str, Any] = {
        "ratingKey": key,
        "key": f"/library/metadata/{key}",
        "guid": lib.plex_guid(media),
        "type": media.kind,
    }
    if isinstance(media, Movie):
        attrs |= {
            "title": media.title,
            "slug": media.slug,
            "year": media.year,
            "originallyAvailableAt": day(media.released),
            "duration": media.runtime * 60_000,
        }
    elif isinstance(media, Show):
        first = media.seasons[0].episodes[0] if media.seasons and media.seasons[0].episodes else None
        attrs |= {
            "title": media.title,
            "slug": media.slug,
            "year": media.year,
            "originallyAvailableAt": day(first.aired) if first else None,
            "childCount": len(media.seasons),
            "leafCount": sum(len(s.episodes) for s in media.seasons),
        }
    elif isinstance(media, Season):
        show = media.show
        attrs |= {
            "title": f"Season {media.number}",
            "index": media.number,
            "parentTitle": show.title,
            "parentRatingKey": lib.discover_key(show),
            "parentGuid": lib.plex_guid(show),
            "leafCount": len(media.episodes),
        }
    else:
        assert isinstance(media, Episode)
        show = media.show
        season = show.seasons[media.season - 1]
        attrs |= {
            "title": media.title,
            "index": media.number,
            "parentIndex": media.season,
            "parentTitle": f"Season {media.season}",
            "grandparentTitle": show.title,
            "parentRatingKey": lib.discover_key(season),
            "grandparentRatingKey": lib.discover_key(show),
            "parentGuid": lib.plex_guid(season),
            "grandparentGuid": lib.plex_guid(show),
            "originallyAvailableAt": day(media.aired),
            "duration": media.runtime * 60_000,
        }
    attrs["thumb"] = f"{_IMAGES}/{media.kind}/{key}/thumb.jpg"
    attrs["publicPagesURL"] = f"https://watch.plex.tv/{media.kind}/{getattr(media, 'slug', key)}"
    if listed_at is not None:
        attrs["watchlistedAt"] = listed_at
    children = [El("Guid", {"id": g}) for g in external_guids(media)] if guids else []
    tag = "Video" if isinstance(media, (Movie, Episode)) else "Directory"
    return El(tag, attrs, children, key="Metadata")


@endpoint
async def watchlist(request: Request) -> Response:
    emu = emulator(request)
    settings = emu.settings
    size = int_param_x(request, "X-Plex-Container-Size")
    if size is not None and size > settings.discover_max_page:
        return html_error(504)
    data = emu.state.users[account(request)]
    entries = []
    wanted_type = int_param(request, "type")
    for key, at in data.watchlist.items():
        media = emu.library.from_discover(key)
        if media is None:
            continue
        if wanted_type is not None and TYPE_NUMBERS[media.kind] != wanted_type:
            continue
        if request.path_params["filter"] == "released" and getattr(media, "year", 0) > time.gmtime().tm_year:
            continue
        entries.append((media, at))
    sort = request.query_params.get("sort", "watchlistedAt:desc")
    field, _, direction = sort.partition(":")
    if field == "titleSort":
        entries.sort(key=lambda e: title_sort(getattr(e[0], "title", "")), reverse=direction == "desc")
    else:
        entries.sort(key=lambda e: e[1], reverse=direction != "asc")
    cut = page(request, len(entries), default_size=settings.discover_default_page)
    rows = [discover_el(emu, m, guids=False, listed_at=at) for m, at in entries[cut.start : cut.stop]]
    attrs = {"identifier": PROVIDER, "librarySectionID": "watchlist", "librarySectionTitle": "Watchlist", **cut.attrs}
    return respond(request, container(rows, **attrs), headers=cut.headers)


def int_param_x(request: Request, name: str) -> int | None:
    value = x_plex(request, name)
    return int(value) if value is not None and value.strip().isdigit() else None


@endpoint
async def discover_metadata(request: Request) -> Response:
    emu = emulator(request)
    found = [m for k in request.path_params["ids"].split(",") if (m := emu.library.from_discover(k.strip()))]
    if not found:
        raise Reject(404)
    rows = [discover_el(emu, m, guids=True) for m in found]
    return respond(request, container(rows, identifier=PROVIDER))


@endpoint
async def user_state(request: Request) -> Response:
    emu = emulator(request)
    media = emu.library.from_discover(request.path_params["id"])
    if media is None:
        raise Reject(404)
    key = emu.library.discover_key(media)
    who = account(request)
    listed = emu.state.users[who].watchlist.get(key)
    count, last, _ = emu.state.view_of(who, media)
    attrs = {"ratingKey": key, "type": media.kind, "viewCount": count, "lastViewedAt": last, "watchlistedAt": listed}
    return respond(request, container([El("UserState", attrs)], identifier=PROVIDER))


def _by_id(emu: Any, kinds: tuple[str, ...], scheme: str, value: str) -> list[Media]:
    lib, catalog = emu.library, emu.catalog
    if scheme == "plex":
        media = lib.from_discover(value.rsplit("/", 1)[-1])
        return [media] if media is not None and media.kind in kinds else []
    out = []
    for kind in kinds:
        found = catalog.find(kind, {scheme: value})
        if found is not None:
            out.append(found)
    return out


@endpoint
async def matches(request: Request) -> Response:
    emu = emulator(request)
    type_number = int_param(request, "type")
    kinds: tuple[str, ...] = (
        ("movie", "show")
        if type_number is None
        else ({1: ("movie",), 2: ("show",), 3: ("season",), 4: ("episode",)}.get(type_number, ()))
    )
    guid = request.query_params.get("guid", "")
    title = request.query_params.get("title", "")
    found: list[Media] = []
    if "://" in guid:
        scheme, _, value = guid.partition("://")
        if emu.settings.matches_by_id or scheme.lower() not in EXTERNAL_SCHEMES:
            found = _by_id(emu, kinds, scheme.lower(), value)
    elif title:
        scheme, dash, value = title.partition("-")
        if dash and scheme.lower() in EXTERNAL_SCHEMES and value:
            found = _by_id(emu, kinds, scheme.lower(), value)
        else:
            year = int_param(request, "year")
            wanted = title.strip().lower()
            found = [
                t
                for lowered, t in emu.library.titles_lower
                if lowered == wanted and t.kind in kinds and (year is None or t.year == year)
            ]
    rows = [discover_el(emu, m, guids=True) for m in found]
    return respond(request, container(rows, identifier=PROVIDER))


@endpoint
async def search(request: Request) -> Response:
    emu = emulator(request)
    query = (request.query_params.get("query") or "").strip().lower()
    limit = int_param(request, "limit") or 30
    types = request.query_params.get("searchTypes", "movies,tv")
    kinds = set()
    for part in types.split(","):
        kinds.add({"movies": "movie", "movie": "movie", "tv": "show", "show": "show"}.get(part.strip(), ""))
    scored = []
    if query:
        for lowered, media in emu.library.titles_lower:
            if media.kind not in kinds or query not in lowered:
                continue
            score = 1.0 if lowered == query else (0.9 if lowered.startswith(query) else 0.7)
            scored.append((-score, -media.year, emu.library.index[media], score, media))
    scored.sort(key=lambda s: s[:3])
    results = [
        El("SearchResult", {"score": round(s[3], 3)}, [_one(discover_el(emu, s[4], guids=False))])
        for s in scored[:limit]
    ]
    group = El("SearchResults", {"id": "external", "title": "More Ways To Watch", "size": len(results)}, results)
    return respond(request, container([group], size=1, identifier=PROVIDER))


def _one(el: El) -> El:
    el.one = True
    return el


def _conflict(emu: Any, message: str) -> Response:
    status = emu.settings.watchlist_conflict_status
    if status == 409:
        body = msgspec.json.encode({"error": message})
        return Response(body, status_code=409, media_type="application/json")
    return Response(b"", status_code=status)


@endpoint
async def add_to_watchlist(request: Request) -> Response:
    emu = emulator(request)
    media = emu.library.from_discover(request.query_params.get("ratingKey", ""))
    if media is None:
        raise Reject(404)
    if not emu.state.watch(account(request), emu.library.discover_key(media), int(time.time())):
        return _conflict(emu, "Item is already on the watchlist")
    return empty_ok()


@endpoint
async def remove_from_watchlist(request: Request) -> Response:
    emu = emulator(request)
    media = emu.library.from_discover(request.query_params.get("ratingKey", ""))
    if media is None:
        raise Reject(404)
    if not emu.state.unlist(account(request), emu.library.discover_key(media)):
        return _conflict(emu, "Item is not on the watchlist (already removed)")
    return empty_ok()


ROUTES = [
    Route("/library/sections/watchlist/{filter}", watchlist, methods=["GET"]),
    Route("/library/metadata/matches", matches, methods=["GET"]),
    Route("/library/metadata/{id}/userState", user_state, methods=["GET"]),
    Route("/library/search", search, methods=["GET"]),
    Route("/actions/addToWatchlist", add_to_watchlist, methods=["PUT", "POST"]),
    Route("/actions/removeFromWatchlist", remove_from_watchlist, methods=["PUT", "POST"]),
]
