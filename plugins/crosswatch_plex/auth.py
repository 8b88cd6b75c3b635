"""``crosswatch auth plex``: the plex.tv PIN sign-in; the account token is saved in ``.cw_state`` (0600)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from crosswatch.http import HttpError, RetryPolicy, policy_for
from crosswatch.provider import AuthContext
from crosswatch_plex.client import json_object
from crosswatch_plex.identity import PRODUCT, PlexAccount, PlexIdentity

APP_URL = "https://app.plex.tv/auth#?clientID={client}&code={code}&context%5Bdevice%5D%5Bproduct%5D={product}"


class PlexAuthError(HttpError):
    """The sign-in did not complete; the message says why and what to do."""


async def sign_in(ctx: AuthContext, *, poll_interval: float = 1.0) -> PlexAccount:
    """Ask plex.tv for a PIN, show the link, poll until it is linked, check and save the token."""
    identity = PlexIdentity(ctx.state, ctx.profile)
    client_id = await anyio.to_thread.run_sync(identity.client_id)
    settings = ctx.settings
    base = settings.plextv_url.rstrip("/")
    policy = policy_for(f"PLEX:plextv:{base}", retry=RetryPolicy(max_retries=settings.max_retries))
    async with httpx.AsyncClient(
        timeout=settings.timeout_s, headers=identity.headers(client_id), verify=settings.verify_ssl
    ) as client:
        pin = _json(
            await policy.send(client, "POST", f"{base}/api/v2/pins", params={"strong": "true"}, idempotent=True),
            "POST /api/v2/pins",
        )
        ctx.say(
            "Open this link, sign in to Plex and allow crosswatch:\n  "
            + APP_URL.format(client=quote(client_id), code=quote(str(pin["code"])), product=PRODUCT)
        )
        deadline = time.monotonic() + float(pin.get("expiresIn") or 900)
        token = None
        while token is None:
            if time.monotonic() > deadline:
                raise PlexAuthError("the Plex PIN expired before it was linked: run `crosswatch auth plex` again")
            await anyio.sleep(poll_interval)
            reply = await policy.send(client, "GET", f"{base}/api/v2/pins/{pin['id']}")
            if reply.status_code == 404:
                raise PlexAuthError("plex.tv no longer knows this PIN (404): run `crosswatch auth plex` again")
            token = _json(reply, "GET /api/v2/pins").get("authToken")
        user = await policy.send(client, "GET", f"{base}/api/v2/user", headers={"X-Plex-Token": token})
        if user.status_code == 401:
            raise PlexAuthError("plex.tv refused the new token (401): run `crosswatch auth plex` again")
        info = _json(user, "GET /api/v2/user")
        reply = await policy.send(
            client,
            "GET",
            f"{settings.clients_url.rstrip('/')}/api/v2/resources",
            params={"includeHttps": 1, "includeRelay": 1},
            headers={"X-Plex-Token": token},
        )
        try:
            listed = reply.json() if reply.status_code == 200 else []
        except ValueError:
            listed = []  # no usable resources: plex.url with the account token still works
        server = pick_server(listed, settings.url)
    account = PlexAccount(
        token=token,
        client_id=client_id,
        username=str(info.get("username") or info.get("title") or ""),
        account_id=info.get("id"),
        **server,
    )
    await anyio.to_thread.run_sync(identity.save, account)
    if server:
        ctx.say(f"Plex Media Server: {server['server_name']} at {server['server_uri']}")
        if server["server_uri"].rstrip("/") != settings.url.rstrip("/"):
            hint = f"plex.url in config.toml is {settings.url}; set it to {server['server_uri']} to use this connection"
            ctx.say(f"  ({hint})")
    else:
        ctx.say("No Plex Media Server is listed for this account: crosswatch uses plex.url with the account token")
    where = ctx.state.file(identity.token_file)
    ctx.say(
        f"Signed in to Plex as {account.username or 'your account'} (profile {ctx.profile}); token saved in {where}"
    )
    return account


def pick_server(resources: Any, configured_url: str) -> dict[str, str]:
    """The server to use from plex.tv resources: the one at ``plex.url``, else the first owned one.

    Its connection: ``plex.url`` when the server lists it, else local first, relay last.
    """
    servers = (
        [r for r in resources if isinstance(r, dict) and "server" in str(r.get("provides", ""))]
        if isinstance(resources, list)
        else []
    )
    if not servers:
        return {}
    wanted = configured_url.rstrip("/")

    def uris(server: dict[str, Any]) -> list[dict[str, Any]]:
        return [c for c in server.get("connections") or () if isinstance(c, dict) and c.get("uri")]

    chosen = next((s for s in servers if any(c["uri"].rstrip("/") == wanted for c in uris(s))), None)
    chosen = chosen or next((s for s in servers if s.get("owned")), servers[0])
    connections = sorted(
        uris(chosen), key=lambda c: (c["uri"].rstrip("/") != wanted, not c.get("local"), bool(c.get("relay")))
    )
    return {
        "server_name": str(chosen.get("name", "")),
        "server_id": str(chosen.get("clientIdentifier", "")),
        "server_uri": connections[0]["uri"] if connections else wanted,
        "server_token": str(chosen.get("accessToken") or ""),
    }


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    return json_object(response, what, PlexAuthError)
