"""What auth.trakt.tv answers: the device-code sign-in, token refresh and revoke.

OAuth requests carry the app in their body (``client_id``; the ``trakt-api-key`` header is
also read), as JSON or form-encoded. Device token polls answer, in this order: 403 unknown
app, 401 wrong secret, 404 unknown code, 409 already used, 410 expired, 418 denied, 429 polled
faster than ``interval``, then 400 (pending) for the first ``approve_after_polls`` polls and
200 with the tokens after (or 418 when the ``deny`` knob is on). ``POST /_emulator/approve``
or ``GET /activate?code=USERCODE`` approve a code at once.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch_trakt.emulator.auth import App
from crosswatch_trakt.emulator.responses import BadRequest, endpoint, error, json_response
from crosswatch_trakt.emulator.routes_sync import emulator


async def read_params(request: Request) -> dict[str, Any]:
    """The body of an OAuth request: JSON or ``application/x-www-form-urlencoded``."""
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8", "replace")))
    if not raw.strip():
        return {}
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise BadRequest(400, "invalid_request", "malformed JSON") from None
    if not isinstance(data, dict):
        raise BadRequest(400, "invalid_request", "the body must be a JSON object")
    return data


def _app(request: Request, data: dict[str, Any]) -> App | None:
    return emulator(request).auth.app(data.get("client_id") or request.headers.get("trakt-api-key"))


def _interval(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


@endpoint
async def device_code(request: Request) -> Response:
    emu = emulator(request)
    data = await read_params(request)
    app = _app(request, data)
    if app is None:
        return error(403, "invalid_client", "unknown client_id (API key)")
    code = emu.auth.new_device_code(app.client_id, emu.settings.device_code_ttl)
    return json_response(
        {
            "device_code": code.device_code,
            "user_code": code.user_code,
            "verification_url": str(request.base_url).rstrip("/") + "/activate",
            "expires_in": code.expires_in,
            "interval": _interval(emu.settings.interval),
        }
    )


@endpoint
async def device_token(request: Request) -> Response:
    emu = emulator(request)
    settings = emu.settings
    data = await read_params(request)
    app = _app(request, data)
    if app is None:
        return error(403, "invalid_client", "unknown client_id (API key)")
    if data.get("client_secret") != app.client_secret:
        return error(401, "invalid_client", "client_secret does not match the app")
    code = emu.auth.codes.get(data.get("code"))
    if code is None or code.client_id != app.client_id:
        return error(404, "not_found", "invalid device_code")
    now = time.monotonic()
    if code.state == "used":
        return error(409, "already_used", "this device code was already used")
    if now > code.created + code.expires_in:
        return error(410, "expired_token", "the device code expired")
    if code.state == "denied":
        return error(418, "access_denied", "the user denied this code")
    if code.last_poll is not None and now - code.last_poll < settings.interval:
        return error(429, "slow_down", f"poll at most every {_interval(settings.interval)} s")
    code.last_poll = now
    code.polls += 1
    if code.state == "pending" and code.polls > settings.approve_after_polls:
        code.state = "denied" if settings.deny else "approved"
    if code.state == "denied":
        return error(418, "access_denied", "the user denied this code")
    if code.state != "approved":
        return error(400, "authorization_pending", "the user has not approved this code yet")
    code.state = "used"
    return json_response(emu.auth.issue(app.client_id, settings.token_ttl).to_json())


@endpoint
async def token(request: Request) -> Response:
    emu = emulator(request)
    data = await read_params(request)
    app = _app(request, data)
    if app is None or data.get("client_secret") != app.client_secret:
        return error(401, "invalid_client", "unknown client_id or wrong client_secret")
    grant = data.get("grant_type")
    if grant == "refresh_token":
        if emu.auth.spend_refresh(data.get("refresh_token"), app.client_id) is None:
            return error(
                400,
                "invalid_grant",
                "The provided authorization grant is invalid, expired, revoked, does not match the redirection "
                "URI used in the authorization request, or was issued to another client.",
            )
    elif grant == "authorization_code":
        if emu.auth.auth_codes.pop(data.get("code"), None) != app.client_id:
            return error(400, "invalid_grant", "unknown or already used authorization code")
    else:
        return error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")
    return json_response(emu.auth.issue(app.client_id, emu.settings.token_ttl).to_json())


@endpoint
async def revoke(request: Request) -> Response:
    emu = emulator(request)
    data = await read_params(request)
    if _app(request, data) is None:
        return error(403, "invalid_client", "unknown client_id (API key)")
    emu.auth.revoke(data.get("token"))
    return json_response({})


@endpoint
async def activate(request: Request) -> Response:
    """Where ``verification_url`` points: ``?code=USERCODE`` approves that code (no page, JSON)."""
    emu = emulator(request)
    user_code = request.query_params.get("code", "")
    code = emu.auth.by_user_code(user_code) if user_code else None
    if code is None:
        return error(404, "not_found", "open /activate?code=<the user code> to approve a device code")
    if code.state == "pending":
        code.state = "denied" if request.query_params.get("deny") else "approved"
    return json_response({"user_code": code.user_code, "state": code.state})


ROUTES = [
    Route("/oauth/device/code", device_code, methods=["POST"]),
    Route("/oauth/device/token", device_token, methods=["POST"]),
    Route("/oauth/token", token, methods=["POST"]),
    Route("/oauth/revoke", revoke, methods=["POST"]),
    Route("/activate", activate, methods=["GET"]),
]
