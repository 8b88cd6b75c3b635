"""``/_emulator/*``: the test and benchmark controls (JSON; no token needed).

==========================================  ==============================================================
``GET  /_emulator``                         this list
``GET|POST /_emulator/settings``            the knobs (:mod:`.settings`; POST a partial object; bad -> 422)
``GET|POST|DELETE /_emulator/faults``       scripted faults (:mod:`crosswatch.emulation.faults`)
``GET|POST /_emulator/state``               the users' data and playlists (:mod:`.statejson`); POST replaces
``POST /_emulator/reset``                   back to the seeded state (tokens, keys, faults, settings stay)
``GET  /_emulator/stats``                   request counts per ``METHOD path``, statuses, 401s, 429s, faults,
                                            drops, writes, websocket counts
``POST /_emulator/stats/reset``             start counting again
``GET  /_emulator/users``                   the users with their passwords, the API keys
``POST /_emulator/tokens``                  ``{"user": name or id?, "device_id"?}`` -> ``{"AccessToken",
                                            "UserId"}`` without signing in over HTTP (default: the admin)
``POST /_emulator/expire_tokens``           every device token stops working -> ``{"expired": n}``
``POST /_emulator/approve``                 ``{"code"?, "user"?}`` authorize a Quick Connect code now
                                            (default: every pending one, as the admin)
``POST /_emulator/touch``                   ``{"items": [ids]}`` (or ``{"count": n}``: the first n in library
                                            order): ``DateLastSaved`` = now, as a metadata refresh does
``POST /_emulator/play``                    ``{"item", "user"?, "states"?: ["start", "progress", "stop"],
                                            "position_ticks"? | "progress"? 0-1, "device_id"?}``: another
                                            client plays an item (the reports of :mod:`.routes_playback`)
``POST /_emulator/websocket/drop``          close every websocket now -> ``{"dropped": n}``
``GET  /_emulator/catalog``                 every item: id, type, name, catalogue ids, ProviderIds, style
==========================================  ==============================================================
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.emulation.catalog import Episode, Season
from crosswatch.emulation.control import json_body, refuse, reply
from crosswatch_jellyfin.emulator.common import endpoint
from crosswatch_jellyfin.emulator.library import STYLES, TICKS
from crosswatch_jellyfin.emulator.routes_playback import PROGRESS, START, STOP, report
from crosswatch_jellyfin.emulator.users import Caller


def _emu(request: Request) -> Any:
    return request.app.state.emulator


def _user(emu: Any, who: Any) -> Any:
    if who in (None, ""):
        return emu.accounts.admin
    user = emu.accounts.user(str(who)) or emu.accounts.by_name(str(who))
    if user is None:
        raise ValueError(f"no user {who!r}")
    return user


@endpoint
async def index(request: Request) -> Response:
    return reply({"endpoints": [f"{sorted(r.methods or [])} {r.path}" for r in ROUTES]})


@endpoint
async def settings(request: Request) -> Response:
    emu = _emu(request)
    if request.method == "POST":
        try:
            emu.settings.apply_json(await json_body(request))
        except ValueError as exc:
            return refuse(str(exc))
    return reply(emu.settings.to_json())


@endpoint
async def faults(request: Request) -> Response:
    emu = _emu(request)
    try:
        body = await json_body(request) if request.method == "POST" else None
        return reply(emu.faults.control(request.method, body))
    except (TypeError, ValueError) as exc:
        return refuse(str(exc))


@endpoint
async def state(request: Request) -> Response:
    emu = _emu(request)
    if request.method == "POST":
        try:
            emu.load_state(await json_body(request))
        except ValueError as exc:
            return refuse(str(exc))
    return reply(emu.state_json())


@endpoint
async def reset(request: Request) -> Response:
    emu = _emu(request)
    emu.reset_state()
    return reply({"reset": True})


@endpoint
async def stats(request: Request) -> Response:
    emu = _emu(request)
    return reply(emu.stats.to_json(emu.websocket_stats()))


@endpoint
async def stats_reset(request: Request) -> Response:
    emu = _emu(request)
    emu.stats.reset()
    return reply(emu.stats.to_json(emu.websocket_stats()))


@endpoint
async def users(request: Request) -> Response:
    emu = _emu(request)
    listed = [{"id": u.id, "name": u.name, "password": u.password, "admin": u.admin} for u in emu.accounts.users]
    return reply({"users": listed, "api_keys": list(emu.accounts.api_keys)})


@endpoint
async def tokens(request: Request) -> Response:
    emu = _emu(request)
    try:
        body = await json_body(request)
        user = _user(emu, body.get("user") if isinstance(body, dict) else None)
    except ValueError as exc:
        return refuse(str(exc))
    device = body.get("device_id") if isinstance(body, dict) else None
    token = emu.sign_in(user.name, device_id=str(device or "emulator-control"))
    return reply({"AccessToken": token, "UserId": user.id}, 201)


@endpoint
async def expire_tokens(request: Request) -> Response:
    return reply({"expired": _emu(request).accounts.revoke_all()})


@endpoint
async def approve(request: Request) -> Response:
    emu = _emu(request)
    try:
        body = await json_body(request)
        body = body if isinstance(body, dict) else {}
        user = _user(emu, body.get("user"))
    except ValueError as exc:
        return refuse(str(exc))
    if body.get("code"):
        found = emu.accounts.by_code(str(body["code"]))
        if found is None:
            return refuse("no such Quick Connect code", 404)
        chosen = [found]
    else:
        chosen = [r for r in emu.accounts.quick.values() if not r.authenticated]
    for r in chosen:
        r.user_id = user.id
    return reply({"approved": [r.code for r in chosen]})


@endpoint
async def touch(request: Request) -> Response:
    emu = _emu(request)
    lib = emu.library
    try:
        body = await json_body(request)
    except ValueError as exc:
        return refuse(str(exc))
    body = body if isinstance(body, dict) else {}
    if "count" in body:
        count = body["count"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            return refuse("count must be a whole number, 0 or more")
        indices = list(range(min(count, len(lib))))
    else:
        indices = []
        for raw in body.get("items") or []:
            i = lib.by_id.get(lib.parse_id(str(raw)) or "")
            if i is None:
                return refuse(f"no item with id {raw!r}")
            indices.append(i)
    return reply({"touched": lib.touch(indices, time.time())})


@endpoint
async def play(request: Request) -> Response:
    emu = _emu(request)
    lib = emu.library
    try:
        body = await json_body(request)
        body = body if isinstance(body, dict) else {}
        user = _user(emu, body.get("user"))
    except ValueError as exc:
        return refuse(str(exc))
    index = lib.by_id.get(lib.parse_id(str(body.get("item") or "")) or "")
    if index is None:
        return refuse("name an item by its id ('item')")
    runtime = lib.runtime_ticks(lib.media[index]) or 0
    ticks = body.get("position_ticks")
    if ticks is None and body.get("progress") is not None:
        ticks = int(runtime * float(body["progress"])) // TICKS * TICKS
    states = body.get("states") or [START, PROGRESS, STOP]
    if any(s not in (START, PROGRESS, STOP) for s in states):
        return refuse("states are start, progress and stop")
    device = str(body.get("device_id") or "emulator-player")
    who = Caller(user, False, "", "Emulated Player", "Emulator", device, "1.0")
    for kind in states:
        report(emu, who, kind, lib.ids[index], ticks, False, {"playsessionid": "emulated"})
    data = emu.state.get(user.id, index)
    return reply(
        {
            "PlayCount": data.play_count if data else 0,
            "Played": bool(data and data.played),
            "PlaybackPositionTicks": data.position if data else 0,
        }
    )


@endpoint
async def websocket_drop(request: Request) -> Response:
    return reply({"dropped": _emu(request).hub.drop_all()})


@endpoint
async def catalog(request: Request) -> Response:
    emu = _emu(request)
    lib = emu.library
    out = []
    for i, media in enumerate(lib.media):
        entry: dict[str, Any] = {
            "id": lib.ids[i],
            "type": media.kind,
            "name": lib.name(media),
            "ids": {k: v for k, v in media.ids().items() if v},
            "provider_ids": lib.provider_ids(media),
            "style": STYLES[lib.style[lib.title_of(media)]],
        }
        if isinstance(media, (Season, Episode)):
            entry["series"] = lib.id_of(media.show)
        out.append(entry)
    return reply({"seed": emu.seed, "size": len(emu.catalog), "items": out})


ROUTES = [
    Route("/_emulator", index, methods=["GET"]),
    Route("/_emulator/settings", settings, methods=["GET", "POST"]),
    Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/state", state, methods=["GET", "POST"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
    Route("/_emulator/stats", stats, methods=["GET"]),
    Route("/_emulator/stats/reset", stats_reset, methods=["POST"]),
    Route("/_emulator/users", users, methods=["GET"]),
    Route("/_emulator/tokens", tokens, methods=["POST"]),
    Route("/_emulator/expire_tokens", expire_tokens, methods=["POST"]),
    Route("/_emulator/approve", approve, methods=["POST"]),
    Route("/_emulator/touch", touch, methods=["POST"]),
    Route("/_emulator/play", play, methods=["POST"]),
    Route("/_emulator/websocket/drop", websocket_drop, methods=["POST"]),
    Route("/_emulator/catalog", catalog, methods=["GET"]),
]
