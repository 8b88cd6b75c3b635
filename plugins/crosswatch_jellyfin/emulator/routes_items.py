"""Reading the library: views, item queries, single items, resume lists, seasons, episodes,
user data.

- ``GET /Users/{userId}/Views`` and (Jellyfin 10.9+) ``GET /UserViews?userId=``: the
  libraries (``CollectionFolder``; the playlists folder once the user has a playlist).
- ``GET /Users/{userId}/Items`` and ``GET /Items?userId=``: the item query of :mod:`.query`
  -> ``{"Items", "TotalRecordCount", "StartIndex"}``. ``/Items`` with an API key and no
  ``userId`` lists without ``UserData``; ``EnableUserData=false`` leaves it out too.
- ``GET /Users/{userId}/Items/Resume``, ``GET /UserItems/Resume``: resumable items, most
  recently played first.
- ``GET /Users/{userId}/Items/{itemId}`` and (Jellyfin) ``GET /Items/{itemId}?userId=``:
  one item with every field (404 unknown, 400 a malformed Guid).
- ``GET /Shows/{id}/Seasons``, ``GET /Shows/{id}/Episodes[?seasonId=|season=]``.
- ``GET /Users/{userId}/Items/{itemId}/UserData``, ``GET /UserItems/{itemId}/UserData``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.emulation.catalog import Show
from crosswatch_jellyfin.emulator.common import acting_user, emulator, endpoint, item_index, media_of, param
from crosswatch_jellyfin.emulator.library import Folder
from crosswatch_jellyfin.emulator.query import ItemQuery, Node, Page, Params, node_type
from crosswatch_jellyfin.emulator.render import (
    ALL_FIELDS,
    fail,
    folder_dto,
    item_dto,
    playlist_dto,
    reply,
    user_data_dto,
)
from crosswatch_jellyfin.emulator.userdata import Playlist


def render_node(emu: Any, node: Node, user_id: str | None, fields: frozenset[str]) -> dict[str, Any]:
    if isinstance(node, Folder):
        return folder_dto(emu, node, user_id, fields)
    if isinstance(node, Playlist):
        return playlist_dto(emu, node, user_id, fields)
    return item_dto(emu, emu.library.media[node], user_id, fields)


def page_reply(request: Request, page: Page, user_id: str | None, params: Params) -> Response:
    emu = emulator(request)
    fields = params.fields()
    shown = user_id if params.bool("EnableUserData") is not False else None
    items = [render_node(emu, n, shown, fields) for n in page.nodes]
    return reply(request, {"Items": items, "TotalRecordCount": page.total, "StartIndex": page.start})


@endpoint
async def views(request: Request) -> Response:
    emu = emulator(request)
    user = acting_user(request, request.path_params.get("user_id") or param(request, "userId"))
    assert user is not None
    query = ItemQuery(emu, Params(request), user.id, emu.library.root)
    nodes = query.candidates()
    items = [render_node(emu, n, user.id, frozenset()) for n in nodes]
    return reply(request, {"Items": items, "TotalRecordCount": len(items), "StartIndex": 0})


@endpoint
async def items(request: Request) -> Response:
    emu = emulator(request)
    params = Params(request)
    user = acting_user(request, request.path_params.get("user_id") or params.get("userId"), required=False)
    user_id = user.id if user is not None else None
    return page_reply(request, ItemQuery(emu, params, user_id).page(), user_id, params)


@endpoint
async def resume(request: Request) -> Response:
    emu = emulator(request)
    params = Params(request)
    user = acting_user(request, request.path_params.get("user_id") or params.get("userId"))
    assert user is not None
    store = emu.state.data[user.id]
    resumable = [i for i, d in store.items() if d.position > 0]
    resumable.sort(key=lambda i: store[i].last_played or 0, reverse=True)
    include = {t.lower() for t in params.values("IncludeItemTypes")}
    if include:
        resumable = [i for i in resumable if node_type(emu.library, i).lower() in include]
    start = max(0, params.int("StartIndex") or 0)
    limit = params.int("Limit")
    chosen = resumable[start : None if limit is None else start + limit]
    return page_reply(request, Page(list(chosen), len(resumable), start), user.id, params)


@endpoint
async def item(request: Request) -> Response:
    emu = emulator(request)
    user = acting_user(request, request.path_params.get("user_id") or param(request, "userId"), required=False)
    user_id = user.id if user is not None else None
    raw = request.path_params["item_id"]
    lib = emu.library
    parsed = lib.parse_id(raw)
    node: Node | None = None
    if parsed is not None:
        node = ItemQuery(emu, Params(request), user_id).resolve(parsed)
    if node is None:
        item_index(request, raw)  # 400 when malformed, else 404
        return fail(404, "Item not found.")
    return reply(request, render_node(emu, node, user_id, ALL_FIELDS))


@endpoint
async def seasons(request: Request) -> Response:
    emu = emulator(request)
    params = Params(request)
    user = acting_user(request, params.get("userId"), required=False)
    show = media_of(request, request.path_params["series_id"])
    if not isinstance(show, Show):
        return fail(404, "Series not found.")
    nodes: list[Node] = [emu.library.index[s] for s in show.seasons]
    user_id = user.id if user else None
    return page_reply(request, Page(nodes, len(nodes), 0), user_id, params)


@endpoint
async def episodes(request: Request) -> Response:
    emu = emulator(request)
    params = Params(request)
    user = acting_user(request, params.get("userId"), required=False)
    show = media_of(request, request.path_params["series_id"])
    if not isinstance(show, Show):
        return fail(404, "Series not found.")
    lib = emu.library
    season_id = params.id("seasonId", lib)
    number = params.int("season")
    chosen = []
    for season in show.seasons:
        if season_id is not None and lib.id_of(season) != season_id:
            continue
        if number is not None and season.number != number:
            continue
        chosen += [lib.index[ep] for ep in season.episodes]
    start = max(0, params.int("StartIndex") or 0)
    limit = params.int("Limit")
    page = chosen[start : None if limit is None else start + limit]
    return page_reply(request, Page(list(page), len(chosen), start), user.id if user else None, params)


@endpoint
async def user_data(request: Request) -> Response:
    emu = emulator(request)
    user = acting_user(request, request.path_params.get("user_id") or param(request, "userId"))
    assert user is not None
    media = media_of(request, request.path_params["item_id"])
    return reply(request, user_data_dto(emu, user.id, media))


def routes(userless: bool) -> list[Route]:
    """The routes (``userless``: also Jellyfin 10.9+'s routes without the user id in the path)."""
    out = [
        Route("/Users/{user_id}/Views", views, methods=["GET"]),
        Route("/Users/{user_id}/Items", items, methods=["GET"]),
        Route("/Users/{user_id}/Items/Resume", resume, methods=["GET"]),
        Route("/Users/{user_id}/Items/{item_id}", item, methods=["GET"]),
        Route("/Items", items, methods=["GET"]),
        Route("/Shows/{series_id}/Seasons", seasons, methods=["GET"]),
        Route("/Shows/{series_id}/Episodes", episodes, methods=["GET"]),
    ]
    if userless:
        out += [
            Route("/UserViews", views, methods=["GET"]),
            Route("/UserItems/Resume", resume, methods=["GET"]),
            Route("/Items/{item_id}", item, methods=["GET"]),
            Route("/UserItems/{item_id}/UserData", user_data, methods=["GET"]),
            Route("/Users/{user_id}/Items/{item_id}/UserData", user_data, methods=["GET"]),
        ]
    return out
