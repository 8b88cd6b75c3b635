"""Playlists: a user's ordered lists of movies and episodes (a series or season added is
its episodes). A playlist is the owner's (an administrator's or API key's too); others get 404.

- ``POST /Playlists``: Jellyfin ``{"Name", "Ids", "UserId", "MediaType"}`` -> ``{"Id"}``;
  Emby ``?Name=&Ids=&MediaType=`` -> ``{"Id", "Name", "ItemAddedCount"}`` (either form is
  read on both).
- ``GET /Playlists/{id}/Items[?userId=&StartIndex=&Limit=&Fields=]``: the entries in order,
  each an item with ``PlaylistItemId``.
- ``POST /Playlists/{id}/Items?ids=a,b[&userId=]``: appended (204; Emby 200
  ``{"Id", "ItemAddedCount"}``); ``DELETE /Playlists/{id}/Items?entryIds=`` (Emby also ``POST
  .../Items/Delete``): 204.
- ``GET /Playlists/{id}`` (Jellyfin): ``{"OpenAccess", "Shares", "ItemIds"}``.
- ``DELETE /Items/{id}`` deletes a playlist (204); library items cannot be deleted here (403).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch_jellyfin.emulator.common import acting_user, body_json, caller, emulator, endpoint
from crosswatch_jellyfin.emulator.library import leaves
from crosswatch_jellyfin.emulator.query import Params
from crosswatch_jellyfin.emulator.render import Reject, fail, item_dto, reply
from crosswatch_jellyfin.emulator.userdata import Playlist


def _playlist(request: Request) -> Playlist:
    emu = emulator(request)
    playlist = emu.state.playlists.get(request.path_params["playlist_id"].replace("-", "").lower())
    if playlist is None:
        playlist = emu.state.playlists.get(request.path_params["playlist_id"])
    who = caller(request)
    if playlist is None or not (who.admin or (who.user is not None and who.user.id == playlist.owner)):
        raise Reject(fail(404, "Playlist not found"))
    return playlist


def _indices(emu: Any, ids: list[str]) -> list[int]:
    lib = emu.library
    out: list[int] = []
    for raw in ids:
        parsed = lib.parse_id(raw)
        media = lib.get(parsed)
        if media is not None:
            out += [lib.index[leaf] for leaf in leaves(media)]
    return out


@endpoint
async def create(request: Request) -> Response:
    emu = emulator(request)
    params = Params(request)
    body = await body_json(request)
    name = str(body.get("name") or params.get("Name") or "").strip()
    if not name:
        return fail(400, "Name is required")
    ids = body.get("ids") if isinstance(body.get("ids"), list) else params.values("Ids")
    user = acting_user(request, body.get("userid") or params.get("userId"))
    assert user is not None
    playlist = Playlist(emu.library.new_id(), name, user.id, str(body.get("mediatype") or "Video"), [], time.time())
    playlist.entries = [(emu.library.new_id(), i) for i in _indices(emu, [str(i) for i in ids or []])]
    emu.state.playlists[playlist.id] = playlist
    emu.state.playlist_changed()
    if emu.flavour.playlist_query_params:
        return reply(request, {"Id": playlist.id, "Name": playlist.name, "ItemAddedCount": len(playlist.entries)})
    return reply(request, {"Id": playlist.id})


@endpoint
async def info(request: Request) -> Response:
    emu = emulator(request)
    playlist = _playlist(request)
    ids = [emu.library.ids[i] for _, i in playlist.entries]
    return reply(request, {"OpenAccess": False, "Shares": [], "ItemIds": ids})


@endpoint
async def entries(request: Request) -> Response:
    emu = emulator(request)
    playlist = _playlist(request)
    params = Params(request)
    if request.method == "GET":
        user = acting_user(request, params.get("userId"), required=False)
        fields = params.fields()
        start = max(0, params.int("StartIndex") or 0)
        limit = params.int("Limit")
        chosen = playlist.entries[start : None if limit is None else start + limit]
        items = []
        for entry_id, i in chosen:
            dto = item_dto(emu, emu.library.media[i], user.id if user else None, fields)
            items.append({**dto, "PlaylistItemId": entry_id})
        return reply(request, {"Items": items, "TotalRecordCount": len(playlist.entries), "StartIndex": start})
    if request.method == "POST" and not request.url.path.endswith("/Delete"):
        added = _indices(emu, params.values("Ids"))
        playlist.entries += [(emu.library.new_id(), i) for i in added]
        emu.state.playlist_changed()
        if emu.flavour.playlist_query_params:
            return reply(request, {"Id": playlist.id, "ItemAddedCount": len(added)})
        return Response(status_code=204)
    doomed = set(params.values("EntryIds"))
    playlist.entries = [(e, i) for e, i in playlist.entries if e not in doomed]
    emu.state.playlist_changed()
    return Response(status_code=204)


@endpoint
async def delete_item(request: Request) -> Response:
    emu = emulator(request)
    key = request.path_params["item_id"].replace("-", "").lower()
    playlist = emu.state.playlists.get(key) or emu.state.playlists.get(request.path_params["item_id"])
    if playlist is None:
        if emu.library.by_id.get(emu.library.parse_id(request.path_params["item_id"]) or "") is not None:
            return fail(403, "This emulator does not delete library items.")
        return fail(404, "Item not found.")
    who = caller(request)
    if not (who.admin or (who.user is not None and who.user.id == playlist.owner)):
        return fail(403, "Forbidden")
    del emu.state.playlists[playlist.id]
    emu.state.playlist_changed()
    return Response(status_code=204)


def routes(userless: bool, delete_aliases: bool) -> list[Route]:
    out = [
        Route("/Playlists", create, methods=["POST"]),
        Route("/Playlists/{playlist_id}/Items", entries, methods=["GET", "POST", "DELETE"]),
        Route("/Items/{item_id}", delete_item, methods=["DELETE"]),
    ]
    if delete_aliases:
        out.append(Route("/Playlists/{playlist_id}/Items/Delete", entries, methods=["POST"]))
    if userless:
        out.append(Route("/Playlists/{playlist_id}", info, methods=["GET"]))
    return out
