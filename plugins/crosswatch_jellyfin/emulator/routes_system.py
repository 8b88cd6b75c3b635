"""Discovery, users and sign-in: ``/System/*``, ``/Users``, ``AuthenticateByName``, Quick
Connect, API keys, logout.

- ``GET /System/Info/Public`` (anonymous), ``GET /System/Info`` (any token), ``/System/Ping``.
- ``GET /Users`` (any token), ``/Users/Public`` (anonymous: the users not hidden),
  ``/Users/Me`` (400 for an API key), ``/Users/{id}`` (404 unknown).
- ``POST /Users/New`` ``{"Name", "Password"}`` -> the ``UserDto`` (a name taken: 400);
  ``DELETE /Users/{id}`` (Emby also ``POST /Users/{id}/Delete``) -> 204, with the user's
  data, devices and playlists (the last administrator: 400): administrators only.
- ``POST /Users/AuthenticateByName`` ``{"Username", "Pw"}`` with the device headers
  (``Client``, ``Device``, ``DeviceId``, ``Version``; any missing: 400) -> 200
  ``{User, SessionInfo, AccessToken, ServerId}``; a wrong name or password: 401.
  ``POST /Users/{id}/Authenticate`` ``{"Pw"}`` is the same by id.
- Quick Connect (Jellyfin; 404 on Emby): ``GET /QuickConnect/Enabled``, ``POST`` (or the
  obsolete ``GET``) ``/QuickConnect/Initiate`` (device headers needed: 400; disabled: 401),
  ``GET /QuickConnect/Connect?secret=`` (404 unknown or expired; approved by itself after
  ``approve_after_polls`` polls), ``POST /QuickConnect/Authorize?code=[&userId=]`` -> ``true``
  (404 unknown code), ``POST /Users/AuthenticateWithQuickConnect`` ``{"Secret"}`` (404 until
  authorized; the secret is used up).
- ``GET|POST /Auth/Keys`` (``?app=Name``), ``DELETE /Auth/Keys/{key}``: administrators only.
- ``POST /Sessions/Logout``: the caller's token stops working (204).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch_jellyfin.emulator.common import acting_user, body_json, caller, emulator, endpoint, param
from crosswatch_jellyfin.emulator.render import Reject, fail, iso, reply, user_dto
from crosswatch_jellyfin.emulator.users import Caller, User


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@endpoint
async def public_info(request: Request) -> Response:
    emu = emulator(request)
    flavour = emu.flavour
    out: dict[str, Any] = {"LocalAddress": _base_url(request), "ServerName": emu.server_name}
    out["Version"] = flavour.version
    if flavour.product:
        out["ProductName"] = flavour.product
    out["Id"] = emu.server_id
    if flavour.name == "emby":
        out |= {"LocalAddresses": [_base_url(request)], "RemoteAddresses": []}
    else:
        out["StartupWizardCompleted"] = True
    return reply(request, out)


@endpoint
async def system_info(request: Request) -> Response:
    emu = emulator(request)
    flavour = emu.flavour
    out: dict[str, Any] = {"LocalAddress": _base_url(request), "ServerName": emu.server_name}
    out |= {"Version": flavour.version, "Id": emu.server_id, "OperatingSystem": "Linux"}
    if flavour.product:
        out["ProductName"] = flavour.product
    out |= {
        "OperatingSystemDisplayName": "Linux",
        "StartupWizardCompleted": True,
        "HasPendingRestart": False,
        "IsShuttingDown": False,
        "SupportsLibraryMonitor": True,
        "WebSocketPortNumber": request.url.port or 8096,
        "CompletedInstallations": [],
        "CanSelfRestart": True,
        "CanLaunchWebBrowser": False,
        "HasUpdateAvailable": False,
        "SystemArchitecture": "X64",
    }
    return reply(request, out)


@endpoint
async def ping(request: Request) -> Response:
    return reply(request, emulator(request).flavour.product or "Emby Server")


@endpoint
async def branding(request: Request) -> Response:
    return reply(request, {"LoginDisclaimer": "", "CustomCss": "", "SplashscreenEnabled": False})


# -- users ---------------------------------------------------------------------------------------


@endpoint
async def users(request: Request) -> Response:
    emu = emulator(request)
    return reply(request, [user_dto(emu, u) for u in sorted(emu.accounts.users, key=lambda u: u.name)])


@endpoint
async def public_users(request: Request) -> Response:
    emu = emulator(request)
    shown = sorted((u for u in emu.accounts.users if not u.hidden), key=lambda u: u.name)
    return reply(request, [user_dto(emu, u) for u in shown])


@endpoint
async def me(request: Request) -> Response:
    who = caller(request)
    if who.user is None:
        return fail(400, "")
    return reply(request, user_dto(emulator(request), who.user))


@endpoint
async def user_by_id(request: Request) -> Response:
    emu = emulator(request)
    raw = request.path_params["user_id"]
    parsed = emu.library.parse_user_id(raw)
    user = emu.accounts.user(parsed) if parsed else None
    if user is None:
        return fail(404, "User not found")
    return reply(request, user_dto(emu, user))


@endpoint
async def new_user(request: Request) -> Response:
    """``POST /Users/New``: ``{"Name", "Password"}`` (Emby also takes ``Name`` in the query)."""
    emu = _admin(request)
    body = await body_json(request)
    name = body.get("name") or param(request, "name") or ""
    password = body.get("password") or ""
    if not isinstance(name, str) or not isinstance(password, str):
        return fail(400, "Name and Password must be strings.")
    try:
        user = emu.accounts.add_user(name, password)
    except ValueError as exc:
        return fail(400, str(exc))
    emu.state.data[user.id] = {}
    return reply(request, user_dto(emu, user))


@endpoint
async def delete_user(request: Request) -> Response:
    """``DELETE /Users/{id}`` (Emby also ``POST /Users/{id}/Delete``): the user and their data go."""
    emu = _admin(request)
    parsed = emu.library.parse_user_id(request.path_params["user_id"])
    user = emu.accounts.user(parsed) if parsed else None
    if user is None:
        return fail(404, "User not found")
    try:
        emu.accounts.remove_user(user)
    except ValueError as exc:
        return fail(400, str(exc))
    emu.state.data.pop(user.id, None)
    for playlist in [p for p in emu.state.playlists.values() if p.owner == user.id]:
        del emu.state.playlists[playlist.id]
    emu.state.touch()
    return Response(status_code=204)


def _device_headers(who: Caller) -> None:
    missing = [n for n, v in (("Client", who.client), ("Device", who.device), ("DeviceId", who.device_id)) if not v]
    if not who.version:
        missing.append("Version")
    if missing:
        raise Reject(fail(400, f"{', '.join(missing)} must be given in the Authorization header."))


def authentication_result(request: Request, user: User, who: Caller) -> dict[str, Any]:
    """Sign ``user`` in on the caller's device: the AuthenticationResult."""
    emu = emulator(request)
    device = emu.accounts.sign_in(user, who.device_id, who.client, who.device, who.version)
    signed = Caller(user, False, device.token, who.client, who.device, who.device_id, who.version)
    session = emu.sessions.of(signed)
    return {
        "User": user_dto(emu, user),
        "SessionInfo": emu.sessions.dto(session),
        "AccessToken": device.token,
        "ServerId": emu.server_id,
    }


@endpoint
async def authenticate_by_name(request: Request) -> Response:
    emu = emulator(request)
    body = await body_json(request)
    who = caller(request)
    _device_headers(who)
    name, password = str(body.get("username") or ""), body.get("pw")
    user = emu.accounts.by_name(name) if name else None
    if user is None or (password or "") != user.password:
        return fail(401, "Invalid username or password entered.")
    return reply(request, authentication_result(request, user, who))


@endpoint
async def authenticate_by_id(request: Request) -> Response:
    emu = emulator(request)
    body = await body_json(request)
    who = caller(request)
    _device_headers(who)
    parsed = emu.library.parse_user_id(request.path_params["user_id"])
    user = emu.accounts.user(parsed) if parsed else None
    if user is None:
        return fail(404, "User not found")
    if (body.get("pw") or "") != user.password:
        return fail(401, "Invalid username or password entered.")
    return reply(request, authentication_result(request, user, who))


@endpoint
async def logout(request: Request) -> Response:
    emu = emulator(request)
    emu.accounts.revoke(caller(request).token)
    return Response(status_code=204)


# -- Quick Connect -------------------------------------------------------------------------------


def _quick_connect(request: Request) -> Any:
    emu = emulator(request)
    if not emu.flavour.quick_connect:
        raise Reject(fail(404))
    return emu


def _quick_json(emu: Any, r: Any) -> dict[str, Any]:
    return {
        "Authenticated": r.authenticated,
        "Secret": r.secret,
        "Code": r.code,
        "DeviceId": r.device_id,
        "DeviceName": r.device_name,
        "AppName": r.client,
        "AppVersion": r.version,
        "DateAdded": iso(r.created),
    }


@endpoint
async def quick_enabled(request: Request) -> Response:
    emu = _quick_connect(request)
    return reply(request, bool(emu.settings.quick_connect))


@endpoint
async def quick_initiate(request: Request) -> Response:
    emu = _quick_connect(request)
    if not emu.settings.quick_connect:
        return fail(401, "Quick connect is disabled")
    who = caller(request)
    _device_headers(who)
    r = emu.accounts.initiate(who.device_id, who.device, who.client, who.version)
    return reply(request, _quick_json(emu, r))


@endpoint
async def quick_connect(request: Request) -> Response:
    emu = _quick_connect(request)
    if not emu.settings.quick_connect:
        return fail(401, "Quick connect is disabled")
    r = emu.accounts.pending(param(request, "secret") or "")
    if r is None:
        return fail(404, "Unknown secret")
    r.polls += 1
    if not r.authenticated and r.polls > emu.settings.approve_after_polls:
        r.user_id = emu.accounts.admin.id
    return reply(request, _quick_json(emu, r))


@endpoint
async def quick_authorize(request: Request) -> Response:
    emu = _quick_connect(request)
    if not emu.settings.quick_connect:
        return fail(401, "Quick connect is disabled")
    user = acting_user(request, param(request, "userId"))
    assert user is not None
    r = emu.accounts.by_code(param(request, "code") or "")
    if r is None:
        return fail(404, "Unknown quick connect code")
    r.user_id = user.id
    return reply(request, True)


@endpoint
async def authenticate_quick_connect(request: Request) -> Response:
    emu = _quick_connect(request)
    body = await body_json(request)
    r = emu.accounts.pending(str(body.get("secret") or ""))
    if r is None or not r.authenticated:
        return fail(404, "Unable to find request")
    user = emu.accounts.user(r.user_id)
    if user is None:
        return fail(404, "Unable to find request")
    del emu.accounts.quick[r.secret]
    who = Caller(None, False, "", r.client, r.device_name, r.device_id, r.version)
    return reply(request, authentication_result(request, user, who))


# -- API keys --------------------------------------------------------------------------------------


def _admin(request: Request) -> Any:
    if not caller(request).admin:
        raise Reject(fail(403, "Forbidden"))
    return emulator(request)


@endpoint
async def keys(request: Request) -> Response:
    emu = _admin(request)
    if request.method == "POST":
        emu.accounts.new_api_key(param(request, "app") or "app")
        return Response(status_code=204)
    items = [
        {
            "Id": n + 1,
            "AccessToken": k.token,
            "AppName": k.name,
            "DateCreated": iso(k.created),
            "DateLastActivity": iso(k.created),
            "IsActive": True,
        }
        for n, k in enumerate(emu.accounts.api_keys.values())
    ]
    return reply(request, {"Items": items, "TotalRecordCount": len(items), "StartIndex": 0})


@endpoint
async def delete_key(request: Request) -> Response:
    emu = _admin(request)
    emu.accounts.api_keys.pop(request.path_params["key"], None)
    return Response(status_code=204)


ROUTES = [
    Route("/System/Info/Public", public_info, methods=["GET"]),
    Route("/System/Info", system_info, methods=["GET"]),
    Route("/System/Ping", ping, methods=["GET", "POST"]),
    Route("/Branding/Configuration", branding, methods=["GET"]),
    Route("/Users", users, methods=["GET"]),
    Route("/Users/Public", public_users, methods=["GET"]),
    Route("/Users/Me", me, methods=["GET"]),
    Route("/Users/AuthenticateByName", authenticate_by_name, methods=["POST"]),
    Route("/Users/AuthenticateWithQuickConnect", authenticate_quick_connect, methods=["POST"]),
    Route("/Users/New", new_user, methods=["POST"]),
    Route("/Users/{user_id}", user_by_id, methods=["GET"]),
    Route("/Users/{user_id}", delete_user, methods=["DELETE"]),
    Route("/Users/{user_id}/Delete", delete_user, methods=["POST"]),
    Route("/Users/{user_id}/Authenticate", authenticate_by_id, methods=["POST"]),
    Route("/Sessions/Logout", logout, methods=["POST"]),
    Route("/QuickConnect/Enabled", quick_enabled, methods=["GET"]),
    Route("/QuickConnect/Initiate", quick_initiate, methods=["GET", "POST"]),
    Route("/QuickConnect/Connect", quick_connect, methods=["GET"]),
    Route("/QuickConnect/Authorize", quick_authorize, methods=["POST"]),
    Route("/Auth/Keys", keys, methods=["GET", "POST"]),
    Route("/Auth/Keys/{key}", delete_key, methods=["DELETE"]),
    Route("/Auth/Keys/{key}/Delete", delete_key, methods=["POST"]),
]
