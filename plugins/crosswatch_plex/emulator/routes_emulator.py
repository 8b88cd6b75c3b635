"""``/_emulator/*``: the test and benchmark controls (JSON; no token needed).

==========================================  ==============================================================
``GET  /_emulator``                         this list
``GET|POST /_emulator/settings``            the knobs (:mod:`.settings`; POST a partial object; bad -> 422)
``GET|POST|DELETE /_emulator/faults``       scripted faults (:mod:`crosswatch.emulation.faults`): list,
                                            append, clear
``GET|POST /_emulator/state``               the whole user state (:mod:`.statejson`); POST replaces it
``POST /_emulator/reset``                   back to the seeded state (tokens, faults, settings stay)
``GET  /_emulator/stats``                   request counts per ``METHOD path``, statuses, faults, writes,
                                            websocket counts (open sockets, frames sent)
``POST /_emulator/stats/reset``             start counting again
``GET  /_emulator/accounts``                the accounts with their seeded tokens
``POST /_emulator/tokens``                  ``{"account": id?}`` -> ``{"token", "account"}`` (default: owner)
``POST /_emulator/expire_tokens``           every token stops working -> ``{"expired": n}``
``POST /_emulator/approve``                 ``{"id": pin?}`` approve a PIN now (default: every live one)
``POST /_emulator/play``                    play an item: ``{"ratingKey", "account"?, "states"?:
                                            ["playing", "paused", "stopped"], "viewOffset"? ms |
                                            "progress"? 0-1, "duration"? ms, "clientIdentifier"?}``;
                                            each state is a timeline report (:mod:`.playback`): a
                                            ``playing`` frame each, the resume position, a play once past
                                            the threshold -> ``{"sessionKey", "frames", "viewCount",
                                            "viewOffset"}``
``POST /_emulator/rate``                    ``{"ratingKey", "rating", "account"?}`` as ``/:/rate`` (timeline
                                            and activity frames) -> ``{"userRating"}``
``POST /_emulator/websocket/drop``          close every notification websocket now -> ``{"dropped": n}``
``GET|POST /_emulator/webhooks``             ``{"urls": [...]}`` where Plex posts its webhooks (:mod:`.webhooks`);
                                            GET also says how many were delivered or failed
``GET  /_emulator/catalog``                 every title: ratingKey, Discover key, guid, style, section, ids
==========================================  ==============================================================
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.emulation.control import json_body, refuse, reply
from crosswatch_plex.emulator.common import Reject, emulator
from crosswatch_plex.emulator.library import STYLES
from crosswatch_plex.emulator.playback import STATES
from crosswatch_plex.emulator.routes_actions import apply_rating


def _account(emu: Any, data: dict[str, Any]) -> int:
    value = data.get("account", emu.state.owner.id)
    if not isinstance(value, int) or value not in emu.state.accounts:
        raise ValueError(f"no account {value!r} (accounts: {', '.join(map(str, emu.state.accounts))})")
    return value


async def index(request: Request) -> Response:
    return reply({"endpoints": [f"{sorted(r.methods or [])} {r.path}" for r in ROUTES]})


async def settings(request: Request) -> Response:
    emu = emulator(request)
    if request.method == "POST":
        try:
            emu.settings.apply_json(await json_body(request))
        except ValueError as exc:
            return refuse(str(exc))
    return reply(emu.settings.to_json())


async def faults(request: Request) -> Response:
    try:
        body = await json_body(request) if request.method == "POST" else None
        pending = emulator(request).faults.control(request.method, body)
    except (TypeError, ValueError) as exc:
        return refuse(str(exc))
    return reply(pending)


async def state(request: Request) -> Response:
    emu = emulator(request)
    if request.method == "POST":
        try:
            emu.load_state(await json_body(request))
        except ValueError as exc:
            return refuse(str(exc))
    return reply(emu.state_json())


async def reset(request: Request) -> Response:
    emu = emulator(request)
    emu.reset_state()
    return reply({"reset": True, "plays": len(emu.state.rows)})


async def stats(request: Request) -> Response:
    emu = emulator(request)
    return reply(emu.stats.to_json(emu.websocket_stats()))


async def stats_reset(request: Request) -> Response:
    emu = emulator(request)
    emu.stats.reset()
    return reply(emu.stats.to_json(emu.websocket_stats()))


async def accounts(request: Request) -> Response:
    return reply(emulator(request).state_json()["accounts"])


async def tokens(request: Request) -> Response:
    emu = emulator(request)
    try:
        who = _account(emu, await json_body(request))
    except ValueError as exc:
        return refuse(str(exc))
    return reply({"token": emu.auth.issue(who), "account": who}, 201)


async def expire_tokens(request: Request) -> Response:
    return reply({"expired": emulator(request).auth.expire_all()})


async def approve(request: Request) -> Response:
    emu = emulator(request)
    try:
        data = await json_body(request)
    except ValueError as exc:
        return refuse(str(exc))
    now = time.time()
    if isinstance(data, dict) and data.get("id") is not None:
        pin = emu.auth.pins.get(data["id"])
        if pin is None:
            return refuse("no such PIN", 404)
        chosen = [pin]
    else:
        chosen = [p for p in emu.auth.pins.values() if p.alive(now) and not p.approved]
    for pin in chosen:
        pin.approved = True
    return reply({"approved": [p.id for p in chosen]})


async def play(request: Request) -> Response:
    emu = emulator(request)
    try:
        data = await json_body(request)
        if not isinstance(data, dict):
            raise ValueError("post an object")
        who = _account(emu, data)
        media = emu.library.get(str(data.get("ratingKey", "")))
        if media is None or media.kind not in ("movie", "episode"):
            raise ValueError("ratingKey must name a movie or an episode")
        states = data.get("states", ["playing"])
        if not isinstance(states, list) or not states or any(s not in STATES for s in states):
            raise ValueError(f"states must be a list of {', '.join(STATES)}")
        duration = data.get("duration") or emu.library.duration_ms(media) or 0
        given = data.get("viewOffset", 0)
        offset = int(float(data["progress"]) * duration) if "progress" in data else int(given)
        client = str(data.get("clientIdentifier") or "emulator-player")
    except (TypeError, ValueError) as exc:
        return refuse(str(exc))
    session = None
    for st in states:
        session = emu.playback.report(who, media, st, offset, duration, client)
    assert session is not None
    rk = emu.library.rk(media)
    return reply(
        {
            "sessionKey": str(session.key),
            "frames": len(states),
            "viewCount": emu.state.view_of(who, media)[0],
            "viewOffset": emu.state.users[who].offsets.get(rk, 0),
        }
    )


async def rate(request: Request) -> Response:
    emu = emulator(request)
    try:
        data = await json_body(request)
        if not isinstance(data, dict):
            raise ValueError("post an object")
        who = _account(emu, data)
        media = emu.library.get(str(data.get("ratingKey", "")))
        if media is None:
            raise ValueError("no item with that ratingKey")
        apply_rating(emu, who, media, str(data.get("rating")), None)
    except Reject:
        return refuse("rating must be 0-10 (or -1 to clear)")
    except ValueError as exc:
        return refuse(str(exc))
    rating = emu.state.users[who].ratings.get(emu.library.rk(media))
    return reply({"userRating": rating[0] if rating else None})


async def drop_websockets(request: Request) -> Response:
    return reply({"dropped": emulator(request).hub.drop_all()})


async def webhooks(request: Request) -> Response:
    emu = emulator(request)
    if request.method == "POST":
        data = await json_body(request)
        urls = data.get("urls") if isinstance(data, dict) else None
        if not isinstance(urls, list) or not all(isinstance(u, str) and u.startswith("http") for u in urls):
            return refuse('post {"urls": ["http://...", ...]}')
        emu.webhooks.set_urls(urls)
    return reply(emu.webhooks.to_json())


async def catalog(request: Request) -> Response:
    emu = emulator(request)
    lib = emu.library

    def entry(media: Any) -> dict[str, Any]:
        return {
            "ratingKey": str(lib.rk(media)),
            "discover": lib.discover_key(media),
            "guid": lib.guid(media),
            "style": STYLES[lib.style_of(media)],
            "section": lib.section_of(media).id,
            "title": getattr(media, "title", None),
            "year": getattr(media, "year", None),
            "ids": {k: v for k, v in media.ids().items() if v is not None},
        }

    out: dict[str, Any] = {"seed": emu.seed, "size": len(emu.catalog), "movies": [], "shows": []}
    for movie in emu.catalog.movies:
        out["movies"].append(entry(movie))
    for show in emu.catalog.shows:
        seasons = [
            {
                **entry(season),
                "number": season.number,
                "episodes": [{**entry(ep), "number": ep.number} for ep in season.episodes],
            }
            for season in show.seasons
        ]
        out["shows"].append({**entry(show), "seasons": seasons})
    return reply(out)


ROUTES = [
    Route("/_emulator", index, methods=["GET"]),
    Route("/_emulator/settings", settings, methods=["GET", "POST"]),
    Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/state", state, methods=["GET", "POST"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
    Route("/_emulator/stats", stats, methods=["GET"]),
    Route("/_emulator/stats/reset", stats_reset, methods=["POST"]),
    Route("/_emulator/accounts", accounts, methods=["GET"]),
    Route("/_emulator/tokens", tokens, methods=["POST"]),
    Route("/_emulator/expire_tokens", expire_tokens, methods=["POST"]),
    Route("/_emulator/approve", approve, methods=["POST"]),
    Route("/_emulator/play", play, methods=["POST"]),
    Route("/_emulator/rate", rate, methods=["POST"]),
    Route("/_emulator/websocket/drop", drop_websockets, methods=["POST"]),
    Route("/_emulator/webhooks", webhooks, methods=["GET", "POST"]),
    Route("/_emulator/catalog", catalog, methods=["GET"]),
]
