"""``/users/{id}``: the profile and the user's lists as other users (and other clients) read them.

``{id}`` is ``me`` (the signed-in user; the gate has already required the token) or the
emulated user's slug (any case). Any other name is an unknown user (404). A slug request is
"OAuth optional": a public profile is readable without a token; with the ``private_profile``
knob it answers 401 with ``X-Private-User: true`` unless the user's own token is sent.

The lists are the ``/sync`` ones under another path (same shapes, paging, sorting, ETags):
``watched/{movies|shows}``, ``ratings[/{type}[/{rating}]]``, ``watchlist[/{type}[/{sort_by}
[/{sort_how}]]]``, ``collection/{movies|shows}``. Likes (``/users/likes/{comments|lists}``
and ``/users/{id}/likes/{type}``) are always an empty, paginated list: the emulated user
likes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch_trakt.emulator.gate import bearer_token
from crosswatch_trakt.emulator.responses import BadRequest, endpoint, error, json_response, page_of
from crosswatch_trakt.emulator.routes_collection import get_collection
from crosswatch_trakt.emulator.routes_history import get_watched
from crosswatch_trakt.emulator.routes_sync import emulator, get_ratings, get_watchlist

Handler = Callable[[Request], Awaitable[Response]]
LIKE_TYPES = ("comments", "lists")


def extended(request: Request) -> frozenset[str]:
    """The ``extended`` levels asked for (``?extended=full,vip`` -> {"full", "vip"})."""
    return frozenset(part.strip() for part in request.query_params.get("extended", "").split(",") if part.strip())


def profile(emu: Any, levels: Collection[str] = ()) -> dict[str, Any]:
    """The user's profile: the standard fields, plus those of ``full`` and ``vip`` when asked for."""
    user, settings = emu.user, emu.settings
    out: dict[str, Any] = {
        "username": user["username"],
        "private": settings.private_profile,
        "deleted": False,
        "name": user["name"],
        "vip": settings.vip,
        "vip_ep": False,
        "director": user["director"],
        "ids": {"slug": user["ids"]["slug"], "trakt": user["ids"]["trakt"]},
    }
    if "full" in levels:
        out.update({key: user[key] for key in ("joined_at", "location", "about", "gender", "age", "images")})
    if "vip" in levels:
        out.update({"vip_og": False, "vip_years": 1 if settings.vip else 0, "vip_cover_image": None})
    return out


def _refusal(request: Request) -> Response | None:
    """Why ``{user}`` may not be read by this request (404 unknown, 401 private), or None."""
    emu = emulator(request)
    name = request.path_params["user"]
    if name == "me":
        return None
    if name.lower() != emu.user["ids"]["slug"]:
        return error(404, "not_found", f"no user {name!r}")
    if emu.settings.private_profile and bearer_token(emu, request.headers)[1] is None:
        return error(401, "private_user", "this profile is private", {"X-Private-User": "true"})
    return None


def for_user(handler: Handler, types: Collection[str] | None = None) -> Handler:
    """``handler`` behind the ``{user}`` check (and, if given, a check of the ``type`` path segment)."""

    @endpoint
    async def route(request: Request) -> Response:
        refusal = _refusal(request)
        if refusal is not None:
            return refusal
        kind = request.path_params.get("type")
        if types is not None and kind not in types:
            raise BadRequest(404, "not_found", f"unknown type {kind!r}")
        return await handler(request)

    return route


async def get_profile(request: Request) -> Response:
    return json_response(profile(emulator(request), extended(request)))


async def get_likes(request: Request) -> Response:
    kind = request.path_params["type"]
    if kind not in LIKE_TYPES:
        raise BadRequest(404, "not_found", f"unknown type {kind!r}")
    settings = emulator(request).settings
    page = page_of(request, 0, default=10, maximum=settings.max_page_limit, always=True)
    assert page is not None
    return json_response([], headers=page.headers)


_WATCHED = ("movies", "shows")
_COLLECTION = ("movies", "shows")

ROUTES = [
    # /users/likes/... and /users/settings (routes_sync) come before /users/{user}
    Route("/users/likes/{type}", endpoint(get_likes), methods=["GET"]),
    Route("/users/{user}", for_user(get_profile), methods=["GET"]),
    Route("/users/{user}/likes/{type}", for_user(get_likes), methods=["GET"]),
    Route("/users/{user}/watched/{type}", for_user(get_watched, _WATCHED), methods=["GET"]),
    Route("/users/{user}/ratings", for_user(get_ratings), methods=["GET"]),
    Route("/users/{user}/ratings/{type}", for_user(get_ratings), methods=["GET"]),
    Route("/users/{user}/ratings/{type}/{rating}", for_user(get_ratings), methods=["GET"]),
    Route("/users/{user}/watchlist", for_user(get_watchlist), methods=["GET"]),
    Route("/users/{user}/watchlist/{type}", for_user(get_watchlist), methods=["GET"]),
    Route("/users/{user}/watchlist/{type}/{sort_by}", for_user(get_watchlist), methods=["GET"]),
    Route("/users/{user}/watchlist/{type}/{sort_by}/{sort_how}", for_user(get_watchlist), methods=["GET"]),
    Route("/users/{user}/collection/{type}", for_user(get_collection, _COLLECTION), methods=["GET"]),
]
