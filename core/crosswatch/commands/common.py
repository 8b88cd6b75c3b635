"""Helpers shared by the commands: config dir, plugin host, printing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosswatch.config import ConfigError, config_dir_from

if TYPE_CHECKING:
    from crosswatch.plugins import PluginHost


def config_dir(args: Any) -> Path:
    return config_dir_from(args.config_dir)


def plugin_host(folder: Path) -> PluginHost:
    from crosswatch.plugins import PluginHost, peek_disabled

    host = PluginHost(folder if folder.is_dir() else None)
    host.load(peek_disabled(folder))
    return host


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def fail(error: ConfigError | str) -> int:
    print(f"crosswatch: {error}", file=sys.stderr)
    return 1


def quiet_logging(args: Any) -> None:
    """Plugin-load errors are shown by the commands themselves; keep log lines for -v."""
    from crosswatch import logging as cw_logging

    cw_logging.configure(args.log_format or "console", "debug" if args.verbose else "critical")
