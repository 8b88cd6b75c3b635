"""Apps, device codes and tokens of the emulated Trakt account (one user, many apps and tokens).

Tokens, codes and the default app's credentials come from a RNG seeded with the emulator's
seed, so a run is reproducible. Access tokens expire ``token_ttl`` seconds after issue (or at
once after ``POST /_emulator/expire_tokens``); refresh tokens are single-use; refreshing
leaves the old access token valid until it expires. A token only works with the app
(``trakt-api-key``) it was issued to.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass
class App:
    client_id: str
    client_secret: str
    name: str = "crosswatch"


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    created: float  # time.monotonic()
    expires_in: int
    polls: int = 0
    last_poll: float | None = None
    state: str = "pending"  # pending, approved, denied, used


@dataclass
class Token:
    access_token: str
    refresh_token: str
    client_id: str
    created_at: int
    expires_in: int
    expires_at: float = field(default=0.0)
    revoked: bool = False

    def valid(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": "public",
            "created_at": self.created_at,
        }


class AuthStore:
    """Every app, pending device code, token and refresh token of the emulator."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"crosswatch-trakt-auth:{seed}")
        self.apps: dict[str, App] = {}
        self.default_app = self.add_app()
        self.codes: dict[str, DeviceCode] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, Token] = {}  # unused refresh token -> its token
        self.auth_codes: dict[str, str] = {}  # authorization code -> client_id (single-use)

    def _hex(self, bits: int = 256) -> str:
        return f"{self._rng.getrandbits(bits):0{bits // 4}x}"

    def add_app(self, client_id: str | None = None, client_secret: str | None = None, name: str = "crosswatch") -> App:
        app = App(client_id or self._hex(), client_secret or self._hex(), name)
        self.apps[app.client_id] = app
        return app

    def app(self, client_id: Any) -> App | None:
        return self.apps.get(client_id) if isinstance(client_id, str) else None

    # -- device codes ----------------------------------------------------------------------

    def new_device_code(self, client_id: str, expires_in: int) -> DeviceCode:
        user_code = "".join(self._rng.choice(USER_CODE_ALPHABET) for _ in range(8))
        code = DeviceCode(self._hex(), user_code, client_id, time.monotonic(), expires_in)
        self.codes[code.device_code] = code
        return code

    def by_user_code(self, user_code: str) -> DeviceCode | None:
        wanted = user_code.strip().upper()
        return next((c for c in self.codes.values() if c.user_code == wanted), None)

    # -- tokens ------------------------------------------------------------------------------

    def issue(self, client_id: str, ttl: int) -> Token:
        now = time.time()
        token = Token(self._hex(), self._hex(), client_id, int(now), ttl, expires_at=now + ttl)
        self.tokens[token.access_token] = token
        self.refresh_tokens[token.refresh_token] = token
        return token

    def check(self, access_token: str, client_id: str) -> Token | None:
        """The token if it is known, unexpired, unrevoked and belongs to ``client_id``."""
        token = self.tokens.get(access_token)
        if token is None or token.client_id != client_id or not token.valid(time.time()):
            return None
        return token

    def spend_refresh(self, refresh_token: Any, client_id: str) -> Token | None:
        """Use a refresh token once; None if unknown, already used, revoked or another app's."""
        old = self.refresh_tokens.get(refresh_token) if isinstance(refresh_token, str) else None
        if old is None or old.client_id != client_id or old.revoked:
            return None
        del self.refresh_tokens[refresh_token]
        return old

    def revoke(self, token_value: Any) -> bool:
        token = self.tokens.get(token_value) or self.refresh_tokens.get(token_value)
        if token is None:
            return False
        token.revoked = True
        self.refresh_tokens.pop(token.refresh_token, None)
        return True

    def expire_all(self) -> int:
        """Every access token expires now (their refresh tokens stay usable)."""
        now = time.time()
        count = 0
        for token in self.tokens.values():
            if token.valid(now):
                token.expires_at = now
                count += 1
        return count

    def valid_count(self) -> int:
        now = time.time()
        return sum(1 for t in self.tokens.values() if t.valid(now))

    def new_auth_code(self, client_id: str) -> str:
        code = self._hex(64)
        self.auth_codes[code] = client_id
        return code
