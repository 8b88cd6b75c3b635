"""Typed events carried by the bus (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Self

from crosswatch.model import Item


@dataclass(frozen=True)
class Event:
    """Base of every bus event."""


@dataclass(frozen=True)
class ConfigReloaded(Event):
    """A changed config was validated and is now in force."""

    changed: tuple[str, ...] = ()  # top-level sections that differ from the previous config


@dataclass(frozen=True)
class ConfigRejected(Event):
    """A changed config failed validation; the previous one stays in force."""

    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScheduleFired(Event):
    """A scheduled job's time has come; subscribers do its work inside ``publish``."""

    job_id: str
    kind: str  # "sync" or "capture"
    name: str
    scheduled_for: str  # ISO time of the slot, in the job's time zone
    params: dict[str, Any] = field(default_factory=dict)
    trigger: str = "schedule"  # or "web": run now on request (POST /jobs/<job>/run)


@dataclass(frozen=True)
class CaptureCreated(Event):
    path: str
    provider: str
    profile: str
    feature: str


@dataclass(frozen=True)
class CaptureDeleted(Event):
    path: str


# -- writers and the pause they ask for --------------------------------------------------------
#
# A writer (a tool, a restore, a sync) publishes a ``*Starting`` event and waits until every
# listener has paused for what it writes, then ``*Finished``. The pause is a lease: ``lease``
# names it (Finished carries the same name) and, when ``lease_s`` is above 0, it lifts by
# itself that many seconds after the last ``LeaseRenewed`` unless renewed (a writer in
# another process that dies or hangs never leaves the listeners paused for good).


@dataclass(frozen=True)
class WriteStarting(Event):
    """Base of the events a writer publishes before its first write."""

    def finished(self, ok: bool) -> WriteFinished:
        """The matching ``*Finished`` event (the same lease)."""
        raise NotImplementedError

    def with_lease(self, lease: str, lease_s: float | None = None) -> Self:
        """This event under ``lease`` (held ``lease_s`` unless renewed); every subclass has both fields."""
        changes: dict[str, Any] = {"lease": lease} if lease_s is None else {"lease": lease, "lease_s": lease_s}
        return replace(self, **changes)


@dataclass(frozen=True)
class WriteFinished(Event):
    """Base of the events a writer publishes after its last write."""


@dataclass(frozen=True)
class ToolStarting(WriteStarting):
    """A destructive tool is about to write to a provider profile; listeners must pause first."""

    provider: str
    profile: str
    feature: str
    tool: str
    lease: str = ""
    lease_s: float = 0.0  # 0: held until ToolFinished (the writer runs in this process)

    def finished(self, ok: bool) -> ToolFinished:
        return ToolFinished(self.provider, self.profile, self.feature, self.tool, ok=ok, lease=self.lease)


@dataclass(frozen=True)
class ToolFinished(WriteFinished):
    provider: str
    profile: str
    feature: str
    tool: str
    ok: bool = True
    lease: str = ""


@dataclass(frozen=True)
class RestoreStarting(WriteStarting):
    provider: str
    profile: str
    feature: str
    mode: str
    lease: str = ""
    lease_s: float = 0.0

    def finished(self, ok: bool) -> RestoreFinished:
        return RestoreFinished(self.provider, self.profile, self.feature, self.mode, ok=ok, lease=self.lease)


@dataclass(frozen=True)
class RestoreFinished(WriteFinished):
    provider: str
    profile: str
    feature: str
    mode: str
    ok: bool = True
    lease: str = ""


@dataclass(frozen=True)
class SyncStarting(WriteStarting):
    pair: str
    features: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()  # the profiles it writes, e.g. ("PLEX", "TRAKT.kids")
    lease: str = ""
    lease_s: float = 0.0

    def finished(self, ok: bool) -> SyncFinished:
        return SyncFinished(self.pair, ok=ok, features=self.features, targets=self.targets, lease=self.lease)


@dataclass(frozen=True)
class SyncFinished(WriteFinished):
    pair: str
    ok: bool = True
    features: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    lease: str = ""


@dataclass(frozen=True)
class LeaseRenewed(Event):
    """A writer in another process still works: its pause ``lease`` holds ``lease_s`` more seconds."""

    lease: str
    lease_s: float


@dataclass(frozen=True)
class PlaybackObserved(Event):
    """A play state change seen on a provider (watcher or webhook)."""

    provider: str
    profile: str
    state: str  # "playing", "paused", "stopped"
    item: Item
    progress: float  # percent
    source: str = "watcher"
    user: str = ""  # the account's title on the provider
    library: int | None = None
    session: str = ""  # one play session (a client playing one item)
    owner: bool | None = None  # the server owner's play (None: not known)


@dataclass(frozen=True)
class RatingObserved(Event):
    """A rating change seen on a provider; rating None means cleared."""

    provider: str
    profile: str
    item: Item
    rating: int | None
    source: str = "watcher"
    user: str = ""
    library: int | None = None
    owner: bool | None = None  # rated by the server owner (None: not known)
