"""Response helpers shared by the routes: JSON, errors, pagination, weak ETags."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from crosswatch_trakt.emulator.media import encode

UPGRADE_URL = "https://trakt.tv/vip"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(data), status_code=status, headers=headers, media_type="application/json")


def error(status: int, code: str, description: str = "", headers: dict[str, str] | None = None) -> Response:
    """A JSON error body ``{"error", "error_description"}`` (OAuth style, which Trakt uses)."""
    return json_response({"error": code, "error_description": description or code}, status, headers)


def account_limit(cap: int, what: str) -> Response:
    """420: the write would pass a free account's cap; nothing was applied."""
    headers = {"X-Account-Limit": str(cap), "X-VIP-User": "false", "X-Upgrade-URL": UPGRADE_URL}
    return error(420, "account_limit_exceeded", f"{what} is limited to {cap} items on a free account", headers)


class BadRequest(Exception):
    """Raised by a handler to answer ``status`` with a JSON error."""

    def __init__(self, status: int, code: str, description: str = "") -> None:
        super().__init__(description or code)
        self.status, self.code, self.description = status, code, description

    def response(self) -> Response:
        return error(self.status, self.code, self.description)


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise BadRequest(400, "bad_request", "a JSON body is required")
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadRequest(400, "bad_request", f"malformed JSON: {exc}") from exc


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


@dataclass(frozen=True)
class Page:
    start: int
    stop: int
    headers: dict[str, str]


def page_of(request: Request, total: int, *, default: int, maximum: int, always: bool) -> Page | None:
    """The slice and ``X-Pagination-*`` headers; None when the list is not paginated.

    ``always=False`` (ratings, playback, collection, watched): only when ``page`` or
    ``limit`` is given. ``limit`` above ``maximum`` is clamped, not refused.
    """
    has_page = "page" in request.query_params
    has_limit = "limit" in request.query_params
    if not always and not has_page and not has_limit:
        return None
    page = max(1, _int_param(request, "page") or 1)
    limit = _int_param(request, "limit")
    limit = default if not limit else min(limit, maximum)
    start = (page - 1) * limit
    headers = {
        "X-Pagination-Page": str(page),
        "X-Pagination-Limit": str(limit),
        "X-Pagination-Page-Count": str(math.ceil(total / limit)),
        "X-Pagination-Item-Count": str(total),
    }
    return Page(min(start, total), min(start + limit, total), headers)


def etag_for(request: Request, digests: Iterable[int]) -> str:
    """A weak ETag of one GET: its path and query, and the digests of the data it shows."""
    query = "&".join(sorted(f"{k}={v}" for k, v in request.query_params.multi_items()))
    seed = f"{request.url.path}?{query}|" + ",".join(str(d) for d in digests)
    return 'W/"' + hashlib.blake2b(seed.encode(), digest_size=10).hexdigest() + '"'


def not_modified(request: Request, etag: str) -> Response | None:
    """A bodiless 304 when ``If-None-Match`` names ``etag`` (weak comparison), else None."""
    header = request.headers.get("if-none-match")
    if not header:
        return None
    bare = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == bare:
            return Response(status_code=304, headers={"ETag": etag})
    return None


def endpoint(fn: Any) -> Any:
    """Wrap a route handler: ``BadRequest`` becomes its error response, ``Invalid`` a 422."""
    from functools import wraps

    from crosswatch_trakt.emulator.resolve import Invalid

    @wraps(fn)
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except BadRequest as exc:
            return exc.response()
        except Invalid as exc:
            return error(422, "unprocessable_entity", str(exc))

    return wrapper


def counts(*plurals: str) -> dict[str, int]:
    return dict.fromkeys(plurals, 0)
