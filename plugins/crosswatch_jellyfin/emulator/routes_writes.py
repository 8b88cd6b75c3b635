"""Writing user data: played, favourites, likes, the UserData update (all answer the item's
UserItemDataDto; 404 for an unknown item or user, 400 for a malformed Guid or date).

===============================================  =========================================================
``POST /Users/{u}/PlayedItems/{id}[?DatePlayed=]``  mark played (``DatePlayed``: ``yyyyMMddHHmmss`` UTC or
                                                    ISO 8601); Jellyfin also ``POST /UserPlayedItems/{id}``
``DELETE /Users/{u}/PlayedItems/{id}``              mark unplayed (Emby also ``POST .../Delete``)
``POST|DELETE /Users/{u}/FavoriteItems/{id}``       favourite on/off (Jellyfin ``/UserFavoriteItems/{id}``)
``POST /Users/{u}/Items/{id}/Rating?Likes=``        like (true) or dislike (false); ``DELETE`` clears
                                                    (Jellyfin ``/UserItems/{id}/Rating``)
``POST /Users/{u}/Items/{id}/UserData``             ``UpdateUserItemDataDto``: the fields given (Rating
                                                    outside 0-10: 400); Jellyfin also ``POST
                                                    /UserItems/{id}/UserData``; Emby answers 204
===============================================  =========================================================

The rules (what a mark does to PlayCount, LastPlayedDate, the position) are in :mod:`.userdata`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch_jellyfin.emulator.common import acting_user, body_json, emulator, endpoint, media_of, param
from crosswatch_jellyfin.emulator.query import Params
from crosswatch_jellyfin.emulator.render import Reject, fail, parse_date, problem, reply, user_data_dto

_BOOL_FIELDS = {"isfavorite": "IsFavorite", "likes": "Likes", "played": "Played"}
_INT_FIELDS = {"playbackpositionticks": "PlaybackPositionTicks", "playcount": "PlayCount"}


def _target(request: Request) -> tuple[Any, Any, Any]:
    emu = emulator(request)
    user = acting_user(request, request.path_params.get("user_id") or param(request, "userId"))
    media = media_of(request, request.path_params["item_id"])
    return emu, user, media


def _done(request: Request, emu: Any, user: Any, media: Any) -> Response:
    return reply(request, user_data_dto(emu, user.id, media))


@endpoint
async def played(request: Request) -> Response:
    emu, user, media = _target(request)
    if request.method == "DELETE" or request.url.path.endswith("/Delete"):
        emu.state.mark_unplayed(user.id, media)
        return _done(request, emu, user, media)
    raw = param(request, "DatePlayed")
    try:
        date = parse_date(raw)
    except ValueError:
        return problem("datePlayed", raw or "")
    emu.state.mark_played(user.id, media, date)
    return _done(request, emu, user, media)


@endpoint
async def favorite(request: Request) -> Response:
    emu, user, media = _target(request)
    on = request.method == "POST" and not request.url.path.endswith("/Delete")
    emu.state.set_favorite(user.id, media, on)
    return _done(request, emu, user, media)


@endpoint
async def rating(request: Request) -> Response:
    emu, user, media = _target(request)
    if request.method == "DELETE" or request.url.path.endswith("/Delete"):
        emu.state.set_likes(user.id, media, None)
    else:
        emu.state.set_likes(user.id, media, Params(request).bool("Likes"))
    return _done(request, emu, user, media)


@endpoint
async def update_user_data(request: Request) -> Response:
    emu, user, media = _target(request)
    body = await body_json(request)
    fields: dict[str, Any] = {}
    for key, name in _BOOL_FIELDS.items():
        value = body.get(key)
        if value is not None:
            if not isinstance(value, bool):
                raise Reject(fail(400, f"{name} must be true or false"))
            fields[name] = value
    for key, name in _INT_FIELDS.items():
        value = body.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise Reject(fail(400, f"{name} must be a whole number"))
            fields[name] = value
    value = body.get("rating")
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Reject(fail(400, "Rating must be a number"))
        fields["Rating"] = float(value)
    value = body.get("lastplayeddate")
    if value is not None:
        try:
            fields["LastPlayedDate"] = parse_date(str(value))
        except ValueError:
            raise Reject(fail(400, "LastPlayedDate must be a date")) from None
    try:
        emu.state.update(user.id, media, fields)
    except ValueError as exc:
        return fail(400, str(exc))
    if emu.flavour.userdata_post_empty:
        return Response(status_code=204)
    return _done(request, emu, user, media)


def routes(userless: bool, delete_aliases: bool) -> list[Route]:
    """The routes (``userless``: Jellyfin 10.9+'s; ``delete_aliases``: Emby's ``POST .../Delete``)."""
    out = [
        Route("/Users/{user_id}/PlayedItems/{item_id}", played, methods=["POST", "DELETE"]),
        Route("/Users/{user_id}/FavoriteItems/{item_id}", favorite, methods=["POST", "DELETE"]),
        Route("/Users/{user_id}/Items/{item_id}/Rating", rating, methods=["POST", "DELETE"]),
        Route("/Users/{user_id}/Items/{item_id}/UserData", update_user_data, methods=["POST"]),
    ]
    if delete_aliases:
        out += [
            Route("/Users/{user_id}/PlayedItems/{item_id}/Delete", played, methods=["POST"]),
            Route("/Users/{user_id}/FavoriteItems/{item_id}/Delete", favorite, methods=["POST"]),
            Route("/Users/{user_id}/Items/{item_id}/Rating/Delete", rating, methods=["POST"]),
        ]
    if userless:
        out += [
            Route("/UserPlayedItems/{item_id}", played, methods=["POST", "DELETE"]),
            Route("/UserFavoriteItems/{item_id}", favorite, methods=["POST", "DELETE"]),
            Route("/UserItems/{item_id}/Rating", rating, methods=["POST", "DELETE"]),
            Route("/UserItems/{item_id}/UserData", update_user_data, methods=["POST"]),
        ]
    return out
