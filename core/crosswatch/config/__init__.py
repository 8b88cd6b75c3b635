"""Config: ``config.toml`` (by hand, never rewritten) merged with ``schedules.toml`` (by crosswatch)."""

from crosswatch.config.load import check_config_dir, config_dir_from, load_config
from crosswatch.config.names import pair_slug
from crosswatch.config.schedules import write_schedules
from crosswatch.config.types import (
    CONFIG_FILE,
    SCHEDULES_FILE,
    Config,
    ConfigError,
    ConfigIssue,
    ConfigSection,
    ProviderSection,
)

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
    "pair_slug",
    "write_schedules",
]
