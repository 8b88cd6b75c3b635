"""Typed config objects for core's own sections, with their defaults.

Provider sections (``[plex]``, ``[trakt]``, a third party's) belong to their plugins, which
declare them through the ``crosswatch_config_sections`` hook.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from crosswatch.model import Feature

Ratio = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class Section(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=False):
    """Base of every config section; unknown keys are warned about, not fatal."""


class DaemonConfig(Section, frozen=True):
    listen: str = "127.0.0.1:8787"  # health, metrics and webhooks; "" turns the endpoint off
    timezone: str = ""  # default time zone of every schedule; "" = the system's
    watch_config: bool = True
    event_buffer: Annotated[int, msgspec.Meta(ge=16, le=1_000_000)] = 1024
    shutdown_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 4.0
    # a command run from a shell that writes to a provider pauses the daemon's listeners first:
    # how long it waits for the daemon to confirm, and the lease it renews while it writes
    guard_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 60.0
    guard_lease_s: Annotated[float, msgspec.Meta(ge=2, le=600)] = 20.0


class LogConfig(Section, frozen=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class PluginsConfig(Section, frozen=True):
    disabled: list[str] = []


class SyncConfig(Section, frozen=True):
    max_remove_ratio: Ratio = 0.10
    min_source_ratio: Ratio = 0.5
    history_tolerance_s: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 120


class ScrobbleWatcherConfig(Section, frozen=True):
    enabled: bool = False
    ratings: bool = False


class ScrobbleWebhookConfig(Section, frozen=True):
    enabled: bool = False
    ratings: bool = False
    secret: str = ""
    max_body_kb: Annotated[int, msgspec.Meta(ge=1, le=65_536)] = 1024


class ScrobbleConfig(Section, frozen=True):
    watcher: ScrobbleWatcherConfig = ScrobbleWatcherConfig()
    webhook: ScrobbleWebhookConfig = ScrobbleWebhookConfig()
    targets: list[str] = msgspec.field(default_factory=lambda: ["trakt"])
    users: list[str] = []
    libraries: list[int] = []
    stop_threshold: Annotated[int, msgspec.Meta(ge=1, le=100)] = 80
    ratings_window_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0
    resume_quiet_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 5.0
    queue_size: Annotated[int, msgspec.Meta(ge=16, le=1_000_000)] = 1000


class FeatureSwitch(Section, frozen=True):
    add: bool | None = None  # None: the pair's own add/remove
    remove: bool | None = None


def _default_features() -> list[Feature]:
    return [Feature.WATCHLIST, Feature.RATINGS, Feature.HISTORY]


class PairConfig(Section, frozen=True):
    name: str
    source: str  # provider section, or "section.profile"
    target: str
    mode: Literal["one-way", "two-way"] = "one-way"
    features: list[Feature] | dict[Feature, FeatureSwitch] = msgspec.field(default_factory=_default_features)
    add: bool = True
    remove: bool = False
    schedule: str = ""  # cron; "" = on demand only
    timezone: str = ""
    enabled: bool = True

    def feature_switches(self) -> dict[str, tuple[bool, bool]]:
        """Each enabled feature with its effective (add, remove) switches."""
        if isinstance(self.features, list):
            return {f: (self.add, self.remove) for f in self.features}
        return {
            f: (self.add if s.add is None else s.add, self.remove if s.remove is None else s.remove)
            for f, s in self.features.items()
        }


class CaptureSchedule(Section, frozen=True):
    provider: str  # provider section, or "section.profile"
    cron: str
    feature: str = "all"  # a Feature's value, or "all"
    name: str = ""  # default: "<provider>-<feature>"
    timezone: str = ""
    label_template: str = "auto-{provider}-{feature}-{date}"
    keep_days: Annotated[int, msgspec.Meta(ge=0)] = 0  # 0 = no age limit
    max_keep: Annotated[int, msgspec.Meta(ge=0)] = 0  # 0 = no count limit
    cleanup: bool = True
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.feature != "all" and self.feature not in set(Feature):
            raise ValueError(f"feature: {self.feature!r} is not one of {', '.join(Feature)} or all")

    @property
    def job_name(self) -> str:
        return self.name or f"{self.provider}-{self.feature}"


class CapturesConfig(Section, frozen=True):
    schedules: list[CaptureSchedule] = []


class HistoryConfig(Section, frozen=True):
    """The run history (``.cw_state/runs.sqlite3``): how much of it is kept."""

    keep_days: Annotated[int, msgspec.Meta(ge=1, le=36_500)] = 90
    keep_runs: Annotated[int, msgspec.Meta(ge=10, le=10_000_000)] = 10_000


NotifyOn = Literal["failure", "recovered", "success", "guard"]


class NotifyTarget(Section, frozen=True):
    """Where to tell about jobs: an ``http(s)://`` URL gets a JSON POST, any other an Apprise URL."""

    url: str
    on: list[NotifyOn] = msgspec.field(default_factory=lambda: ["failure", "recovered"])
    name: str = ""  # for the log; default: the URL's scheme and host


class NotifyConfig(Section, frozen=True):
    targets: list[NotifyTarget] = []
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=120)] = 10.0


class WebConfig(Section, frozen=True):
    """The dashboard at the daemon's ``/`` (see docs/web.md)."""

    enabled: bool = True
    # made by `crosswatch web set-password`; "" = no sign-in (the dashboard then answers on loopback only)
    password_hash: Annotated[str, msgspec.Meta(pattern=r"^(scrypt\$[^$]+\$[^$]+\$[^$]+)?$")] = ""
    session_hours: Annotated[int, msgspec.Meta(ge=1, le=8760)] = 12


#: core's sections: top-level key -> schema
CORE_SECTIONS: dict[str, type[Section]] = {
    "daemon": DaemonConfig,
    "log": LogConfig,
    "plugins": PluginsConfig,
    "sync": SyncConfig,
    "scrobble": ScrobbleConfig,
    "captures": CapturesConfig,
    "history": HistoryConfig,
    "notify": NotifyConfig,
    "web": WebConfig,
}
