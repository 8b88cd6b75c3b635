"""The sign-in of one profile: ``.cw_state/<prefix>.signin.json`` (0600, written atomically).

It holds the server's access token (none for an API-key sign-in: the key stays in the
config), the user it belongs to, the server and the device id crosswatch signs in as
(a new sign-in from the same device replaces the earlier token on the server). Tokens of
Jellyfin and Emby do not expire; they stop working when revoked (a 401 then says to sign
in again).
"""

from __future__ import annotations

import time
from typing import Literal

import msgspec

from crosswatch.logging import register_secret
from crosswatch.provider import SignInState, file_prefix
from crosswatch.state import StateDir
from crosswatch_jellyfin.config import MediaServerSettings
from crosswatch_jellyfin.servers import ServerKind

Method = Literal["password", "quick_connect", "api_key"]
WITHOUT = "the profile is not signed in without it (run crosswatch auth again)"


class SignIn(msgspec.Struct, kw_only=True):
    """What ``crosswatch auth jellyfin|emby`` obtained."""

    method: Method
    url: str
    user_id: str
    user_name: str = ""
    access_token: str = ""  # empty for an API-key sign-in
    device_id: str
    server_id: str = ""
    server_name: str = ""
    server_version: str = ""
    signed_in_at: float = 0.0


def signin_name(kind: ServerKind, profile: str) -> str:
    return f"{file_prefix(kind.provider, profile)}.signin.json"


def load_sign_in(state: StateDir, kind: ServerKind, profile: str) -> SignIn | None:
    """The profile's sign-in, or None (a damaged file is moved aside and reported)."""
    found: SignIn | None = state.read_json_or_default(signin_name(kind, profile), None, type=SignIn, instead=WITHOUT)
    if found is not None:
        register_secret(found.access_token)
    return found


def save_sign_in(state: StateDir, kind: ServerKind, profile: str, sign_in: SignIn) -> None:
    register_secret(sign_in.access_token)
    if not sign_in.signed_in_at:
        sign_in.signed_in_at = time.time()
    state.write_json(signin_name(kind, profile), sign_in)


def sign_in_state(
    state: StateDir, kind: ServerKind, profile: str, settings: MediaServerSettings | None = None
) -> SignInState:
    """How the profile's sign-in stands, from its file and its settings (no network)."""
    command = f"crosswatch auth {kind.section}" + ("" if profile == "default" else f" --profile {profile}")
    found = load_sign_in(state, kind, profile)
    if found is None and settings is not None and settings.api_key:
        who = settings.user or settings.user_id or "?"
        return SignInState(True, f"{who} on {settings.url}, with the API key in config.toml")
    if found is None:
        return SignInState(False, f"not signed in: run `{command}`")
    how = {"password": "by password", "quick_connect": "by Quick Connect", "api_key": "with an API key"}[found.method]
    server = found.server_name or found.url
    return SignInState(True, f"{found.user_name or found.user_id} on {server}, {how}", None, found.signed_in_at or None)
