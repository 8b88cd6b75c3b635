"""``POST /scrobble/start|pause|stop``: what a media center sends while something plays.

- ``start``: nothing is stored (``id`` 0); progress 0-100.
- ``pause``, or ``stop`` below 80 %: the item's playback progress is saved (``action``
  ``pause``, ``id`` = the playback id); progress must be 1-100.
- ``stop`` at 80 % or more: a play is recorded (``action`` ``scrobble``, ``id`` = the
  history id) and the item's playback entry removed. The same item stopped again within its
  runtime is a duplicate: 409 ``{watched_at, expires_at}``.
- progress missing or out of range: 422; an item not in the catalogue: 404.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.emulation.catalog import Catalog, Media, Show
from crosswatch_trakt.emulator.media import PLURAL
from crosswatch_trakt.emulator.resolve import Invalid
from crosswatch_trakt.emulator.responses import BadRequest, endpoint, json_response, read_json
from crosswatch_trakt.emulator.routes_sync import emulator, key_of
from crosswatch_trakt.emulator.times import iso, now_ms

SHARING = {"twitter": False, "mastodon": False, "tumblr": False}


def _media(catalog: Catalog, body: dict[str, Any]) -> Media | None:
    movie, episode, show = body.get("movie"), body.get("episode"), body.get("show")
    if isinstance(movie, dict):
        return catalog.find("movie", movie.get("ids") or {})
    if not isinstance(episode, dict):
        raise Invalid("send a movie or an episode")
    if isinstance(episode.get("ids"), dict) and episode["ids"]:
        found = catalog.find("episode", episode["ids"])
        if found is not None or not isinstance(show, dict):
            return found
    if isinstance(show, dict):
        parent = catalog.find("show", show.get("ids") or {})
        season, number = episode.get("season"), episode.get("number")
        if isinstance(parent, Show) and isinstance(season, int) and isinstance(number, int):
            found_season = parent.season(season)
            return found_season.episode(number) if found_season else None
    return None


async def _scrobble(request: Request, action: str) -> Response:
    emu = emulator(request)
    state = emu.state
    body = await read_json(request)
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    progress = body.get("progress")
    if isinstance(progress, bool) or not isinstance(progress, (int, float)):
        raise Invalid("progress (0-100) is required")
    low = 0 if action == "start" else 1
    if not low <= progress <= 100:
        raise Invalid(f"progress must be between {low} and 100 for {action}")
    media = _media(emu.catalog, body)
    if media is None:
        raise BadRequest(404, "not_found", "the item is not on Trakt")
    key = key_of(media)
    plural = PLURAL[key[0]]
    now = now_ms()
    item_id, answer = 0, "start"
    if action == "stop" and progress >= 80:
        last = state.scrobbled.get(key)
        runtime_ms = media.runtime * 60_000  # type: ignore[union-attr]
        if last is not None and now < last + runtime_ms:
            return json_response({"watched_at": iso(last), "expires_at": iso(last + runtime_ms)}, 409)
        item_id, answer = state.add_play(key, now, "scrobble").id, "scrobble"
        state.scrobbled[key] = now
        entry = state.playback_of(key)
        stamps = [(plural, "watched_at")]
        if entry is not None:
            state.unpause(entry.id)
            stamps.append((plural, "paused_at"))
        state.activities.touch(stamps, now)
    elif action != "start":
        item_id, answer = state.pause(key, float(progress), now).id, "pause"
        state.activities.touch([(plural, "paused_at")], now)
    reply = emu.media.attach({"id": item_id, "action": answer, "progress": progress, "sharing": SHARING}, media)
    reply.pop("type")
    return json_response(reply, 201)


@endpoint
async def start(request: Request) -> Response:
    return await _scrobble(request, "start")


@endpoint
async def pause(request: Request) -> Response:
    return await _scrobble(request, "pause")


@endpoint
async def stop(request: Request) -> Response:
    return await _scrobble(request, "stop")


ROUTES = [
    Route("/scrobble/start", start, methods=["POST"]),
    Route("/scrobble/pause", pause, methods=["POST"]),
    Route("/scrobble/stop", stop, methods=["POST"]),
]
