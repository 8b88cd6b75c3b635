"""``[web] password_hash``: scrypt (hashlib), the salt and the parameters kept in the string.

Format: ``scrypt$n=32768,r=8,p=1$<salt, base64>$<key, base64>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

N, R, P = 2**15, 8, 1  # 32 MiB per check: slow to guess, still small next to the daemon
KEY_BYTES = 32
MAXMEM = 64 * 1024 * 1024
MIN_LENGTH = 8


class BadHash(ValueError):
    """A ``password_hash`` that ``crosswatch web set-password`` did not make."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """A new salted hash of ``password``."""
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=MAXMEM, dklen=KEY_BYTES)
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def parse(stored: str) -> tuple[dict[str, int], bytes, bytes]:
    """(parameters, salt, key) of a stored hash; raises BadHash."""
    try:
        scheme, params, salt, key = stored.split("$")
        values = {k: int(v) for k, v in (part.split("=") for part in params.split(","))}
        if scheme != "scrypt" or set(values) != {"n", "r", "p"}:
            raise ValueError
        if not (2 <= values["n"] <= 2**20 and values["n"] & (values["n"] - 1) == 0):
            raise ValueError
        if not (1 <= values["r"] <= 32 and 1 <= values["p"] <= 16):
            raise ValueError
        return values, _unb64(salt), _unb64(key)
    except ValueError as exc:  # binascii.Error is a ValueError
        raise BadHash("[web] password_hash is not a hash made by `crosswatch web set-password`") from exc


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time compare); raises BadHash."""
    values, salt, key = parse(stored)
    got = hashlib.scrypt(password.encode(), salt=salt, maxmem=MAXMEM * 4, dklen=len(key), **values)
    return hmac.compare_digest(got, key)
