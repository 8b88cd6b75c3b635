"""What every route needs: the emulator, the caller's account, error answers."""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crosswatch_plex.emulator.query import BadQuery
from crosswatch_plex.emulator.render import html_error

Handler = Callable[[Request], Awaitable[Response]]
LIBRARY_ID = "com.plexapp.plugins.library"
MEDIA_TAG_PREFIX = "/system/bundle/media/flags/"
MEDIA_TAG_VERSION = 1734545021
VERSION = "1.41.3.9314-a0bfb8370"  # the PMS version reported


class Reject(Exception):
    """Raised by a handler to answer ``status`` (PMS's HTML error page unless ``response`` is given)."""

    def __init__(self, status: int, response: Response | None = None) -> None:
        super().__init__(status)
        self.status, self.response = status, response


def emulator(request: Request) -> Any:
    return request.app.state.emulator


def account(request: Request) -> int:
    """The PMS account id of the request's token (the gate has checked it)."""
    return int(request.scope.get("state", {}).get("account", 1))


def endpoint(fn: Handler) -> Handler:
    """``Reject`` becomes its answer; a bad filter or number is a 400."""

    @wraps(fn)
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except Reject as exc:
            return exc.response or html_error(exc.status)
        except BadQuery:
            return html_error(400)

    return wrapper


def int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or not value.strip().lstrip("-").isdigit():
        return None
    return int(value)


def empty_ok() -> Response:
    """PMS's bodiless 200 (scrobble, rate, ...)."""
    return Response(b"", status_code=200)


def cached(emu: Any, key: tuple, build: Any) -> list:
    """A listing computed once per state version (a few recent ones kept)."""
    hit = emu.listings.get(key)
    if hit is not None and hit[0] == emu.state.version:
        return hit[1]
    value = build()
    if len(emu.listings) >= 32:
        emu.listings.pop(next(iter(emu.listings)))
    emu.listings[key] = (emu.state.version, value)
    return value


def hidden(emu: Any, rk: int) -> bool:
    """A ratingKey whose hydration answers 404 (``not_found_keys``/``not_found_rate``)."""
    settings = emu.settings
    if str(rk) in settings.not_found_keys:
        return True
    if settings.not_found_rate:
        return zlib.crc32(f"{emu.seed}:{rk}".encode()) / 2**32 < settings.not_found_rate
    return False
