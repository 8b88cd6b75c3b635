"""``crosswatch auth trakt``: the device-code sign-in, tokens saved to ``.cw_state`` (0600)."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio

from crosswatch.http import HttpError
from crosswatch.provider import AuthContext
from crosswatch.state import NoRoom
from crosswatch_trakt.client import TraktClient, token_from
from crosswatch_trakt.errors import TraktAuthError
from crosswatch_trakt.tokens import Tokens

REFUSALS = {
    404: "Trakt does not know this device code (404)",
    409: "this device code was already used (409): run `crosswatch auth trakt` again",
    410: "the device code expired before it was approved (410): run `crosswatch auth trakt` again",
    418: "the sign-in was denied on trakt.tv (418)",
}


async def sign_in(ctx: AuthContext) -> None:
    """Device flow: show the code and URL, poll until approved, save the tokens."""
    settings = ctx.settings
    if not settings.client_id or not settings.client_secret:
        raise TraktAuthError("set trakt.client_id and trakt.client_secret (your Trakt API app) in config.toml first")
    client = TraktClient(settings, ctx.state, ctx.profile)
    try:  # room for the tokens first: a full disk is told before the person approves a code
        room = await anyio.to_thread.run_sync(client.tokens.reserve)
    except NoRoom as exc:
        where = exc.path.parent
        raise TraktAuthError(f"cannot sign in to Trakt: {exc.reason} in {where}; free space there first") from exc
    try:
        tokens = await device_flow(client, ctx.say)
        await anyio.to_thread.run_sync(client.tokens.save, tokens, room)
    finally:
        room.release()
        await client.aclose()
    ctx.say(f"Signed in to Trakt (profile {ctx.profile}); tokens saved in {ctx.state.file(client.tokens.name)}")


async def device_flow(client: TraktClient, say: Callable[[str], None]) -> Tokens:
    """Ask for a device code, show it, and poll until the person approves it on trakt.tv."""
    settings = client.settings
    base = settings.auth_url
    response = await client.request(
        "POST", "/oauth/device/code", scope="TRAKT:auth", body={"client_id": settings.client_id}, auth=False, base=base
    )
    code = client.check(response, "POST /oauth/device/code")
    say(f"Open {code['verification_url']} and enter the code {code['user_code']}")
    interval = float(code.get("interval", 5))
    deadline = time.monotonic() + float(code.get("expires_in", 600))
    body = {"code": code["device_code"], "client_id": settings.client_id, "client_secret": settings.client_secret}
    while time.monotonic() < deadline:
        await anyio.sleep(interval)
        try:
            reply = await client.request(
                "POST", "/oauth/device/token", scope="TRAKT:auth", body=body, auth=False, base=base, idempotent=True
            )
        except HttpError:
            continue  # a network hiccup: keep polling until the code expires
        if reply.status_code == 200:
            return token_from(client.check(reply, "POST /oauth/device/token"), settings.client_id)
        if reply.status_code == 400:
            continue  # not approved yet
        if reply.status_code == 429:
            interval += 1  # "slow down"
            continue
        if reply.status_code in REFUSALS:
            raise TraktAuthError(REFUSALS[reply.status_code], reply)
        client.check(reply, "POST /oauth/device/token")
    raise TraktAuthError("the device code expired before it was approved: run `crosswatch auth trakt` again")
