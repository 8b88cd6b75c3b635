"""Who crosswatch is to Plex: a stable client identifier and the signed-in token (``.cw_state``, 0600)."""

from __future__ import annotations

import uuid

import msgspec

from crosswatch import __version__
from crosswatch.logging import register_secret
from crosswatch.provider import file_prefix
from crosswatch.state import StateDir

PRODUCT = "crosswatch"


class PlexAccount(msgspec.Struct, kw_only=True):
    """``plex.tokens.json``: the plex.tv account token of one profile."""

    token: str
    client_id: str
    username: str = ""
    account_id: int | None = None
    # the server picked from plex.tv resources at sign-in (its own access token for PMS calls)
    server_name: str = ""
    server_id: str = ""
    server_uri: str = ""
    server_token: str = ""


class ClientFile(msgspec.Struct, kw_only=True):
    """``plex.client.json``: this install's ``X-Plex-Client-Identifier``."""

    client_id: str


class PlexIdentity:
    """The client identifier (kept for ever, as Plex lists it as a device) and the account token."""

    def __init__(self, state: StateDir, profile: str = "default") -> None:
        self.state = state
        prefix = file_prefix("PLEX", profile)
        self.client_file = f"{prefix}.client.json"
        self.token_file = f"{prefix}.tokens.json"

    def client_id(self) -> str:
        """This install's ``X-Plex-Client-Identifier``, created once."""

        def ensure(current: ClientFile | None) -> ClientFile:
            return current if current and current.client_id else ClientFile(client_id=f"crosswatch-{uuid.uuid4()}")

        kept = self.state.update_json_or_default(
            self.client_file, ensure, None, type=ClientFile, instead="Plex will list crosswatch as a new device"
        )
        return kept.client_id

    def headers(self, client_id: str, token: str | None = None) -> dict[str, str]:
        headers = {
            "X-Plex-Product": PRODUCT,
            "X-Plex-Version": __version__,
            "X-Plex-Client-Identifier": client_id,
            "X-Plex-Device-Name": PRODUCT,
            "Accept": "application/json",
        }
        if token:
            headers["X-Plex-Token"] = token
        return headers

    def load(self) -> PlexAccount | None:
        account = self.state.read_json_or_default(
            self.token_file, None, type=PlexAccount, instead="Plex is not signed in without it"
        )
        if account is not None:
            register_secret(account.token)
            register_secret(account.server_token)
        return account

    def save(self, account: PlexAccount) -> None:
        register_secret(account.token)
        register_secret(account.server_token)
        self.state.write_json(self.token_file, account)
