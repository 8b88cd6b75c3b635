"""Rate limits (Trakt's two per-user windows) and the scripted faults queue.

Scripted faults (``POST /_emulator/faults`` with a list; ``GET`` lists what is pending,
``DELETE`` clears): each entry ::

    {"method": "POST",           # or "*" (default)
     "path": "/sync/history",    # exact, or a glob ("/sync/*"); default "*"
     "status": 503,              # the answer (default 503)
     "times": 1,                 # how many matching requests it hits (default 1)
     "after_apply": false,       # true: the request is applied first, then its answer is lost
     "drop": false,              # true: the connection drops mid-body instead of ``status``
     "retry_after": null,        # seconds: adds a Retry-After header
     "headers": {}, "body": null}  # extra headers; JSON body (default {"error": ...})

A request takes the first pending fault that matches it (so faults are consumed in order);
faults hit API and OAuth paths, never ``/_emulator``. They apply after the header, token
and rate-limit checks.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import Any

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
    """``AUTHED_API_GET_LIMIT`` and ``AUTHED_API_POST_LIMIT`` of the one user."""

    def __init__(self) -> None:
        self.reads = Window()
        self.writes = Window()

    def check(self, method: str, settings: EmulatorSettings, now: float, wall: float) -> Throttle | None:
        if method in ("GET", "HEAD"):
            name, window, limit, period = "AUTHED_API_GET_LIMIT", self.reads, settings.get_limit, settings.get_period
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


@dataclass
class Fault:
    method: str = "*"
    path: str = "*"
    status: int = 503
    times: int = 1
    after_apply: bool = False
    drop: bool = False
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        if not isinstance(data, dict):
            raise ValueError("each fault must be an object")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        fault = cls(**data)
        fault.method = str(fault.method).upper()
        if not isinstance(fault.status, int) or not 100 <= fault.status <= 599:
            raise ValueError("fault status must be an HTTP status")
        if not isinstance(fault.times, int) or fault.times < 1:
            raise ValueError("fault times must be a positive integer")
        if not isinstance(fault.headers, dict):
            raise ValueError("fault headers must be an object")
        return fault

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and (self.path == path or fnmatchcase(path, self.path))


class Faults:
    """Scripted faults, consumed in order."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, entries: Any) -> int:
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list):
            raise ValueError("post a list of faults")
        faults = [Fault.from_json(e) for e in entries]
        self.pending.extend(faults)
        return len(faults)

    def take(self, method: str, path: str) -> Fault | None:
        for n, fault in enumerate(self.pending):
            if fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    del self.pending[n]
                return fault
        return None

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.pending]
