"""``crosswatch auth jellyfin|emby [--profile P]``: sign in, and keep the token in ``.cw_state`` (0600).

Which way, in this order:

1. an ``api_key`` in the profile's config: the key is checked and the configured user
   (``user`` or ``user_id``) looked up; the key itself stays in the config;
2. a password in ``CROSSWATCH_JELLYFIN_PASSWORD`` (``CROSSWATCH_EMBY_PASSWORD``) for the
   configured ``user``: ``POST /Users/AuthenticateByName``;
3. Quick Connect, where the server has it on (Jellyfin): a six-digit code is shown, to be
   entered in any signed-in Jellyfin client (user menu > Quick Connect); crosswatch polls
   until it is approved (``quick_connect_poll_s``, up to ``quick_connect_timeout_s``);
4. else a password prompt, on a terminal.

A new sign-in replaces the profile's earlier one (same device id: the server drops the old
token). The token is registered as a secret, so no log line shows it.
"""

from __future__ import annotations

import os
from typing import Any

import anyio

from crosswatch.errors import ProviderError
from crosswatch.logging import register_secret
from crosswatch.provider import AuthContext
from crosswatch_jellyfin.auth import SignIn, load_sign_in, save_sign_in, signin_name
from crosswatch_jellyfin.client import MediaServerClient, new_device_id
from crosswatch_jellyfin.config import MediaServerSettings
from crosswatch_jellyfin.servers import ServerKind
from crosswatch_jellyfin.users import find_user, same_id, wanted


async def sign_in(kind: ServerKind, ctx: AuthContext) -> None:
    """The sign-in flow of ``crosswatch auth <kind.section>`` (see the module docstring)."""
    settings: MediaServerSettings = ctx.settings
    earlier = await anyio.to_thread.run_sync(load_sign_in, ctx.state, kind, ctx.profile)
    device = earlier.device_id if earlier is not None else new_device_id()
    client = MediaServerClient(kind, settings, ctx.profile, device_id=device)
    try:
        info = await _public_info(client)
        if settings.api_key:
            record = await _by_api_key(client, settings)
        elif password := os.environ.get(kind.password_env, ""):
            record = await _by_password(client, settings, password)
        elif kind.quick_connect and await _quick_connect_on(client):
            record = await _by_quick_connect(client, settings, ctx)
        else:
            record = await _by_password(client, settings, await _ask_password(client, settings, ctx))
    finally:
        await client.aclose()
    record.server_id = record.server_id or str(info.get("Id") or "")
    record.server_name = str(info.get("ServerName") or "")
    record.server_version = str(info.get("Version") or "")
    await anyio.to_thread.run_sync(save_sign_in, ctx.state, kind, ctx.profile, record)
    how = {"password": "by password", "quick_connect": "by Quick Connect", "api_key": "with the API key"}[record.method]
    ctx.say(
        f"Signed in to {record.server_name or client.url} ({kind.title} {record.server_version}) as "
        f"{record.user_name} {how}; kept in .cw_state/{signin_name(kind, ctx.profile)}"
    )


async def _public_info(client: MediaServerClient) -> dict[str, Any]:
    kind = client.kind
    body = await client.get("/System/Info/Public")
    if not isinstance(body, dict) or not body.get("Id"):
        raise ProviderError(f"{client.url} does not answer as a {kind.title} server (/System/Info/Public)")
    product = str(body.get("ProductName") or "").lower()
    if product and ("jellyfin" in product) != (kind.provider == "JELLYFIN"):
        other = "[emby]" if kind.provider == "JELLYFIN" else "[jellyfin]"
        raise ProviderError(f"{client.url} is {body.get('ProductName')}, not {kind.title}: configure it under {other}")
    return body


def _record(client: MediaServerClient, method: str, result: Any) -> SignIn:
    """The sign-in kept from an ``AuthenticationResult``."""
    kind = client.kind
    user = result.get("User") if isinstance(result, dict) else None
    token = result.get("AccessToken") if isinstance(result, dict) else None
    if not isinstance(user, dict) or not isinstance(user.get("Id"), str) or not isinstance(token, str) or not token:
        raise ProviderError(f"{kind.title} at {client.url} answered the sign-in without a token or a user")
    register_secret(token)
    return SignIn(
        method=method,  # type: ignore[arg-type]
        url=client.url,
        user_id=user["Id"],
        user_name=str(user.get("Name") or ""),
        access_token=token,
        device_id=client.device_id,
        server_id=str(result.get("ServerId") or ""),
    )


async def _by_api_key(client: MediaServerClient, settings: MediaServerSettings) -> SignIn:
    client.token = settings.api_key
    register_secret(settings.api_key)
    response = await client.send("GET", "/Users")
    if response.status_code in (401, 403):
        raise ProviderError(
            f"{client.kind.title} at {client.url} does not accept the api_key of [{client.kind.section}] "
            f"(HTTP {response.status_code})"
        )
    client.check(response, "GET", "/Users")
    user = await find_user(client, settings.user, settings.user_id)
    return SignIn(
        method="api_key",
        url=client.url,
        user_id=str(user["Id"]),
        user_name=str(user.get("Name") or ""),
        device_id=client.device_id,
    )


async def _user_name(client: MediaServerClient, settings: MediaServerSettings) -> str:
    if settings.user:
        return settings.user
    if settings.user_id:
        public = await client.get("/Users/Public")
        for user in public if isinstance(public, list) else []:
            if isinstance(user, dict) and same_id(str(user.get("Id", "")), settings.user_id):
                return str(user.get("Name") or "")
        raise ProviderError(
            f'user_id {settings.user_id} is not among the users {client.url} shows: set user = "<name>"'
        )
    raise ProviderError(f'[{client.kind.section}] names no user to sign in as: set user = "<name>"')


async def _by_password(client: MediaServerClient, settings: MediaServerSettings, password: str) -> SignIn:
    register_secret(password)
    name = await _user_name(client, settings)
    path = "/Users/AuthenticateByName"
    response = await client.send("POST", path, json={"Username": name, "Pw": password}, idempotent=True)
    if response.status_code == 401:
        raise ProviderError(f"{client.kind.title} at {client.url} refused user {name!r} with that password")
    if response.status_code == 403:
        raise ProviderError(f"{client.kind.title} at {client.url} does not let user {name!r} sign in here (HTTP 403)")
    client.check(response, "POST", path)
    return _record(client, "password", response.json())


async def _quick_connect_on(client: MediaServerClient) -> bool:
    response = await client.send("GET", "/QuickConnect/Enabled")
    if response.status_code != 200:
        return False
    try:
        return response.json() is True
    except ValueError:
        return False


async def _by_quick_connect(client: MediaServerClient, settings: MediaServerSettings, ctx: AuthContext) -> SignIn:
    kind = client.kind
    response = await client.send("POST", "/QuickConnect/Initiate", idempotent=True)
    if response.status_code in (404, 405):  # Jellyfin 10.8 initiates with a GET
        response = await client.send("GET", "/QuickConnect/Initiate")
    client.check(response, "POST", "/QuickConnect/Initiate")
    started = response.json()
    secret, code = started.get("Secret"), started.get("Code")
    if not isinstance(secret, str) or not isinstance(code, str):
        raise ProviderError(f"{kind.title} at {client.url} started Quick Connect without a code")
    register_secret(secret)
    ctx.say(
        f"Quick Connect code: {code}\nEnter it in {kind.title} (signed in as {wanted(settings) or 'the user'}: "
        f"user menu > Quick Connect); waiting for it..."
    )
    deadline = anyio.current_time() + settings.quick_connect_timeout_s
    while True:
        response = await client.send("GET", "/QuickConnect/Connect", params={"Secret": secret})
        if response.status_code == 404:
            raise ProviderError("the Quick Connect code expired before it was entered: run the command again")
        client.check(response, "GET", "/QuickConnect/Connect")
        if response.json().get("Authenticated") is True:
            break
        if anyio.current_time() >= deadline:
            raise ProviderError("the Quick Connect code was not entered in time: run the command again")
        await anyio.sleep(settings.quick_connect_poll_s)
    path = "/Users/AuthenticateWithQuickConnect"
    result = await client.request("POST", path, json={"Secret": secret}, idempotent=True)
    record = _record(client, "quick_connect", result)
    mismatch = (settings.user_id and not same_id(settings.user_id, record.user_id)) or (
        settings.user and settings.user.strip().lower() != record.user_name.strip().lower()
    )
    if mismatch:
        client.token = record.access_token  # sign that token out again: it is not the one asked for
        await client.send("POST", "/Sessions/Logout", idempotent=True)
        raise ProviderError(
            f"the Quick Connect code was entered by {record.user_name!r}, but [{kind.section}] names "
            f"{wanted(settings)!r}: enter it signed in as that user"
        )
    return record


async def _ask_password(client: MediaServerClient, settings: MediaServerSettings, ctx: AuthContext[Any]) -> str:
    kind = client.kind
    name = await _user_name(client, settings)
    typed = await anyio.to_thread.run_sync(ctx.ask, f"{kind.title} password for {name}: ", True)
    if typed is None:
        offer = "" if not kind.quick_connect else ", turn Quick Connect on on the server,"
        raise ProviderError(
            f"no password to sign in with: set {kind.password_env}{offer} or put an api_key in [{kind.section}]"
        )
    return typed
