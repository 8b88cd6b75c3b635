"""Config: ``config.toml`` (by hand, never rewritten) merged with ``schedules.toml`` (by crosswatch)."""

from crosswatch.config.load import (
    CONFIG_FILE,
    SCHEDULES_FILE,
    Config,
    ConfigError,
    ConfigIssue,
    ConfigSection,
    ProviderSection,
    check_config_dir,
    config_dir_from,
    load_config,
)
from crosswatch.config.schedules import write_schedules

__all__ = [
    "CONFIG_FILE",
    "SCHEDULES_FILE",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ConfigSection",
    "ProviderSection",
    "check_config_dir",
    "config_dir_from",
    "load_config",
    "write_schedules",
]
