"""The listener guard: no echo of crosswatch's own writes is forwarded as if a person did it.

Before a tool clears a feature (``ToolStarting``), a restore writes (``RestoreStarting``) or a
sync writes (``SyncStarting``, with the profiles it writes), the guard pauses forwarding of
that provider profile's events of that feature. When the writer finishes (``*Finished``)
forwarding resumes after ``scrobble.resume_quiet_s``; events seen in between are dropped,
counted and logged. Because the writers *publish* (and wait for every subscriber), the pause
is in force before the first write.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import structlog

from crosswatch.events import (
    Event,
    RestoreFinished,
    RestoreStarting,
    SyncFinished,
    SyncStarting,
    ToolFinished,
    ToolStarting,
)

log = structlog.get_logger("crosswatch.scrobble")
ALL = "*"


class ListenerGuard:
    """Which (provider profile, feature) pairs are paused now, and what was dropped."""

    def __init__(self, quiet_s: Callable[[], float] | float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._quiet = quiet_s if callable(quiet_s) else (lambda: float(quiet_s))
        self._clock = clock
        self._active: Counter[tuple[str, str]] = Counter()
        self._until: dict[tuple[str, str], float] = {}
        self.dropped: Counter[str] = Counter()

    def subscribe(self, bus: Any) -> None:
        for kind in (ToolStarting, RestoreStarting, SyncStarting):
            bus.subscribe(kind, self.on_start)
        for kind in (ToolFinished, RestoreFinished, SyncFinished):
            bus.subscribe(kind, self.on_finish)

    @staticmethod
    def _keys(event: Event) -> list[tuple[str, str]]:
        if isinstance(event, (SyncStarting, SyncFinished)):
            features = event.features or (ALL,)
            return [(target, f) for target in event.targets for f in features]
        name = event.provider if event.profile == "default" else f"{event.provider}.{event.profile}"  # type: ignore[attr-defined]
        return [(name, event.feature)]  # type: ignore[attr-defined]

    def on_start(self, event: Event) -> None:
        for key in self._keys(event):
            self._active[key] += 1
            log.info("scrobble.paused", profile=key[0], feature=key[1], cause=type(event).__name__)

    def on_finish(self, event: Event) -> None:
        until = self._clock() + self._quiet()
        for key in self._keys(event):
            if self._active[key] > 0:
                self._active[key] -= 1
            self._until[key] = until
            log.info("scrobble.resuming", profile=key[0], feature=key[1], quiet_s=self._quiet())

    def paused(self, profile: str, feature: str) -> bool:
        """Whether events of ``profile``'s ``feature`` are echoes of crosswatch's writes now."""
        now = self._clock()
        for key in ((profile, feature), (profile, ALL)):
            if self._active[key] > 0 or now < self._until.get(key, 0.0):
                return True
        return False

    def drop(self, profile: str, feature: str, what: str) -> None:
        """Count (and log, sparsely) one event dropped while paused."""
        key = f"{profile}:{feature}"
        self.dropped[key] += 1
        n = self.dropped[key]
        if n & (n - 1) == 0:
            log.info("scrobble.dropped", profile=profile, feature=feature, kind=what, dropped=n)
