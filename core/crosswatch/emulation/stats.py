"""Request statistics of an emulator (``GET /_emulator/stats``, ``POST /_emulator/stats/reset``).

Every request the gate passes is counted per ``METHOD path`` and per status; writes are
listed with their time. A subclass names its counters (in the order ``to_json`` shows them),
which statuses bump which counter, and what counts as a write.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

WRITES = frozenset({"POST", "PUT", "DELETE", "PATCH"})


class RequestStats:
    """Counts per ``METHOD path`` and per status, named counters, and every write's time."""

    #: the integer counters, in the order ``to_json`` lists them (the gate bumps
    #: ``faults`` and ``dropped``; ``by_status`` bumps the rest)
    counters: ClassVar[tuple[str, ...]] = ("faults", "dropped")
    #: status -> the counter it bumps
    by_status: ClassVar[dict[int, str]] = {}

    faults: int
    dropped: int

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start counting again from now."""
        self.started = time.time()
        self.requests: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        for name in self.counters:
            setattr(self, name, 0)
        self.writes: list[dict[str, Any]] = []

    def is_write(self, method: str, path: str) -> bool:
        """Whether the request goes to ``writes`` (default: POST, PUT, DELETE, PATCH)."""
        return method in WRITES

    def record(self, method: str, path: str, status: int, at: float) -> None:
        """Count one answered request (``status`` 0: none was sent) that arrived at ``at``."""
        name = f"{method} {path}"
        self.requests[name] = self.requests.get(name, 0) + 1
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        counter = self.by_status.get(status)
        if counter is not None:
            setattr(self, counter, getattr(self, counter) + 1)
        if self.is_write(method, path):
            self.writes.append({"at": at, "method": method, "path": path, "status": status})

    def to_json(self) -> dict[str, Any]:
        """``since``, ``total``, ``requests``, ``statuses``, the counters, ``writes``."""
        return {
            "since": self.started,
            "total": sum(self.requests.values()),
            "requests": dict(sorted(self.requests.items())),
            "statuses": dict(sorted(self.statuses.items())),
            **{name: getattr(self, name) for name in self.counters},
            "writes": self.writes,
        }
