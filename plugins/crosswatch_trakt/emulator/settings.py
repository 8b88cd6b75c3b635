"""The emulator's knobs: set at construction, by CLI flags, or live with ``POST /_emulator/settings``.

=====================  ==========  ===============================================================
knob                   default     meaning
=====================  ==========  ===============================================================
latency_ms             0           added to every API and OAuth request before it is handled
error_rate             0.0         share of API requests answered 500/502/503 (seeded RNG), not applied
drop_rate              0.0         share of API requests whose connection drops mid-body (seeded RNG;
                                   half of them after the request was applied)
get_limit/get_period   1000/300    ``AUTHED_API_GET_LIMIT``: GETs per period (s) per user (sliding window; a
                                   request up to 50 ms early passes); 0 = off
post_limit/post_period 1/1         ``AUTHED_API_POST_LIMIT``: POST/PUT/DELETE per period per user; 0 = off
token_ttl              604800      access token lifetime (s), ``expires_in`` of every new token
device_code_ttl        600         device code lifetime (s), ``expires_in`` of ``/oauth/device/code``
approve_after_polls    2           device token polls answered 400 (pending) before the code is approved
interval               5           device polling interval (s); faster polls get 429 (slow down)
deny                   False       the person denies the device code: 418 instead of the tokens
vip                    False       VIP account: no list caps (``/users/settings`` reports VIP limits)
private_profile        False       a private profile: ``/users/{slug}/...`` without the user's token answer
                                   401 with ``X-Private-User: true`` (``/users/me`` always needs the token)
watchlist_limit        250         free caps: a write that would pass one is refused whole with 420
ratings_limit          10000
collection_limit       1000
list_limit             2           reported in ``/users/settings`` (``limits.list.count``)
list_item_limit        100         reported in ``/users/settings`` (``limits.list.item_count``)
default_page_limit     100         page size of history and watchlist when no ``limit`` is given
max_page_limit         250         larger ``limit`` values are clamped to this
=====================  ==========  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crosswatch.emulation.settings import Knobs, coerce_number

#: what ``/users/settings`` reports for a VIP account (VIP caps are not enforced)
VIP_LIMITS = {"list_count": 1000, "list_items": 10_000, "watchlist": 10_000, "collection": 100_000, "ratings": 100_000}
_SHARES = frozenset({"error_rate", "drop_rate"})


@dataclass
class EmulatorSettings(Knobs):
    """Every run-time knob of the Trakt emulator (see the module docstring)."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    get_limit: int = 1000
    get_period: float = 300.0
    post_limit: int = 1
    post_period: float = 1.0
    token_ttl: int = 7 * 86_400
    device_code_ttl: int = 600
    approve_after_polls: int = 2
    interval: float = 5.0
    deny: bool = False
    vip: bool = False
    private_profile: bool = False
    watchlist_limit: int = 250
    ratings_limit: int = 10_000
    collection_limit: int = 1_000
    list_limit: int = 2
    list_item_limit: int = 100
    default_page_limit: int = 100
    max_page_limit: int = 250

    def coerce(self, name: str, kind: str, value: Any) -> Any:
        """A flag must be a bool; every other knob a non-negative number (rates at most 1)."""
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise ValueError(f"setting {name!r} must be true or false")
        return coerce_number(name, kind, value, shares=_SHARES)

    def cap(self, feature: str) -> int | None:
        """The enforced cap of ``watchlist``/``ratings``/``collection``; None for VIP."""
        if self.vip:
            return None
        return {"watchlist": self.watchlist_limit, "ratings": self.ratings_limit, "collection": self.collection_limit}[
            feature
        ]
