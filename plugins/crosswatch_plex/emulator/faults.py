"""Scripted faults: ``POST /_emulator/faults`` with a list (``GET`` lists the pending ones, ``DELETE`` clears).

Each entry::

    {"method": "GET",                          # or "*" (default)
     "path": "/library/sections/*/all",        # exact, or a glob; default "*"
     "status": 503,                            # the answer (default 503)
     "times": 1,                               # how many matching requests it hits (default 1)
     "after_apply": false,                     # true: the request is applied first, then its answer is lost
     "drop": false,                            # true: the connection drops mid-body instead of ``status``
     "retry_after": null,                      # seconds: adds a Retry-After header
     "headers": {}, "body": null}              # extra headers; body text (default: an HTML error page)

A request takes the first pending fault that matches it, so faults are consumed in order.
They hit every path but ``/_emulator``, after the token check (a request without a valid
token is refused with 401 first and consumes nothing).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import Any


@dataclass
class Fault:
    """One scripted answer (see the module docstring)."""

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
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        fault = cls(**data)
        fault.method = str(fault.method).upper()
        if isinstance(fault.status, bool) or not isinstance(fault.status, int) or not 100 <= fault.status <= 599:
            raise ValueError("fault status must be an HTTP status")
        if isinstance(fault.times, bool) or not isinstance(fault.times, int) or fault.times < 1:
            raise ValueError("fault times must be a positive integer")
        if not isinstance(fault.headers, dict):
            raise ValueError("fault headers must be an object")
        return fault

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and (self.path == path or fnmatchcase(path, self.path))


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
