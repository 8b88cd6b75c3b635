"""plex.tv and clients.plex.tv: PIN sign-in, the account, servers, home users.

- ``POST /api/v2/pins?strong=true`` (``X-Plex-Client-Identifier`` and ``X-Plex-Product``
  required, as headers or query; else 400) -> 201, a PIN like ``fixtures/.../pins_new.json``;
- ``GET /api/v2/pins/{id}`` (same client identifier, else 404; expired: 404) -> the PIN,
  ``authToken`` set once approved (see :mod:`.auth`), like ``pins_linked.json``;
- ``GET /api/v2/user``: the token's account, like ``user_info_plexpass.json`` (401 without a
  valid token, as every path here but the PINs);
- ``GET /api/v2/resources?includeHttps=1&includeRelay=1``: the emulated server (its
  ``accessToken`` is the caller's token; its connections point at the URL the request came
  to: a local one first, then a relay) and a player device, like ``resources.json``;
- ``GET /api/v2/home/users``: the home (owner, Partner, Kid);
- ``POST /api/v2/home/users/{id|uuid}/switch`` -> that user with a new ``authToken``;
  ``POST /api/home/users/{id}/switch`` (python-plexapi) -> ``<user authenticationToken=...>``.

JSON with ``Accept: application/json``, else XML (the root named after the object:
``<pin>``, ``<user>``, ``<resources>``, ``<home>``; nested objects become child elements).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch_plex.emulator.auth import Pin
from crosswatch_plex.emulator.common import VERSION, emulator
from crosswatch_plex.emulator.render import JSON_TYPE, XML_TYPE, El, wants_json, x_plex, xml_bytes
from crosswatch_plex.emulator.userstate import Account

_encode = msgspec.json.Encoder().encode
FEATURES = ("webhooks", "home", "pass", "sync", "watchlist", "hardware_transcoding", "collections", "music_videos")
LOCATION = {
    "code": "GB",
    "european_union_member": False,
    "continent_code": "EU",
    "country": "United Kingdom",
    "city": "London",
    "time_zone": "Europe/London",
    "postal_code": "N19",
    "in_privacy_restricted_country": True,
    "subdivisions": "England",
    "coordinates": "51.000, -1",
}


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _singular(name: str) -> str:
    return name[:-1] if name.endswith("s") else name


def to_el(tag: str, data: Any) -> El:
    """A JSON object as plex.tv writes it in XML (scalars as attributes, the rest as children)."""
    attrs: dict[str, Any] = {}
    children: list[El] = []
    items = data.items() if isinstance(data, dict) else []
    for name, value in items:
        if isinstance(value, dict):
            children.append(to_el(name, value))
        elif isinstance(value, list):
            inner = [to_el(_singular(name), v if isinstance(v, dict) else {"id": v}) for v in value]
            children.append(El(name, {}, inner))
        else:
            attrs[name] = value
    return El(tag, attrs, children)


def answer(request: Request, tag: str, data: Any, status: int = 200) -> Response:
    """JSON, or XML rooted at ``tag`` (a list becomes ``<tag size=n>`` of singular children)."""
    if wants_json(request):
        return Response(_encode(data), status_code=status, media_type=JSON_TYPE)
    if isinstance(data, list):
        root = El(tag, {"size": len(data)}, [to_el(_singular(tag), v) for v in data])
    else:
        root = to_el(tag, data)
    return Response(xml_bytes(root), status_code=status, media_type=XML_TYPE)


def error(request: Request, status: int, code: int, message: str) -> Response:
    """plex.tv's error shape: ``{"errors": [{code, message, status}]}`` / ``<errors><error .../></errors>``."""
    entry = {"code": code, "message": message, "status": status}
    if wants_json(request):
        return Response(_encode({"errors": [entry]}), status_code=status, media_type=JSON_TYPE)
    return Response(xml_bytes(El("errors", {}, [El("error", entry)])), status_code=status, media_type=XML_TYPE)


def unauthorized(request: Request) -> Response:
    return error(request, 401, 1001, "User could not be authenticated")


def pin_json(pin: Pin) -> dict[str, Any]:
    return {
        "id": pin.id,
        "code": pin.code,
        "product": pin.product,
        "trusted": False,
        "qr": f"https://plex.tv/api/v2/pins/qr/{pin.code}",
        "clientIdentifier": pin.client_id,
        "location": dict(LOCATION),
        "expiresIn": max(0, int(pin.created + pin.expires_in - time.time())),
        "createdAt": iso(pin.created),
        "expiresAt": iso(pin.created + pin.expires_in),
        "authToken": pin.token,
        "newRegistration": False if pin.token else None,
    }


def user_json(emu: Any, acct: Account, token: str) -> dict[str, Any]:
    """An account as ``GET /api/v2/user`` writes it."""
    owner = emu.state.owner
    plan = {
        "active": True,
        "subscribedAt": "2021-10-01T01:02:03Z",
        "status": "Active",
        "paymentService": "braintree",
        "plan": "lifetime",
        "features": list(FEATURES),
    }
    return {
        "id": acct.plextv_id,
        "uuid": acct.uuid,
        "username": acct.username,
        "title": acct.title,
        "email": acct.email,
        "friendlyName": acct.title,
        "locale": None,
        "confirmed": not acct.restricted,
        "joinedAt": 1_339_124_759,
        "emailOnlyAuth": False,
        "hasPassword": not acct.restricted,
        "protected": False,
        "thumb": acct.thumb,
        "authToken": token,
        "mailingListStatus": "unsubscribed",
        "mailingListActive": False,
        "scrobbleTypes": "",
        "country": "GB",
        "subscription": plan if acct.admin else {"active": False, "status": "Inactive", "features": []},
        "subscriptionDescription": "Lifetime Plex Pass" if acct.admin else None,
        "restricted": acct.restricted,
        "anonymous": None,
        "home": True,
        "guest": False,
        "homeSize": len(emu.state.accounts),
        "homeAdmin": acct.admin,
        "maxHomeSize": 15,
        "rememberExpiresAt": int(time.time()) + 14 * 86_400,
        "profile": {
            "autoSelectAudio": True,
            "defaultAudioLanguage": "en",
            "defaultSubtitleLanguage": "en",
            "autoSelectSubtitle": 0,
            "defaultSubtitleAccessibility": 0,
            "defaultSubtitleForced": 0,
        },
        "entitlements": ["all"] if acct.admin else [],
        "roles": ["plexpass"] if acct.admin else [],
        "services": [],
        "adsConsent": None,
        "twoFactorEnabled": False,
        "homeOwnerId": owner.plextv_id,
    }


def _caller(request: Request) -> tuple[Any, Account, str] | None:
    emu = emulator(request)
    token = x_plex(request, "X-Plex-Token") or ""
    who = emu.auth.account_of(token)
    if who is None:
        return None
    return emu, emu.state.accounts[who], token


async def create_pin(request: Request) -> Response:
    emu = emulator(request)
    client = x_plex(request, "X-Plex-Client-Identifier")
    product = x_plex(request, "X-Plex-Product")
    if not client or not product:
        return error(request, 400, 1000, "X-Plex-Client-Identifier and X-Plex-Product are required")
    strong = request.query_params.get("strong", "").lower() in ("true", "1")
    pin = emu.auth.new_pin(client, product, strong, emu.settings.pin_ttl)
    return answer(request, "pin", pin_json(pin), 201)


async def poll_pin(request: Request) -> Response:
    emu = emulator(request)
    pin = emu.auth.pins.get(request.path_params["id"])
    client = x_plex(request, "X-Plex-Client-Identifier")
    if pin is None or not pin.alive(time.time()) or (client is not None and client != pin.client_id):
        return error(request, 404, 1020, "Code not found or expired")
    emu.auth.poll(pin, emu.settings.approve_after_polls, emu.state.owner.id)
    return answer(request, "pin", pin_json(pin))


async def user(request: Request) -> Response:
    caller = _caller(request)
    if caller is None:
        return unauthorized(request)
    emu, acct, token = caller
    return answer(request, "user", user_json(emu, acct, token))


async def resources(request: Request) -> Response:
    caller = _caller(request)
    if caller is None:
        return unauthorized(request)
    emu, acct, token = caller
    url = str(request.base_url).rstrip("/")
    scheme, _, rest = url.partition("://")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]") or rest
    port_number = int(port) if port.isdigit() else (443 if scheme == "https" else 80)
    ipv6 = ":" in host
    connections = [
        {
            "protocol": scheme,
            "address": host,
            "port": port_number,
            "uri": url,
            "local": True,
            "relay": False,
            "IPv6": ipv6,
        },
        {
            "protocol": scheme,
            "address": host,
            "port": port_number,
            "uri": url,
            "local": False,
            "relay": True,
            "IPv6": ipv6,
        },
    ]
    server = {
        "name": emu.friendly_name,
        "product": "Plex Media Server",
        "productVersion": VERSION,
        "platform": "Linux",
        "platformVersion": "6.1.0",
        "device": "PC",
        "clientIdentifier": emu.machine_identifier,
        "createdAt": "2021-01-01T12:12:24Z",
        "lastSeenAt": iso(time.time()),
        "provides": "server",
        "ownerId": None if acct.admin else emu.state.owner.plextv_id,
        "sourceTitle": None if acct.admin else emu.state.owner.username,
        "publicAddress": host,
        "accessToken": token,
        "owned": acct.admin,
        "home": not acct.admin,
        "synced": False,
        "relay": True,
        "presence": True,
        "httpsRequired": False,
        "publicAddressMatches": True,
        "dnsRebindingProtection": False,
        "natLoopbackSupported": False,
        "connections": connections,
    }
    player: dict[str, Any] = {
        "name": "Living Room TV",
        "product": "Plex for Android (TV)",
        "productVersion": "10.20.0.8126",
        "platform": "Android",
        "platformVersion": "12",
        "device": "SHIELD Android TV",
        "clientIdentifier": f"player-{emu.machine_identifier[:12]}",
        "createdAt": "2022-02-02T10:00:00Z",
        "lastSeenAt": iso(time.time() - 3600),
        "provides": "client,player,pubsub-player",
        "ownerId": None,
        "sourceTitle": None,
        "publicAddress": host,
        "accessToken": None,
        "owned": True,
        "home": False,
        "synced": False,
        "relay": False,
        "presence": False,
        "httpsRequired": False,
        "publicAddressMatches": True,
        "dnsRebindingProtection": False,
        "natLoopbackSupported": False,
        "connections": [],
    }
    return answer(request, "resources", [server, player])


def _home_user(acct: Account) -> dict[str, Any]:
    return {
        "id": acct.plextv_id,
        "uuid": acct.uuid,
        "title": acct.title,
        "username": acct.username or None,
        "email": acct.email or None,
        "friendlyName": acct.title,
        "thumb": acct.thumb,
        "hasPassword": not acct.restricted,
        "restricted": acct.restricted,
        "updatedAt": 1_700_000_000,
        "restrictionProfile": "little_kid" if acct.restricted else None,
        "admin": acct.admin,
        "guest": False,
        "protected": False,
    }


async def home_users(request: Request) -> Response:
    caller = _caller(request)
    if caller is None:
        return unauthorized(request)
    emu = caller[0]
    owner = emu.state.owner
    data = {
        "id": owner.plextv_id + 7,
        "name": f"{owner.username}'s home",
        "guestUserID": None,
        "guestUserUUID": None,
        "guestEnabled": False,
        "subscription": True,
        "users": [_home_user(a) for a in emu.state.accounts.values()],
    }
    return answer(request, "home", data)


def _target(emu: Any, ident: str) -> Account | None:
    for acct in emu.state.accounts.values():
        if ident in (str(acct.plextv_id), acct.uuid, str(acct.id)):
            return acct
    return None


async def switch(request: Request) -> Response:
    caller = _caller(request)
    if caller is None:
        return unauthorized(request)
    emu = caller[0]
    target = _target(emu, request.path_params["user"])
    if target is None:
        return error(request, 404, 1002, "User not found")
    token = emu.auth.issue(target.id)
    if request.url.path.startswith("/api/v2/"):
        return answer(request, "user", user_json(emu, target, token), 201)
    attrs = {**_home_user(target), "authenticationToken": token, "authToken": token}
    return Response(xml_bytes(El("user", attrs)), status_code=201, media_type=XML_TYPE)


ROUTES = [
    Route("/api/v2/pins", create_pin, methods=["POST"]),
    Route("/api/v2/pins/{id:int}", poll_pin, methods=["GET"]),
    Route("/api/v2/user", user, methods=["GET"]),
    Route("/api/v2/resources", resources, methods=["GET"]),
    Route("/api/v2/home/users", home_users, methods=["GET"]),
    Route("/api/v2/home/users/{user}/switch", switch, methods=["POST"]),
    Route("/api/home/users/{user}/switch", switch, methods=["POST"]),
]
