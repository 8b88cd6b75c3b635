"""``/_emulator/*``: the test and benchmark controls (no headers or token needed).

==========================================  ==============================================================
``GET  /_emulator``                         this list
``GET|POST /_emulator/settings``            the knobs (POST a partial object; unknown knobs -> 422)
``POST /_emulator/expire_tokens``           every access token expires now -> ``{"expired": n}``
``GET|POST|DELETE /_emulator/faults``       scripted faults: list pending, append a list, clear
``GET|POST /_emulator/state``               the whole user state (shape in :mod:`.statejson`); POST replaces
``POST /_emulator/reset``                   back to the seeded state (tokens, apps and faults stay)
``GET  /_emulator/stats``                   request counts per ``METHOD path``, statuses, 429s, write times
``POST /_emulator/stats/reset``             start counting again
``GET|POST /_emulator/apps``                the apps; POST ``{client_id?, client_secret?, name?}`` adds one
``POST /_emulator/tokens``                  ``{client_id?}`` -> a token response, no sign-in needed
``POST /_emulator/approve``                 ``{user_code?|device_code?, deny?}`` approve (or deny) a device
                                            code now; without a code: every pending one
``POST /_emulator/authorize``               ``{client_id?}`` -> ``{"code"}`` for grant_type authorization_code
``GET  /_emulator/catalog``                 the catalogue: movies and shows with seasons, episodes, ids
==========================================  ==============================================================
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch_trakt.emulator.media import media_json
from crosswatch_trakt.emulator.responses import BadRequest, endpoint, error, json_response, read_json
from crosswatch_trakt.emulator.routes_sync import emulator
from crosswatch_trakt.emulator.times import now_ms


async def _body(request: Request) -> Any:
    raw = await request.body()
    return await read_json(request) if raw.strip() else {}


@endpoint
async def index(request: Request) -> Response:
    return json_response({"endpoints": [f"{sorted(r.methods or [])} {r.path}" for r in ROUTES]})


@endpoint
async def settings(request: Request) -> Response:
    emu = emulator(request)
    if request.method == "POST":
        changes = await _body(request)
        try:
            emu.settings.apply_json(changes)
        except ValueError as exc:
            raise BadRequest(422, "unprocessable_entity", str(exc)) from None
    return json_response(emu.settings.to_json())


@endpoint
async def expire_tokens(request: Request) -> Response:
    return json_response({"expired": emulator(request).auth.expire_all()})


@endpoint
async def faults(request: Request) -> Response:
    body = await _body(request) if request.method == "POST" else None
    try:
        pending = emulator(request).faults.control(request.method, body)
    except (TypeError, ValueError) as exc:
        raise BadRequest(422, "unprocessable_entity", str(exc)) from None
    return json_response(pending)


@endpoint
async def state(request: Request) -> Response:
    emu = emulator(request)
    if request.method == "POST":
        try:
            emu.state.load_json(await _body(request), now_ms())
        except ValueError as exc:
            raise BadRequest(422, "unprocessable_entity", str(exc)) from None
    return json_response(emu.state_json())


@endpoint
async def reset(request: Request) -> Response:
    emu = emulator(request)
    emu.reset_state()
    return json_response({"reset": True, "history": len(emu.state.plays)})


@endpoint
async def stats(request: Request) -> Response:
    return json_response(emulator(request).stats.to_json())


@endpoint
async def stats_reset(request: Request) -> Response:
    emu = emulator(request)
    emu.stats.reset()
    return json_response(emu.stats.to_json())


@endpoint
async def apps(request: Request) -> Response:
    emu = emulator(request)
    if request.method == "POST":
        data = await _body(request)
        if not isinstance(data, dict):
            raise BadRequest(422, "unprocessable_entity", "post an object")
        app = emu.auth.add_app(data.get("client_id"), data.get("client_secret"), data.get("name") or "crosswatch")
        return json_response({"client_id": app.client_id, "client_secret": app.client_secret, "name": app.name}, 201)
    return json_response(
        [{"client_id": a.client_id, "client_secret": a.client_secret, "name": a.name} for a in emu.auth.apps.values()]
    )


@endpoint
async def tokens(request: Request) -> Response:
    emu = emulator(request)
    data = await _body(request)
    client_id = data.get("client_id") if isinstance(data, dict) else None
    try:
        return json_response(emu.issue_token(client_id), 201)
    except KeyError as exc:
        return error(422, "unprocessable_entity", str(exc))


@endpoint
async def approve(request: Request) -> Response:
    emu = emulator(request)
    data = await _body(request)
    if not isinstance(data, dict):
        raise BadRequest(422, "unprocessable_entity", "post an object")
    deny = bool(data.get("deny"))
    if data.get("device_code"):
        chosen = [emu.auth.codes[data["device_code"]]] if data["device_code"] in emu.auth.codes else []
    elif data.get("user_code"):
        found = emu.auth.by_user_code(str(data["user_code"]))
        chosen = [found] if found else []
    else:
        chosen = [c for c in emu.auth.codes.values() if c.state == "pending"]
    if not chosen and (data.get("device_code") or data.get("user_code")):
        return error(404, "not_found", "no such device code")
    for code in chosen:
        if code.state == "pending":
            code.state = "denied" if deny else "approved"
    return json_response({"codes": [{"user_code": c.user_code, "state": c.state} for c in chosen]})


@endpoint
async def authorize(request: Request) -> Response:
    emu = emulator(request)
    data = await _body(request)
    client_id = (data.get("client_id") if isinstance(data, dict) else None) or emu.auth.default_app.client_id
    if emu.auth.app(client_id) is None:
        return error(422, "unprocessable_entity", f"unknown client_id {client_id!r}")
    return json_response({"code": emu.auth.new_auth_code(client_id)}, 201)


@endpoint
async def catalog(request: Request) -> Response:
    emu = emulator(request)
    out: dict[str, Any] = {"seed": emu.catalog.seed, "size": len(emu.catalog), "movies": [], "shows": []}
    for movie in emu.catalog.movies:
        out["movies"].append({**media_json(movie), "runtime": movie.runtime})
    for show in emu.catalog.shows:
        seasons = [
            {**media_json(season), "episodes": [{**media_json(ep), "runtime": ep.runtime} for ep in season.episodes]}
            for season in show.seasons
        ]
        out["shows"].append({**media_json(show), "runtime": show.runtime, "seasons": seasons})
    return json_response(out)


ROUTES = [
    Route("/_emulator", index, methods=["GET"]),
    Route("/_emulator/settings", settings, methods=["GET", "POST"]),
    Route("/_emulator/expire_tokens", expire_tokens, methods=["POST"]),
    Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/state", state, methods=["GET", "POST"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
    Route("/_emulator/stats", stats, methods=["GET"]),
    Route("/_emulator/stats/reset", stats_reset, methods=["POST"]),
    Route("/_emulator/apps", apps, methods=["GET", "POST"]),
    Route("/_emulator/tokens", tokens, methods=["POST"]),
    Route("/_emulator/approve", approve, methods=["POST"]),
    Route("/_emulator/authorize", authorize, methods=["POST"]),
    Route("/_emulator/catalog", catalog, methods=["GET"]),
]
