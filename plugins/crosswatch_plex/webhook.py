"""Plex webhooks: ``POST /webhook/plex/<secret>`` on the daemon's endpoint.

Plex (a Plex Pass feature) posts ``multipart/form-data`` with the event as JSON in the
``payload`` field (and a poster in ``thumb``). ``media.play``/``resume``/``pause``/``stop``/
``scrobble`` become ``PlaybackObserved`` and ``media.rate`` a ``RatingObserved``, handed to
the bus at once (``emit``): the endpoint answers in well under a millisecond of work and
never waits for Trakt. A wrong secret gets 403 (logged once per source address), a body
over ``scrobble.webhook.max_body_kb`` 413, a payload that is not JSON (or is nested deeper
than a decoder recurses) or has no ``Metadata`` 400. A client that hangs up before its body
is in is one info line: nothing was received, nothing is answered.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crosswatch.config import Config
from crosswatch.events import PlaybackObserved, RatingObserved
from crosswatch.webhooks import WebhookGate
from crosswatch_plex.mapping import rating_of, section_id, to_item

log = structlog.get_logger("crosswatch.plex")
PLAY_STATES = {
    "media.play": "playing",
    "media.resume": "playing",
    "media.pause": "paused",
    "media.stop": "stopped",
    "media.scrobble": "stopped",
}


class Webhook:
    """The route and what it needs from the daemon (set by the plugin's hooks)."""

    def __init__(self) -> None:
        self.config: Config | None = None
        self.bus: Any = None
        self.gate = WebhookGate("plex")
        self.received = 0

    def route(self) -> Route:
        return Route("/webhook/plex/{secret}", self.receive, methods=["POST"])

    async def receive(self, request: Request) -> Response:
        if self.config is None or self.bus is None:
            return Response(status_code=503)
        body = await self.gate.admit(request, self.config)
        if isinstance(body, Response):
            return body
        try:
            payload = _payload(request, body)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        self.received += 1
        try:
            event = _event(payload)
        except (TypeError, ValueError, AttributeError, KeyError):
            return JSONResponse({"error": "the payload's Metadata is not what Plex sends"}, status_code=400)
        if event is not None:
            self.bus.emit(event)
        return Response(status_code=200)


def _payload(request: Request, body: bytes) -> dict[str, Any]:
    """The ``payload`` JSON of a multipart body (or a JSON body); ValueError saying why not."""
    kind = request.headers.get("content-type", "")
    raw: bytes | None = None
    if kind.startswith("multipart/form-data"):
        raw = _form_field(kind, body, "payload")
    elif kind.startswith("application/json"):
        raw = body
    if raw is None:
        raise ValueError("no payload field (Plex posts multipart/form-data with the JSON in 'payload')")
    try:
        payload = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise ValueError("the payload is not JSON") from None
    except RecursionError:
        raise ValueError("the payload is nested too deeply to be one Plex sends") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("Metadata"), dict):
        raise ValueError("the payload has no Metadata")
    return payload


def _form_field(content_type: str, body: bytes, name: str) -> bytes | None:
    """One field of a multipart body, parsed with python-multipart."""
    from python_multipart import MultipartParser
    from python_multipart.multipart import parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise ValueError("multipart body without a boundary")
    found: dict[str, bytearray] = {}
    current: dict[str, Any] = {"name": None, "header": b"", "value": b""}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        current["header"] = data[start:end].lower()

    def on_header_value(data: bytes, start: int, end: int) -> None:
        if current["header"] == b"content-disposition":
            _, params = parse_options_header(data[start:end])
            current["name"] = params.get(b"name", b"").decode()

    def on_part_begin() -> None:
        current["name"] = None

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if current["name"] == name:
            found.setdefault(name, bytearray()).extend(data[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_part_data": on_part_data,
        },
    )
    parser.write(body)
    parser.finalize()
    return bytes(found[name]) if name in found else None


def _event(payload: dict[str, Any]) -> PlaybackObserved | RatingObserved | None:
    kind = payload.get("event")
    meta = payload["Metadata"]
    item = to_item(meta)
    if item is None:
        return None
    account = payload.get("Account") or {}
    user = str(account.get("title") or "") if isinstance(account, dict) else ""
    library = section_id(meta.get("librarySectionID"))
    if kind == "media.rate":
        owner_rated = payload.get("owner") if isinstance(payload.get("owner"), bool) else None
        return RatingObserved(
            "PLEX", "default", item, rating_of(meta), source="webhook", user=user, library=library, owner=owner_rated
        )
    state = PLAY_STATES.get(str(kind))
    if state is None:
        return None
    offset, duration = meta.get("viewOffset"), meta.get("duration")
    progress = 100 * offset / duration if isinstance(offset, int) and isinstance(duration, int) and duration else 0.0
    if kind == "media.scrobble":
        progress = max(progress, 90.0)
    owner = payload.get("owner") if isinstance(payload.get("owner"), bool) else None
    player = payload.get("Player") or {}
    session = f"{player.get('uuid', '')}:{meta.get('ratingKey', '')}" if isinstance(player, dict) else ""
    return PlaybackObserved(
        "PLEX",
        "default",
        state,
        item,
        round(progress, 2),
        source="webhook",
        user=user,
        library=library,
        session=session,
        owner=owner,
    )
