"""Helpers shared by the commands: config dir, plugin host, printing."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
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


def faults() -> tuple[type[BaseException], ...]:
    """The faults a command reports as one line and exit 1 (those of modules it imported)."""
    found: list[type[BaseException]] = [ConfigError, OSError]
    for module, name in (
        ("crosswatch.state", "StateError"),
        ("crosswatch.captures.format", "CaptureError"),
        ("crosswatch.sync.pairs", "PairError"),
        ("crosswatch.sync.planfile", "PlanError"),
        ("crosswatch.guard", "GuardError"),
        ("crosswatch.http", "HttpError"),
        ("crosswatch.profiles", "ProfileError"),
    ):
        loaded = sys.modules.get(module)
        if loaded is not None:
            found.append(getattr(loaded, name))
    return tuple(found)


def run(args: Any, work: Callable[[], Any]) -> int:
    """``work()``'s exit code; a known fault is one line on stderr and exit 1."""
    try:
        return int(work() or 0)
    except Exception as exc:
        if isinstance(exc, faults()):
            return fail(str(exc))
        raise


def ask(question: str, yes: bool) -> bool:
    """True with ``--yes``; else ask on a terminal; refuse when there is none."""
    if yes:
        return True
    if not sys.stdin.isatty():
        print("crosswatch: refusing to write without --yes (no terminal to ask on)", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
