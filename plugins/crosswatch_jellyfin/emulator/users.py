"""Users, their sign-ins (access tokens per device), API keys and Quick Connect requests.

- **users**: an administrator (the one the TOML block names, with a password) and a
  second, ordinary user, both seeded (ids 32 hex, passwords 12 characters); an
  administrator makes more with ``POST /Users/New`` and deletes one with ``DELETE
  /Users/{id}`` (never the last administrator). An ordinary user reaching another user's
  data gets 403; an administrator or an API key may.
- **tokens**: ``AuthenticateByName`` (or Quick Connect) makes one per ``(user, DeviceId)``;
  a new sign-in from the same device revokes that device's earlier token, as the servers
  do. ``POST /Sessions/Logout`` revokes the caller's. Tokens do not expire.
- **API keys**: an administrator with no user (routes need ``userId`` or a
  ``/Users/{id}/...`` path); one is seeded, more with ``POST /Auth/Keys``.
- **Quick Connect** (Jellyfin): ``initiate`` makes a secret (64 hex) and a code (6 digits);
  ``authorize`` by a signed-in user (or after ``approve_after_polls`` polls, or
  ``/_emulator/approve``) lets ``AuthenticateWithQuickConnect`` trade the secret for a token.
  A request lives 10 minutes.
- **the Authorization header**: :func:`parse_authorization` reads the servers' format
  (scheme ``MediaBrowser`` or ``Emby``, comma-separated ``Key="value"`` pairs, values
  URL-decoded, keys case-sensitive, a later duplicate wins).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

QUICK_CONNECT_TTL = 600.0
_NAMES = ("ann", "ben", "cleo", "dana", "eli", "faye", "gil", "hana", "ivo", "jade", "kai", "lena", "milo", "nora")
_PASSWORD_CHARS = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass
class User:
    id: str
    name: str
    password: str
    admin: bool = False
    hidden: bool = True
    created: float = 1_546_300_800.0
    last_login: float | None = None
    last_activity: float | None = None


@dataclass
class Device:
    """One signed-in device of a user: its access token and what the client said it is."""

    token: str
    user_id: str
    device_id: str
    client: str
    device_name: str
    version: str
    created: float
    last_activity: float


@dataclass
class ApiKey:
    token: str
    name: str
    created: float


@dataclass
class QuickConnectRequest:
    secret: str
    code: str
    device_id: str
    device_name: str
    client: str
    version: str
    created: float
    polls: int = 0
    user_id: str | None = None  # set once authorized

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None


@dataclass
class Caller:
    """Who a request is: a user's token, an API key, or nobody (``user`` None, ``api_key`` False)."""

    user: User | None = None
    api_key: bool = False
    token: str = ""
    client: str = ""
    device: str = ""
    device_id: str = ""
    version: str = ""

    @property
    def admin(self) -> bool:
        return self.api_key or (self.user is not None and self.user.admin)

    @property
    def signed_in(self) -> bool:
        return self.api_key or self.user is not None


def parse_authorization(value: str, schemes: tuple[str, ...]) -> dict[str, str] | None:
    """The ``Key="value"`` pairs of an Authorization header whose scheme is one of ``schemes``."""
    scheme, _, rest = value.strip().partition(" ")
    if not rest or scheme.lower() not in {s.lower() for s in schemes}:
        return None
    out: dict[str, str] = {}
    quoted, start, key = False, 0, ""
    for i, ch in enumerate(rest):
        if ch == '"' or ch == ",":
            quoted = (not quoted) == (ch == '"')
            if ch == "," and not quoted:
                if start < i:
                    out[key] = unquote_plus(rest[start:i].strip().strip('"'))
                    key = ""
                start = i + 1
        elif not quoted and ch == "=":
            key = rest[start:i].strip()
            start = i + 1
    if start < len(rest):
        out[key] = unquote_plus(rest[start:].strip().strip('"'))
    return out


class Accounts:
    """The users, devices (tokens), API keys and Quick Connect requests of one server."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"crosswatch-jellyfin-users:{seed}")
        self._rng = rng
        first, second = rng.sample(_NAMES, 2)
        self.users: list[User] = [
            User(self._hex(), first, self._password(), admin=True, hidden=False),
            User(self._hex(), second, self._password()),
        ]
        self.devices: dict[str, Device] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self.quick: dict[str, QuickConnectRequest] = {}
        self.server_id = self._hex()
        seeded = ApiKey(self._hex(), "crosswatch emulator", 1_700_000_000.0)
        self.api_keys[seeded.token] = seeded
        self.seeded_api_key = seeded.token

    def _hex(self, bits: int = 128) -> str:
        return f"{self._rng.getrandbits(bits):0{bits // 4}x}"

    def _password(self) -> str:
        return "".join(self._rng.choice(_PASSWORD_CHARS) for _ in range(12))

    # -- users ----------------------------------------------------------------------------------

    @property
    def admin(self) -> User:
        return self.users[0]

    def user(self, user_id: str | None) -> User | None:
        if user_id is None:
            return None
        wanted = user_id.replace("-", "").lower()
        return next((u for u in self.users if u.id == wanted), None)

    def by_name(self, name: str) -> User | None:
        wanted = name.strip().lower()
        return next((u for u in self.users if u.name.lower() == wanted), None)

    def add_user(self, name: str, password: str) -> User:
        """A new ordinary user (``POST /Users/New``); ValueError when the name is taken or empty."""
        name = name.strip()
        if not name:
            raise ValueError("Name is required.")
        if self.by_name(name) is not None:
            raise ValueError(f"A user with the name '{name}' already exists.")
        user = User(self._hex(), name, password, created=time.time())
        self.users.append(user)
        return user

    def remove_user(self, user: User) -> None:
        """Delete ``user`` and sign out their devices; ValueError for the last administrator."""
        if user.admin and sum(u.admin for u in self.users) == 1:
            raise ValueError("There must be at least one user in the system with administrative access.")
        self.users.remove(user)
        for token in [t for t, d in self.devices.items() if d.user_id == user.id]:
            del self.devices[token]

    # -- tokens ---------------------------------------------------------------------------------

    def sign_in(self, user: User, device_id: str, client: str, device_name: str, version: str) -> Device:
        """A new token for ``user`` on ``device_id``; the device's earlier token of that user is revoked."""
        for token in [t for t, d in self.devices.items() if d.user_id == user.id and d.device_id == device_id]:
            del self.devices[token]
        now = time.time()
        device = Device(self._hex(), user.id, device_id, client, device_name, version, now, now)
        self.devices[device.token] = device
        user.last_login = user.last_activity = now
        return device

    def caller(self, token: str | None) -> Caller | None:
        """The caller of a token (a device's or an API key), or None when it is unknown."""
        if not token:
            return None
        device = self.devices.get(token)
        if device is not None:
            device.last_activity = time.time()
            user = self.user(device.user_id)
            if user is None:
                return None
            user.last_activity = device.last_activity
            return Caller(user, False, token, device.client, device.device_name, device.device_id, device.version)
        key = self.api_keys.get(token)
        if key is not None:
            return Caller(None, True, token, key.name)
        return None

    def revoke(self, token: str) -> bool:
        return self.devices.pop(token, None) is not None

    def revoke_all(self) -> int:
        count = len(self.devices)
        self.devices.clear()
        return count

    def new_api_key(self, name: str) -> ApiKey:
        key = ApiKey(self._hex(), name, time.time())
        self.api_keys[key.token] = key
        return key

    # -- Quick Connect --------------------------------------------------------------------------

    def initiate(self, device_id: str, device_name: str, client: str, version: str) -> QuickConnectRequest:
        self._expire()
        code = f"{self._rng.randrange(1_000_000):06d}"
        while any(r.code == code for r in self.quick.values()):
            code = f"{self._rng.randrange(1_000_000):06d}"
        request = QuickConnectRequest(self._hex(256), code, device_id, device_name, client, version, time.time())
        self.quick[request.secret] = request
        return request

    def _expire(self) -> None:
        now = time.time()
        for secret in [s for s, r in self.quick.items() if now - r.created > QUICK_CONNECT_TTL]:
            del self.quick[secret]

    def pending(self, secret: str) -> QuickConnectRequest | None:
        self._expire()
        return self.quick.get(secret)

    def by_code(self, code: str) -> QuickConnectRequest | None:
        self._expire()
        return next((r for r in self.quick.values() if r.code == code.strip()), None)


@dataclass
class RateWindow:
    """Requests per token in the current ``rate_period`` window (the ``rate_limit`` knob)."""

    started: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def hit(self, who: str, limit: int, period: float, now: float) -> float | None:
        """Count one request; the seconds to wait when it is over ``limit``, else None."""
        if now - self.started >= period:
            self.started, self.counts = now, {}
        self.counts[who] = self.counts.get(who, 0) + 1
        if self.counts[who] > limit:
            return max(0.0, self.started + period - now)
        return None
