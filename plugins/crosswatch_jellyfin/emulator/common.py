"""What every route needs: the emulator, the caller, the user a request acts for, the item
it names, the JSON body (names case-insensitive) and the error answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from crosswatch.emulation.catalog import Media
from crosswatch_jellyfin.emulator.render import Reject, fail, problem
from crosswatch_jellyfin.emulator.users import Caller, User

Handler = Callable[[Request], Awaitable[Response]]


def emulator(request: Request) -> Any:
    return request.app.state.emulator


def caller(request: Request) -> Caller:
    """The request's caller (the gate has set it; anonymous on the open routes)."""
    found = request.scope.get("state", {}).get("caller")
    return found if isinstance(found, Caller) else Caller()


def endpoint(fn: Handler) -> Handler:
    """``Reject`` becomes its answer. The body is always read first: a client that sends one
    with a DELETE (Emby's sends ``{}``) must find its keep-alive connection still usable."""

    @wraps(fn)
    async def wrapper(request: Request) -> Response:
        await request.body()
        try:
            return await fn(request)
        except Reject as exc:
            return exc.response

    return wrapper


def param(request: Request, name: str) -> str | None:
    """A query parameter by case-insensitive name (the first non-empty value)."""
    wanted = name.lower()
    return next((v for k, v in request.query_params.multi_items() if k.lower() == wanted and v != ""), None)


def acting_user(request: Request, raw: str | None, *, required: bool = True) -> User | None:
    """The user a request acts for: ``raw`` (a path or query ``userId``) or the caller's own.

    Another user's id needs an administrator or an API key (else 403); an unknown one is a
    404; an API key without a user id is None, or a 400 when ``required``.
    """
    emu, who = emulator(request), caller(request)
    if raw:
        parsed = emu.library.parse_user_id(raw)
        if parsed is None:
            raise Reject(problem("userId", raw))
        if not who.admin and (who.user is None or who.user.id != parsed):
            raise Reject(fail(403, "Forbidden"))
        user = emu.accounts.user(parsed)
        if user is None:
            raise Reject(fail(404, "User not found"))
        return user
    if who.user is not None:
        return who.user
    if required:
        raise Reject(fail(400, "userId is required"))
    return None


def item_index(request: Request, raw: str) -> int:
    """The library index of the item ``raw`` names: 400 when malformed (Jellyfin), 404 when unknown."""
    lib = emulator(request).library
    parsed = lib.parse_id(raw)
    if parsed is None and lib.guid_ids:
        raise Reject(problem("itemId", raw))
    index = lib.by_id.get(parsed) if parsed is not None else None
    if index is None:
        raise Reject(fail(404, "Item not found."))
    return index


def media_of(request: Request, raw: str) -> Media:
    return emulator(request).library.media[item_index(request, raw)]


async def body_json(request: Request) -> dict[str, Any]:
    """The JSON object of the body with lower-cased names (an empty body is ``{}``); 400 otherwise."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise Reject(fail(400, "The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise Reject(fail(400, "The request body must be a JSON object."))
    return {str(k).lower(): v for k, v in data.items()}
