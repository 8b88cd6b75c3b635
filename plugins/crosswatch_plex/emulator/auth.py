"""Tokens and plex.tv PINs of the emulated accounts.

Every account has a seeded token (the owner's is printed in the CLI's TOML block); signing in
with a PIN, switching to a home user and ``POST /_emulator/tokens`` issue more, each bound
to one account. A token is good on every path set (PMS, plex.tv, Discover) until
``POST /_emulator/expire_tokens`` revokes all of them.

PINs (``POST /api/v2/pins``): ``GET /api/v2/pins/{id}`` answers ``authToken: null`` for the
first ``approve_after_polls`` polls, then a fresh owner token (or earlier, once
``POST /_emulator/approve`` approved it). A PIN lives ``pin_ttl`` seconds, then answers 404.
``strong=true`` gives a 25-character code, else 4 characters.
"""

from __future__ import annotations

import random
import string
import time
from dataclasses import dataclass

TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"
CODE_ALPHABET = string.ascii_lowercase + string.digits
SHORT_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_token(rng: random.Random) -> str:
    """A Plex-looking token: 20 characters."""
    return "".join(rng.choices(TOKEN_ALPHABET, k=20))


@dataclass
class Pin:
    id: int
    code: str
    client_id: str
    product: str
    created: float  # epoch seconds
    expires_in: int
    polls: int = 0
    approved: bool = False
    token: str | None = None

    def alive(self, now: float) -> bool:
        return now < self.created + self.expires_in


class AuthStore:
    """Tokens (token -> PMS account id) and PINs, all from a seeded RNG."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"crosswatch-plex-auth:{seed}")
        self.tokens: dict[str, int] = {}
        self.pins: dict[int, Pin] = {}
        self.next_pin = 100_000_000 + self.rng.randrange(800_000_000)

    def register(self, token: str, account: int) -> None:
        self.tokens[token] = account

    def account_of(self, token: str | None) -> int | None:
        return self.tokens.get(token) if token else None

    def issue(self, account: int) -> str:
        token = new_token(self.rng)
        while token in self.tokens:
            token = new_token(self.rng)
        self.tokens[token] = account
        return token

    def expire_all(self) -> int:
        count = len(self.tokens)
        self.tokens.clear()
        return count

    def new_pin(self, client_id: str, product: str, strong: bool, ttl: int) -> Pin:
        if strong:
            code = "".join(self.rng.choices(CODE_ALPHABET, k=25))
        else:
            code = "".join(self.rng.choices(SHORT_CODE_ALPHABET, k=4))
        pin = Pin(self.next_pin, code, client_id, product, time.time(), ttl)
        self.next_pin += 1 + self.rng.randrange(50)
        self.pins[pin.id] = pin
        return pin

    def poll(self, pin: Pin, approve_after: int, owner: int) -> None:
        """Count a poll; once approved (by polls or by control) the PIN carries an owner token."""
        pin.polls += 1
        if pin.token is None and (pin.approved or pin.polls > approve_after):
            pin.approved = True
            pin.token = self.issue(owner)
