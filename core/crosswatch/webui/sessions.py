"""Signed session cookies: who signed in, until when, and the CSRF token of their forms.

The cookie is ``<payload, base64url JSON>.<HMAC-SHA256, base64url>``, signed with a random key
kept in ``.cw_state/web.key`` (0600, made on first use). Nothing secret is in the payload; a
changed ``password_hash`` ends every session made with the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass

from crosswatch.crashpoints import crash_point
from crosswatch.state import StateDir, atomic_write_bytes

COOKIE = "cw_session"
KEY_FILE = "web.key"
KEY_BYTES = 32


def load_key(state: StateDir) -> bytes:
    """The signing key; a new one when the file is missing or damaged (every session then ends)."""
    path = state.file(KEY_FILE)
    try:
        key = path.read_bytes()
        if len(key) == KEY_BYTES:
            return key
    except FileNotFoundError:
        pass
    state.ensure()
    key = os.urandom(KEY_BYTES)
    crash_point("web.key.before")
    atomic_write_bytes(path, key, mode=0o600)
    crash_point("web.key.after")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Session:
    """One browser's session: its CSRF token, and whether (and until when) it signed in."""

    csrf: str
    signed_in: bool = False
    expires: float = 0.0
    password: str = ""  # a fingerprint of the password_hash it signed in with
    fresh: bool = False  # made by this request: the response sets the cookie


class Sessions:
    """Make, sign and read session cookies."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def fingerprint(self, password_hash: str) -> str:
        return _b64(hmac.new(self.key, b"password:" + password_hash.encode(), hashlib.sha256).digest()[:12])

    def new(self) -> Session:
        return Session(csrf=secrets.token_urlsafe(24), fresh=True)

    def sign_in(self, session: Session, password_hash: str, hours: int) -> Session:
        """A new session (new CSRF token too: no fixation) signed in for ``hours``."""
        return Session(
            csrf=secrets.token_urlsafe(24),
            signed_in=True,
            expires=time.time() + hours * 3600,
            password=self.fingerprint(password_hash),
            fresh=True,
        )

    def dump(self, session: Session) -> str:
        payload = _b64(
            json.dumps(
                {"c": session.csrf, "s": session.signed_in, "e": session.expires, "p": session.password}
            ).encode()
        )
        return f"{payload}.{self._sign(payload)}"

    def load(self, cookie: str | None, password_hash: str) -> Session:
        """The session in ``cookie``; a new anonymous one when it is missing, forged, expired or stale."""
        if not cookie or cookie.count(".") != 1:
            return self.new()
        payload, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return self.new()
        try:
            data = json.loads(_unb64(payload))
            session = Session(csrf=str(data["c"]), signed_in=bool(data["s"]), expires=float(data["e"]))
            session.password = str(data["p"])
        except (ValueError, KeyError, TypeError):
            return self.new()
        if session.signed_in and (
            session.expires < time.time()
            or not password_hash
            or not hmac.compare_digest(session.password, self.fingerprint(password_hash))
        ):
            return self.new()
        return session

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.key, b"session:" + payload.encode(), hashlib.sha256).digest())
