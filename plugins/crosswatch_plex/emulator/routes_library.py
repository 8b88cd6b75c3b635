"""PMS library reads: sections, listings, metadata, children.

- ``GET /library/sections``; ``/library/sections/{id}``; ``/library/sections/{id}/all`` with
  ``type``, ``includeGuids``, filters and ``sort`` (:mod:`.query`), container paging and
  ``limit``, and ``includeMeta=1`` (:mod:`.meta`); a section without that type lists nothing;
- ``GET /library/metadata/{ids}`` (comma list; unknown keys are skipped, 404 when none is
  left; ``not_found_rate``/``not_found_keys`` make keys unknown here); 24-hex keys are
  Discover's (:mod:`.routes_discover`);
- ``GET /library/metadata/{id}/children`` and ``/allLeaves`` (paged).

Listings are computed once per (account, query, state version) and sliced per page.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.emulation.catalog import Media, Season, Show
from crosswatch_plex.emulator.common import (
    LIBRARY_ID,
    MEDIA_TAG_PREFIX,
    MEDIA_TAG_VERSION,
    Reject,
    account,
    cached,
    emulator,
    endpoint,
    hidden,
    int_param,
)
from crosswatch_plex.emulator.items import item_el
from crosswatch_plex.emulator.library import Section
from crosswatch_plex.emulator.meta import meta_el
from crosswatch_plex.emulator.query import Fields, apply_sort, split_param
from crosswatch_plex.emulator.render import El, container, page, respond
from crosswatch_plex.emulator.routes_discover import discover_metadata

_NOT_FILTERS = frozenset(
    {
        "type",
        "sort",
        "includeGuids",
        "includeMeta",
        "includeAdvanced",
        "includeCollections",
        "includeExternalMedia",
        "includeDetails",
        "limit",
        "checkFiles",
        "excludeAllLeaves",
        "includeChildren",
        "asyncCheckFiles",
    }
)


def _section_el(section: Section) -> El:
    art = "/:/resources/movie-fanart.jpg" if section.type == "movie" else "/:/resources/show-fanart.jpg"
    attrs = {
        "allowSync": True,
        "art": art,
        "composite": f"/library/sections/{section.id}/composite/{section.created_at}",
        "filters": True,
        "refreshing": False,
        "thumb": f"/:/resources/{section.type}.png",
        "key": str(section.id),
        "type": section.type,
        "title": section.title,
        "agent": section.agent,
        "scanner": section.scanner,
        "language": "en-US",
        "uuid": section.uuid,
        "updatedAt": section.created_at + 86_400,
        "createdAt": section.created_at,
        "scannedAt": section.created_at + 86_400,
        "content": True,
        "directory": True,
        "contentChangedAt": 1_000_000 + section.id,
        "hidden": 0,
    }
    return El("Directory", attrs, [El("Location", {"id": section.id, "path": section.location})])


@endpoint
async def sections(request: Request) -> Response:
    emu = emulator(request)
    dirs = [_section_el(s) for s in emu.library.sections]
    return respond(
        request,
        container(
            dirs,
            allowSync=False,
            title1="Plex Library",
            identifier=LIBRARY_ID,
            mediaTagPrefix=MEDIA_TAG_PREFIX,
            mediaTagVersion=MEDIA_TAG_VERSION,
        ),
    )


def _section(request: Request) -> Section:
    emu = emulator(request)
    wanted = str(request.path_params["section"])
    for section in emu.library.sections:
        if str(section.id) == wanted:
            return section
    raise Reject(404)


@endpoint
async def section_info(request: Request) -> Response:
    section = _section(request)
    keys = ("all", "unwatched", "newest", "recentlyAdded", "recentlyViewed", "onDeck", "collection", "firstCharacter")
    dirs = [El("Directory", {"key": k, "title": k}) for k in keys]
    return respond(
        request,
        container(
            dirs,
            allowSync=True,
            identifier=LIBRARY_ID,
            librarySectionID=section.id,
            title1=section.title,
            viewGroup="secondary",
        ),
    )


def _section_container(section: Section, **attrs: Any) -> dict[str, Any]:
    return {
        "allowSync": True,
        "art": f"/:/resources/{section.type}-fanart.jpg",
        "identifier": LIBRARY_ID,
        "librarySectionID": section.id,
        "librarySectionTitle": section.title,
        "librarySectionUUID": section.uuid,
        "mediaTagPrefix": MEDIA_TAG_PREFIX,
        "mediaTagVersion": MEDIA_TAG_VERSION,
        "thumb": f"/:/resources/{section.type}.png",
        "title1": section.title,
        **attrs,
    }


def filtered(emu: Any, request: Request, who: int, items: list[Media]) -> list[Media]:
    """``items`` through the request's filters and ``sort`` (cached per state version)."""
    params = tuple(
        (k, v) for k, v in request.query_params.multi_items() if k not in _NOT_FILTERS and not k.startswith("X-Plex-")
    )
    sort = request.query_params.get("sort", "")
    if not params and not sort:
        return items
    fields = Fields(emu.library, emu.state, who)

    def build() -> list[Media]:
        found = [fields.predicate(*split_param(k, v)) for k, v in params]
        tests = [t for t in found if t is not None]
        out = [m for m in items if all(t(m) for t in tests)] if tests else list(items)
        return apply_sort(out, fields.sort_key(sort)) if sort else out

    return cached(emu, ("all", who, id(items), params, sort), build)


@endpoint
async def section_all(request: Request) -> Response:
    emu = emulator(request)
    section = _section(request)
    who = account(request)
    type_number = int_param(request, "type")
    items = filtered(emu, request, who, emu.library.of_type(section, type_number))
    cut = page(request, len(items))
    guids = request.query_params.get("includeGuids") == "1"
    lib, state = emu.library, emu.state
    rows = [item_el(lib, state, who, m, guids=guids) for m in items[cut.start : cut.stop]]
    group = {1: "movie", 2: "show", 3: "season", 4: "episode"}.get(type_number or 0, section.type)
    attrs = _section_container(section, title2="All", viewGroup=group, viewMode=65592, **cut.attrs)
    children = rows
    if request.query_params.get("includeMeta") == "1":
        children = [meta_el(section), *rows]
    return respond(request, container(children, size=len(rows), **attrs), headers=cut.headers)


@endpoint
async def section_collections(request: Request) -> Response:
    section = _section(request)
    return respond(request, container([], **_section_container(section, title2="Collections")))


def resolve_keys(emu: Any, ids: str) -> list[Media]:
    found = []
    for part in ids.split(","):
        part = part.strip()
        media = emu.library.get(part)
        if media is not None and not hidden(emu, emu.library.rk(media)):
            found.append(media)
    return found


async def metadata(request: Request) -> Response:
    """``/library/metadata/{ids}``: PMS items, or a Discover item for a 24-hex key."""
    ids = request.path_params["ids"]
    if not ids.replace(",", "").isdigit():
        return await discover_metadata(request)
    return await _pms_metadata(request)


@endpoint
async def _pms_metadata(request: Request) -> Response:
    emu = emulator(request)
    found = resolve_keys(emu, request.path_params["ids"])
    if not found:
        raise Reject(404)
    who = account(request)
    rows = [item_el(emu.library, emu.state, who, m, detail=True) for m in found]
    attrs: dict[str, Any] = {"allowSync": True, "identifier": LIBRARY_ID}
    section_ids = {emu.library.section_of(m).id for m in found}
    if len(section_ids) == 1:
        section = emu.library.section_of(found[0])
        attrs |= {
            "librarySectionID": section.id,
            "librarySectionTitle": section.title,
            "librarySectionUUID": section.uuid,
        }
    attrs |= {"mediaTagPrefix": MEDIA_TAG_PREFIX, "mediaTagVersion": MEDIA_TAG_VERSION}
    return respond(request, container(rows, **attrs))


def _parent(request: Request) -> Media:
    emu = emulator(request)
    media = emu.library.get(request.path_params["id"])
    if media is None or hidden(emu, emu.library.rk(media)):
        raise Reject(404)
    return media


@endpoint
async def children(request: Request) -> Response:
    emu = emulator(request)
    parent = _parent(request)
    who = account(request)
    lib, state = emu.library, emu.state
    kids: list[Media] = []
    if isinstance(parent, Show):
        kids = list(parent.seasons)
    elif isinstance(parent, Season):
        kids = list(parent.episodes)
    cut = page(request, len(kids))
    rows = [
        item_el(lib, state, who, m, guids=request.query_params.get("includeGuids") == "1")
        for m in kids[cut.start : cut.stop]
    ]
    section = lib.section_of(parent)
    attrs = _section_container(section, key=str(lib.rk(parent)), **cut.attrs)
    out: list[El] = []
    if isinstance(parent, Show):
        leaves_total = sum(len(s.episodes) for s in parent.seasons)
        viewed = state.view_of(who, parent)[2]
        attrs |= {
            "parentIndex": 1,
            "parentTitle": parent.title,
            "parentYear": parent.year,
            "title2": parent.title,
            "viewGroup": "season",
            "viewMode": 65593,
        }
        out.append(
            El(
                "Directory",
                {
                    "leafCount": leaves_total,
                    "viewedLeafCount": viewed,
                    "key": f"/library/metadata/{lib.rk(parent)}/allLeaves",
                    "title": "All episodes",
                },
            )
        )
    elif isinstance(parent, Season):
        show = parent.show
        attrs |= {
            "grandparentRatingKey": lib.rk(show),
            "grandparentTitle": show.title,
            "parentIndex": parent.number,
            "title1": show.title,
            "title2": f"Season {parent.number}",
            "viewGroup": "episode",
            "viewMode": 65592,
        }
    return respond(request, container(out + rows, size=len(rows), **attrs), headers=cut.headers)


@endpoint
async def all_leaves(request: Request) -> Response:
    emu = emulator(request)
    parent = _parent(request)
    who = account(request)
    kids: list[Media] = []
    if isinstance(parent, Show):
        kids = [ep for s in parent.seasons for ep in s.episodes]
    elif isinstance(parent, Season):
        kids = list(parent.episodes)
    cut = page(request, len(kids))
    lib = emu.library
    rows = [
        item_el(lib, emu.state, who, m, guids=request.query_params.get("includeGuids") == "1")
        for m in kids[cut.start : cut.stop]
    ]
    attrs = _section_container(lib.section_of(parent), key=str(lib.rk(parent)), viewGroup="episode", **cut.attrs)
    return respond(request, container(rows, **attrs), headers=cut.headers)


ROUTES = [
    Route("/library/sections", sections, methods=["GET"]),
    Route("/library/sections/{section:int}", section_info, methods=["GET"]),
    Route("/library/sections/{section:int}/all", section_all, methods=["GET"]),
    Route("/library/sections/{section:int}/collections", section_collections, methods=["GET"]),
    Route("/library/metadata/{ids}", metadata, methods=["GET"]),
    Route("/library/metadata/{id}/children", children, methods=["GET"]),
    Route("/library/metadata/{id}/allLeaves", all_leaves, methods=["GET"]),
]
