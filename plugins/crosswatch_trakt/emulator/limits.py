"""Rate limits: Trakt's per-user windows (``AUTHED_API_GET_LIMIT``, ``AUTHED_API_POST_LIMIT``) and
``UNAUTHED_API_GET_LIMIT`` for reads sent without a token (same size as the authed GET window).

A request over a limit is answered 429 with ``Retry-After`` and ``X-Ratelimit`` (see
:meth:`Throttle.headers`). The scripted faults queue is the shared
:mod:`crosswatch.emulation.faults`; where faults apply is in :mod:`.gate`.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass

from crosswatch_trakt.emulator.settings import EmulatorSettings
from crosswatch_trakt.emulator.times import iso_s


@dataclass
class Throttle:
    """One 429: which limit, and when the window frees up."""

    name: str
    period: float
    limit: int
    retry_after: int
    until: float

    def headers(self) -> dict[str, str]:
        state = {
            "name": self.name,
            "period": _num(self.period),
            "limit": self.limit,
            "remaining": 0,
            "until": iso_s(self.until),
        }
        return {"Retry-After": str(self.retry_after), "X-Ratelimit": json.dumps(state, separators=(",", ":"))}


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


#: how early a request may come and still pass: a client that paces itself exactly (one write
#: per second) sees its requests arrive a few milliseconds closer together than it sent them
GRACE_S = 0.05


class Window:
    """At most ``limit`` requests in any ``period`` seconds (a sliding window, with a little grace)."""

    def __init__(self) -> None:
        self.stamps: deque[float] = deque()

    def hit(self, limit: int, period: float, now: float) -> float | None:
        """Count a request; when over the limit, the time it could go (and nothing is counted)."""
        if limit <= 0:
            return None
        horizon = now - period + min(GRACE_S, period * 0.05)
        while self.stamps and self.stamps[0] <= horizon:
            self.stamps.popleft()
        while len(self.stamps) > limit:  # the limit was lowered at run time
            self.stamps.popleft()
        if len(self.stamps) >= limit:
            return self.stamps[0] + (now - horizon)
        self.stamps.append(now)
        return None


class RateLimits:
    """``AUTHED_API_GET_LIMIT`` and ``AUTHED_API_POST_LIMIT`` of the one user, ``UNAUTHED_API_GET_LIMIT``."""

    def __init__(self) -> None:
        self.reads = Window()
        self.writes = Window()
        self.anonymous_reads = Window()

    def check(
        self, method: str, settings: EmulatorSettings, now: float, wall: float, *, authed: bool = True
    ) -> Throttle | None:
        """Count a request (``authed``: it carried a valid token); the 429 to answer, or None."""
        if method in ("GET", "HEAD"):
            name, window = (
                ("AUTHED_API_GET_LIMIT", self.reads) if authed else ("UNAUTHED_API_GET_LIMIT", self.anonymous_reads)
            )
            limit, period = settings.get_limit, settings.get_period
        else:
            name, window, limit, period = (
                "AUTHED_API_POST_LIMIT",
                self.writes,
                settings.post_limit,
                settings.post_period,
            )
        free_at = window.hit(limit, period, now)
        if free_at is None:
            return None
        wait = max(0.0, free_at - now)
        return Throttle(name, period, limit, max(1, math.ceil(wait)), wall + wait)
