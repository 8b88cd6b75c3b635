"""Scripted faults: ``POST /_emulator/faults`` with a list (``GET`` lists the pending ones, ``DELETE`` clears).

Each entry::

    {"method": "POST",           # or "*" (default)
     "path": "/a/path",          # exact, or a glob ("/a/*"); default "*"
     "status": 503,              # the answer (default 503)
     "times": 1,                 # how many matching requests it hits (default 1)
     "skip": 0,                  # let this many matching requests through first (default 0)
     "after_apply": false,       # true: the request is applied first, then its answer is lost
     "drop": false,              # true: the connection drops mid-body instead of ``status``
     "retry_after": null,        # seconds: adds a Retry-After header
     "headers": {}, "body": null}  # extra headers; a body (what it becomes is the emulator's)

A request takes the first pending fault that matches it, so faults are consumed in order.
Where in the gate faults apply, and how a body or the default answer is rendered, is each
emulator's own (its ``gate`` module).
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
    skip: int = 0
    after_apply: bool = False
    drop: bool = False
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    @classmethod
    def from_json(cls, data: Any, *, bool_times: bool = False) -> Fault:
        """Parse one entry; ValueError names what is wrong. ``bool_times``: take ``"times": true`` as 1."""
        if not isinstance(data, dict):
            raise ValueError("each fault must be an object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        fault = cls(**data)
        fault.method = str(fault.method).upper()
        if isinstance(fault.status, bool) or not isinstance(fault.status, int) or not 100 <= fault.status <= 599:
            raise ValueError("fault status must be an HTTP status")
        if (isinstance(fault.times, bool) and not bool_times) or not isinstance(fault.times, int) or fault.times < 1:
            raise ValueError("fault times must be a positive integer")
        if not isinstance(fault.headers, dict):
            raise ValueError("fault headers must be an object")
        if isinstance(fault.skip, bool) or not isinstance(fault.skip, int) or fault.skip < 0:
            raise ValueError("fault skip must be a whole number, 0 or more")
        return fault

    def matches(self, method: str, path: str) -> bool:
        """Whether a request ``method path`` (the normalised path) is one this fault hits."""
        return self.method in ("*", method) and (self.path == path or fnmatchcase(path, self.path))

    def answer_headers(self) -> dict[str, Any]:
        """The extra headers of the answer, with ``Retry-After`` (whole seconds without ``.0``)."""
        headers = dict(self.headers)
        if self.retry_after is not None:
            value = self.retry_after
            headers["Retry-After"] = str(int(value) if float(value).is_integer() else value)
        return headers


class Faults:
    """Scripted faults, consumed in order.

    ``bool_times=True`` keeps the Trakt emulator's older leniency of taking ``"times": true``
    as one hit; without it that entry is refused like any other non-integer.
    """

    def __init__(self, *, bool_times: bool = False) -> None:
        self.pending: list[Fault] = []
        self.bool_times = bool_times

    def add(self, entries: Any) -> int:
        """Append one entry or a list of them (all or none); returns how many were added."""
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list):
            raise ValueError("post a list of faults")
        faults = [Fault.from_json(e, bool_times=self.bool_times) for e in entries]
        self.pending.extend(faults)
        return len(faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault that matches, counted as used once; None if none does."""
        for n, fault in enumerate(self.pending):
            if fault.matches(method, path):
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                if fault.times <= 0:
                    del self.pending[n]
                return fault
        return None

    def control(self, method: str, body: Any = None) -> dict[str, Any]:
        """``/_emulator/faults``: POST appends ``body``, DELETE clears; ``{"pending": [...]}`` after.

        A bad ``body`` raises ValueError (or TypeError) and adds nothing.
        """
        if method == "POST":
            self.add(body)
        elif method == "DELETE":
            self.pending.clear()
        return {"pending": self.to_json()}

    def to_json(self) -> list[dict[str, Any]]:
        """The pending faults as posted (``times`` counts down)."""
        return [asdict(f) for f in self.pending]
