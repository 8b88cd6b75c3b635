"""Typed events carried by the bus (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class CaptureCreated(Event):
    path: str
    provider: str
    profile: str
    feature: str


@dataclass(frozen=True)
class CaptureDeleted(Event):
    path: str


@dataclass(frozen=True)
class ToolStarting(Event):
    """A destructive tool is about to write to a provider profile; listeners must pause first."""

    provider: str
    profile: str
    feature: str
    tool: str


@dataclass(frozen=True)
class ToolFinished(Event):
    provider: str
    profile: str
    feature: str
    tool: str
    ok: bool = True


@dataclass(frozen=True)
class RestoreStarting(Event):
    provider: str
    profile: str
    feature: str
    mode: str


@dataclass(frozen=True)
class RestoreFinished(Event):
    provider: str
    profile: str
    feature: str
    mode: str
    ok: bool = True


@dataclass(frozen=True)
class SyncStarting(Event):
    pair: str
    features: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()  # the profiles it writes, e.g. ("PLEX", "TRAKT.kids")


@dataclass(frozen=True)
class SyncFinished(Event):
    pair: str
    ok: bool = True
    features: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlaybackObserved(Event):
    """A play state change seen on a provider (watcher or webhook)."""

    provider: str
    profile: str
    state: str  # "playing", "paused", "stopped"
    item: Any
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
    item: Any
    rating: int | None
    source: str = "watcher"
    user: str = ""
    library: int | None = None
    owner: bool | None = None  # rated by the server owner (None: not known)
