"""The emulator's knobs: set at construction, by CLI flags, or live with ``POST /_emulator/settings``.

======================  ========  ==================================================================
knob                    default   meaning
======================  ========  ==================================================================
latency_ms              0         added to every request (not ``/_emulator``) before it is handled
error_rate              0.0       share of requests answered 500/502/503 (seeded RNG), not applied
drop_rate               0.0       share of requests whose connection drops mid-body (seeded RNG; half
                                  of them after the request was applied)
rate_limit              0         requests per ``rate_period`` seconds per token before 429 with
                                  ``Retry-After`` (what a reverse proxy in front would do; the
                                  servers themselves have none); 0 = off
rate_period             1.0       the window of ``rate_limit`` in seconds
default_limit           0         page size of item queries sent without ``Limit`` (0: everything,
                                  as the servers do)
max_limit               0         larger ``Limit`` values are clamped to this (0: no cap)
approve_after_polls     2         Quick Connect polls (``GET /QuickConnect/Connect``) answered
                                  ``Authenticated: false`` before the code is approved by itself
                                  (as if the user had typed it in another client); 0 = at once
quick_connect           True      Quick Connect is enabled on the server (Jellyfin only)
legacy_auth             True      ``EnableLegacyAuthorization`` (Jellyfin 10.11's default): the
                                  ``X-Emby-*`` headers, ``api_key`` and the ``Emby`` scheme work;
                                  off, only ``Authorization: MediaBrowser ...`` and ``ApiKey`` do
                                  (Jellyfin 12). Emby always accepts them.
userdata_debounce_ms    500       ``UserDataChanged`` websocket messages gather the changes of
                                  this long (the server's 500 ms timer)
keepalive_s             60        ``ForceKeepAlive`` data: the client's keep-alive period
websocket_drop          0         close every websocket after this many messages (0 = never)
min_resume_pct          5         playback reports: below this share the position is not kept
max_resume_pct          90        above it the item counts as played
min_resume_duration_s   300       items shorter than this count as played when stopped
======================  ========  ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crosswatch.emulation.settings import Knobs, coerce_number

_SHARES = frozenset({"error_rate", "drop_rate"})


@dataclass
class EmulatorSettings(Knobs):
    """Every run-time knob of the Jellyfin/Emby emulator (see the module docstring)."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    rate_limit: int = 0
    rate_period: float = 1.0
    default_limit: int = 0
    max_limit: int = 0
    approve_after_polls: int = 2
    quick_connect: bool = True
    legacy_auth: bool = True
    userdata_debounce_ms: float = 500.0
    keepalive_s: int = 60
    websocket_drop: int = 0
    min_resume_pct: float = 5.0
    max_resume_pct: float = 90.0
    min_resume_duration_s: float = 300.0

    def coerce(self, name: str, kind: str, value: Any) -> Any:
        """A flag must be a bool; every other knob a non-negative number (rates at most 1)."""
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise ValueError(f"setting {name!r} must be true or false")
        if name in ("min_resume_pct", "max_resume_pct") and isinstance(value, (int, float)) and value > 100:
            raise ValueError(f"setting {name!r} is a percentage from 0 to 100")
        return coerce_number(name, kind, value, shares=_SHARES)
