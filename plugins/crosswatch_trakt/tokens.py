"""Trakt OAuth tokens in ``.cw_state`` (0600): load, save atomically, refresh before expiry."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager

import msgspec

from crosswatch.logging import register_secret
from crosswatch.state import StateDir


class Tokens(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str
    expires_in: int
    created_at: int
    token_type: str = "bearer"
    scope: str = "public"
    client_id: str = ""  # the app these tokens belong to

    @property
    def expires_at(self) -> int:
        return self.created_at + self.expires_in

    def needs_refresh(self, now: float | None = None) -> bool:
        """True within the last tenth of the lifetime (at most a day before expiry)."""
        now = time.time() if now is None else now
        return now >= self.expires_at - min(86_400, self.expires_in * 0.1)


class TokenStore:
    """``<prefix>.tokens.json``: the signed-in tokens of one profile."""

    def __init__(self, state: StateDir, prefix: str) -> None:
        self.state = state
        self.name = f"{prefix}.tokens.json"

    def load(self) -> Tokens | None:
        tokens = self.state.read_json(self.name, None, type=Tokens | None)
        if tokens is not None:
            register_secret(tokens.access_token)
            register_secret(tokens.refresh_token)
        return tokens

    def save(self, tokens: Tokens) -> None:
        register_secret(tokens.access_token)
        register_secret(tokens.refresh_token)
        self.state.write_json(self.name, tokens)

    def lock(self) -> AbstractContextManager[None]:
        """Held across a refresh: refresh tokens are single-use, so only one process may spend one."""
        return self.state.lock(self.name)
