"""The listener pause: no echo of crosswatch's own writes is forwarded as if a person did it.

Before a tool clears a feature (``ToolStarting``), a restore writes (``RestoreStarting``) or a
sync writes (``SyncStarting``, with the profiles it writes), forwarding of that provider
profile's events of that feature pauses. When the writer finishes (``*Finished``) forwarding
resumes after ``scrobble.resume_quiet_s``; events seen in between are dropped, counted and
logged. Because the writers *publish* (and wait for every subscriber), the pause is in force
before the first write.

Each pause is a lease. A writer in this process holds it until its ``*Finished`` (its
``finally`` always runs). A writer in another process (``lease_s`` above 0) must renew it
(``LeaseRenewed``) or it lifts by itself: a command killed mid-write, or one that gave up on a
hung daemon, never leaves the listeners paused for good. An expired lease is logged
(``guard.lease_expired``) and listed in ``/healthz``.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import structlog

from crosswatch.events import (
    Event,
    LeaseRenewed,
    RestoreFinished,
    RestoreStarting,
    SyncFinished,
    SyncStarting,
    ToolFinished,
    ToolStarting,
    WriteFinished,
    WriteStarting,
)

log = structlog.get_logger("crosswatch.scrobble")
ALL = "*"
Key = tuple[str, str]  # (provider profile, feature)


class LeaseUnknown(Exception):
    """A renewal named a pause that is not held (it expired, or was never taken)."""


@dataclass
class Pause:
    """One writer's pause: what it covers, why, and until when (None: until it finishes)."""

    keys: list[Key]
    cause: str
    since: float  # wall clock, for people
    expires: float | None  # monotonic
    holders: int = 1

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "paused": [f"{p}:{f}" for p, f in self.keys],
            "since": _stamp(self.since),
            "expires_in_s": None if self.expires is None else round(max(0.0, self.expires - now), 1),
        }


@dataclass
class ListenerGuard:
    """Which (provider profile, feature) pairs are paused now, and what was dropped."""

    quiet_s: Callable[[], float] | float = 5.0
    clock: Callable[[], float] = time.monotonic
    dropped: Counter[str] = field(default_factory=Counter)
    expired: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10))
    renewals: int = 0
    on_expired: Callable[[dict[str, Any]], Coroutine[Any, Any, None]] | None = None  # told (from run()) of each expiry

    def __post_init__(self) -> None:
        quiet = self.quiet_s
        self._quiet: Callable[[], float] = quiet if callable(quiet) else (lambda: float(quiet))
        self._pauses: dict[str, Pause] = {}
        self._until: dict[Key, float] = {}
        self._changed: anyio.Event | None = None
        self._untold: list[dict[str, Any]] = []

    def subscribe(self, bus: Any) -> None:
        for starting in (ToolStarting, RestoreStarting, SyncStarting):
            bus.subscribe(starting, self.on_start)
        for finished in (ToolFinished, RestoreFinished, SyncFinished):
            bus.subscribe(finished, self.on_finish)
        bus.subscribe(LeaseRenewed, self.on_renew)

    @staticmethod
    def _keys(event: Event) -> list[Key]:
        if isinstance(event, (SyncStarting, SyncFinished)):
            features = event.features or (ALL,)
            return [(target, f) for target in event.targets for f in features]
        assert isinstance(event, (ToolStarting, ToolFinished, RestoreStarting, RestoreFinished))
        name = event.provider if event.profile == "default" else f"{event.provider}.{event.profile}"
        return [(name, event.feature)]

    @classmethod
    def _lease(cls, event: WriteStarting | WriteFinished) -> str:
        """The pause's name: the event's lease, else what it writes (a writer that names none)."""
        lease = getattr(event, "lease", "")
        if lease:
            return str(lease)
        family = type(event).__name__.removesuffix("Starting").removesuffix("Finished")
        return family + ":" + ",".join(f"{p}/{f}" for p, f in cls._keys(event))

    def on_start(self, event: WriteStarting) -> None:
        lease, keys = self._lease(event), self._keys(event)
        seconds = float(getattr(event, "lease_s", 0.0))
        expires = self.clock() + seconds if seconds > 0 else None
        held = self._pauses.get(lease)
        if held is not None:
            held.holders += 1
            held.expires = expires
        else:
            self._pauses[lease] = Pause(keys, type(event).__name__, time.time(), expires)
        for key in keys:
            log.info("scrobble.paused", profile=key[0], feature=key[1], cause=type(event).__name__, lease_s=seconds)
        self._wake()

    def on_renew(self, event: LeaseRenewed) -> None:
        self._expire()
        held = self._pauses.get(event.lease)
        if held is None:
            raise LeaseUnknown(f"no pause named {event.lease!r} is held (it expired or was never taken)")
        held.expires = self.clock() + event.lease_s
        self.renewals += 1
        self._wake()

    def on_finish(self, event: WriteFinished) -> None:
        lease = self._lease(event)
        held = self._pauses.get(lease)
        keys = held.keys if held is not None else self._keys(event)
        if held is not None:
            held.holders -= 1
            if held.holders <= 0:
                del self._pauses[lease]
        self._quiet_after(keys)
        for key in keys:
            log.info("scrobble.resuming", profile=key[0], feature=key[1], quiet_s=self._quiet())
        self._wake()

    def _quiet_after(self, keys: list[Key]) -> None:
        until = self.clock() + self._quiet()
        for key in keys:
            self._until[key] = max(until, self._until.get(key, 0.0))

    def _expire(self) -> None:
        """Lift every lease that was not renewed in time, and say so."""
        now = self.clock()
        for lease, pause in list(self._pauses.items()):
            if pause.expires is None or pause.expires > now:
                continue
            # no quiet period: the writer stopped renewing a good while ago, its echoes are in
            del self._pauses[lease]
            record = {**pause.describe(now), "lease": lease, "expired_at": _stamp(time.time())}
            record.pop("expires_in_s")
            self.expired.append(record)
            log.warning(
                "guard.lease_expired",
                lease=lease,
                cause=pause.cause,
                paused=record["paused"],
                hint="the writer stopped renewing its pause (it died, hangs, or gave up); listeners resume",
            )
            self._untold.append(record)
            self._wake()

    def paused(self, profile: str, feature: str) -> bool:
        """Whether events of ``profile``'s ``feature`` are echoes of crosswatch's writes now."""
        self._expire()
        now = self.clock()
        for key in ((profile, feature), (profile, ALL)):
            if now < self._until.get(key, 0.0):
                return True
            if any(key in p.keys for p in self._pauses.values()):
                return True
        return False

    def drop(self, profile: str, feature: str, what: str) -> None:
        """Count (and log, sparsely) one event dropped while paused."""
        key = f"{profile}:{feature}"
        self.dropped[key] += 1
        n = self.dropped[key]
        if n & (n - 1) == 0:
            log.info("scrobble.dropped", profile=profile, feature=feature, kind=what, dropped=n)

    def describe(self) -> dict[str, Any]:
        """The pauses in force and the leases that expired lately (for ``/healthz``)."""
        self._expire()
        now = self.clock()
        return {
            "paused": [{"lease": k, **p.describe(now)} for k, p in self._pauses.items()],
            "expired": list(self.expired),
            "renewals": self.renewals,
        }

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def run(self) -> None:
        """Lift leases as they expire, so the log says so when it happens (until cancelled)."""
        async with anyio.create_task_group() as tg:
            while True:
                self._changed = anyio.Event()
                self._expire()
                while self._untold:
                    record = self._untold.pop(0)
                    if self.on_expired is not None:
                        tg.start_soon(self.on_expired, record)
                due = [p.expires for p in self._pauses.values() if p.expires is not None]
                with anyio.move_on_after(max(0.0, min(due) - self.clock()) + 0.01 if due else 3600):
                    await self._changed.wait()


def _stamp(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
