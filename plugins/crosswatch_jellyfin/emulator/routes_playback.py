"""Playback reporting and sessions (all 204, booked to the caller's user and device).

- ``POST /Sessions/Playing`` ``{"ItemId", "PositionTicks"?, "IsPaused"?, "PlaySessionId"?,
  "PlayMethod"?}``: the session plays the item; the user's PlayCount + 1, LastPlayedDate now.
- ``POST /Sessions/Playing/Progress`` (same body): the position (resume rules of
  :mod:`.userdata`), paused or not.
- ``POST /Sessions/Playing/Stopped`` ``{"ItemId", "PositionTicks"?}``: the last position, or
  a play when none is given; the session plays nothing.
- ``POST /Sessions/Playing/Ping?playSessionId=``.
- the older per-item forms, ``POST /Users/{u}/PlayingItems/{id}`` (start),
  ``POST .../PlayingItems/{id}/Progress?PositionTicks=&IsPaused=``, ``DELETE
  .../PlayingItems/{id}?PositionTicks=`` (stop; Emby also ``POST .../Delete``); Jellyfin
  also without the user (``/PlayingItems/{id}``).
- ``GET /Sessions[?DeviceId=&ActiveWithinSeconds=]``: the SessionInfo list.

Each report tells websocket subscribers of ``SessionsStart`` (a ``Sessions`` message), and
on Emby sends ``PlaybackStart``/``PlaybackStopped``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch_jellyfin.emulator.common import acting_user, body_json, caller, emulator, endpoint, param
from crosswatch_jellyfin.emulator.query import Params
from crosswatch_jellyfin.emulator.render import Reject, fail, reply
from crosswatch_jellyfin.emulator.userdata import ResumeRules

START, PROGRESS, STOP = "start", "progress", "stop"


def rules(emu: Any) -> ResumeRules:
    s = emu.settings
    return ResumeRules(s.min_resume_pct, s.max_resume_pct, s.min_resume_duration_s)


def report(emu: Any, who: Any, kind: str, item_id: str | None, ticks: int | None, paused: bool, extra: dict) -> None:
    """Apply one playback report of ``who`` (see the module docstring)."""
    session = emu.sessions.of(who)
    lib = emu.library
    parsed = lib.parse_id(item_id) if item_id else None
    index = lib.by_id.get(parsed) if parsed is not None else None
    if index is None and session.now_playing is not None and kind != START:
        index = session.now_playing
    media = lib.media[index] if index is not None else None
    user_id = who.user.id if who.user is not None else None
    now = time.time()
    session.last_playback_check_in = now
    if kind == START:
        session.now_playing, session.position, session.paused = index, ticks or 0, paused
        session.play_session_id = extra.get("playsessionid") or session.play_session_id
        session.play_method = extra.get("playmethod") or "DirectPlay"
        if media is not None and user_id is not None:
            emu.state.playback_start(user_id, media)
        emu.hub.playback("PlaybackStart", session)
    elif kind == PROGRESS:
        if index is not None:
            session.now_playing = index
        if ticks is not None:
            session.position = ticks
        session.paused = paused
        if media is not None and user_id is not None:
            emu.state.playback_progress(user_id, media, ticks, rules(emu))
    else:
        if media is not None and user_id is not None:
            emu.state.playback_stop(user_id, media, ticks, rules(emu))
        emu.hub.playback("PlaybackStopped", session)
        session.now_playing, session.position, session.paused = None, 0, False
    emu.hub.sessions_changed()


def _ticks(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Reject(fail(400, "PositionTicks must be a number"))
    return int(value)


async def _reported(request: Request, kind: str) -> Response:
    emu = emulator(request)
    body = await body_json(request)
    paused = body.get("ispaused") is True
    report(emu, caller(request), kind, body.get("itemid"), _ticks(body.get("positionticks")), paused, body)
    return Response(status_code=204)


@endpoint
async def playing(request: Request) -> Response:
    return await _reported(request, START)


@endpoint
async def progress(request: Request) -> Response:
    return await _reported(request, PROGRESS)


@endpoint
async def stopped(request: Request) -> Response:
    return await _reported(request, STOP)


@endpoint
async def ping(request: Request) -> Response:
    emulator(request).sessions.of(caller(request)).last_playback_check_in = time.time()
    return Response(status_code=204)


@endpoint
async def playing_item(request: Request) -> Response:
    """The per-item forms: start (POST), progress (POST .../Progress), stop (DELETE or POST .../Delete)."""
    emu = emulator(request)
    acting_user(request, request.path_params.get("user_id"), required=False)
    params = Params(request)
    path = request.url.path
    if path.endswith("/Progress"):
        kind = PROGRESS
    elif request.method == "DELETE" or path.endswith("/Delete"):
        kind = STOP
    else:
        kind = START
    extra = {"playsessionid": params.get("PlaySessionId"), "playmethod": params.get("PlayMethod")}
    ticks = params.int("PositionTicks")
    report(emu, caller(request), kind, request.path_params["item_id"], ticks, bool(params.bool("IsPaused")), extra)
    return Response(status_code=204)


@endpoint
async def sessions(request: Request) -> Response:
    emu = emulator(request)
    listed = emu.sessions.visible(caller(request))
    device = param(request, "DeviceId")
    if device:
        listed = [s for s in listed if s.device_id == device]
    within = Params(request).number("ActiveWithinSeconds")
    if within is not None:
        listed = [s for s in listed if time.time() - s.last_activity <= within]
    return reply(request, [emu.sessions.dto(s) for s in listed])


def routes(userless: bool, delete_aliases: bool) -> list[Route]:
    out = [
        Route("/Sessions", sessions, methods=["GET"]),
        Route("/Sessions/Playing", playing, methods=["POST"]),
        Route("/Sessions/Playing/Progress", progress, methods=["POST"]),
        Route("/Sessions/Playing/Stopped", stopped, methods=["POST"]),
        Route("/Sessions/Playing/Ping", ping, methods=["POST"]),
        Route("/Users/{user_id}/PlayingItems/{item_id}", playing_item, methods=["POST", "DELETE"]),
        Route("/Users/{user_id}/PlayingItems/{item_id}/Progress", playing_item, methods=["POST"]),
    ]
    if delete_aliases:
        out.append(Route("/Users/{user_id}/PlayingItems/{item_id}/Delete", playing_item, methods=["POST"]))
    if userless:
        out += [
            Route("/PlayingItems/{item_id}", playing_item, methods=["POST", "DELETE"]),
            Route("/PlayingItems/{item_id}/Progress", playing_item, methods=["POST"]),
        ]
    return out
