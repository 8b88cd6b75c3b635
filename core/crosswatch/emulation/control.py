"""Helpers of the emulators' ``/_emulator/*`` control routes: JSON answers and bodies."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

_encode = msgspec.json.Encoder().encode


def reply(data: Any, status: int = 200) -> Response:
    """``data`` as a JSON answer."""
    return Response(_encode(data), status_code=status, media_type="application/json")


def refuse(message: str, status: int = 422) -> Response:
    """``{"error": message}`` with ``status`` (a control request the emulator cannot take)."""
    return reply({"error": message}, status)


async def json_body(request: Request) -> Any:
    """The posted JSON (``{}`` for an empty body); ValueError naming what is malformed."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ValueError(f"malformed JSON: {exc}") from None
