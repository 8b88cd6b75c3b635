"""Helpers shared by the commands: config dir, plugin host, printing."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosswatch.config import config_dir_from
from crosswatch.errors import describe, fault_lines, unexpected

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


def fail(error: BaseException | str) -> int:
    """Print ``crosswatch: <message>`` on stderr (a line per line of the message); exit code 1."""
    lines = describe(error) if isinstance(error, BaseException) else error.splitlines() or [error]
    for line in lines:
        print(f"crosswatch: {line}", file=sys.stderr)
    return 1


def quiet_logging(args: Any) -> None:
    """Plugin-load errors are shown by the commands themselves; keep log lines for -v."""
    from crosswatch import logging as cw_logging

    cw_logging.configure(args.log_format or "console", "debug" if args.verbose else "critical")


def report(exc: Exception, *, verbose: bool) -> int:
    """Tell a command's failure on stderr; exit code 1 (see :mod:`crosswatch.errors`).

    A fault is one line per distinct message; anything else is a bug, one ``internal error``
    line naming its type. ``verbose`` (``-v``) prints the traceback first.
    """
    if verbose:
        traceback.print_exception(exc)
    lines = fault_lines(exc)
    if lines is not None:
        for line in lines:
            fail(line)
        return 1
    bug = unexpected(exc)
    message = " ".join(str(bug).split())
    said = f"{type(bug).__name__}: {message}" if message else type(bug).__name__
    frames = traceback.extract_tb(bug.__traceback__)
    if frames:  # where it was raised: often a plugin's file, which tells whom to ask
        said += f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})"
    return fail(f"internal error: {said}" + ("" if verbose else " (run with -v to see the traceback)"))


def run(args: Any, work: Callable[[], Any]) -> int:
    """``work()``'s exit code; a failure goes on to :func:`crosswatch.cli.main`, which reports it."""
    from crosswatch import progress

    with progress.wanted(not getattr(args, "no_progress", False)):
        return int(work() or 0)


def ask(question: str, yes: bool) -> bool:
    """True with ``--yes``; else ask on a terminal; refuse when there is none."""
    if yes:
        return True
    if not sys.stdin.isatty():
        print("crosswatch: refusing to write without --yes (no terminal to ask on)", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
