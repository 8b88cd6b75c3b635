"""The config's types: the validated Config, its sections, and the faults found in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from crosswatch.config.schema import (
    CapturesConfig,
    DaemonConfig,
    HistoryConfig,
    LogConfig,
    NotifyConfig,
    PairConfig,
    PluginsConfig,
    ScrobbleConfig,
    SyncConfig,
    WebConfig,
)
from crosswatch.errors import CrosswatchError

CONFIG_FILE = "config.toml"
SCHEDULES_FILE = "schedules.toml"
DEFAULT_CONFIG_DIR = "/config"


@dataclass(frozen=True)
class ConfigSection:
    """A top-level config section owned by a plugin, e.g. ``[plex]``."""

    name: str
    schema: type[msgspec.Struct]
    profiles: bool = True  # accepts [<name>.profiles.<profile>] overrides
    owner: str = ""


@dataclass(frozen=True)
class ConfigIssue:
    """One fault or warning, pointing at a file, a line and a key."""

    file: Path
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(CrosswatchError):
    """The config is invalid; ``issues`` say where and why."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


@dataclass(frozen=True)
class ProviderSection:
    """A plugin section with its profiles: ``default`` is the section itself."""

    name: str
    profiles: dict[str, Any]
    configured: bool = True  # False: not in config.toml (its defaults stand in)

    @property
    def default(self) -> Any:
        return self.profiles["default"]


@dataclass(frozen=True)
class Config:
    """The validated config in force."""

    config_dir: Path
    daemon: DaemonConfig = DaemonConfig()
    log: LogConfig = LogConfig()
    plugins: PluginsConfig = PluginsConfig()
    sync: SyncConfig = SyncConfig()
    scrobble: ScrobbleConfig = ScrobbleConfig()
    captures: CapturesConfig = CapturesConfig()
    history: HistoryConfig = HistoryConfig()
    notify: NotifyConfig = NotifyConfig()
    web: WebConfig = WebConfig()
    pairs: tuple[PairConfig, ...] = ()
    sections: dict[str, ProviderSection] = field(default_factory=dict)
    warnings: tuple[ConfigIssue, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    from_file: bool = False  # config.toml existed and held at least one setting

    def resolve(self, ref: str) -> tuple[str, str, Any]:
        """``"plex"`` or ``"plex.kids"`` -> (section, profile, that profile's settings)."""
        name, _, profile = ref.partition(".")
        profile = profile or "default"
        return name, profile, self.sections[name].profiles[profile]

    def changed_sections(self, other: Config | None) -> tuple[str, ...]:
        """Top-level sections whose raw settings differ from ``other``."""
        if other is None:
            return tuple(sorted(self.raw))
        keys = set(self.raw) | set(other.raw)
        return tuple(sorted(k for k in keys if self.raw.get(k) != other.raw.get(k)))


# -- reading ----------------------------------------------------------------------------
