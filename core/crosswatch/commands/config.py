"""``crosswatch config check``."""

from __future__ import annotations

import argparse
import sys

from crosswatch.commands.common import (
    config_dir,
    plugin_host,
    print_json,
    quiet_logging,
)
from crosswatch.config import ConfigError, load_config
from crosswatch.scheduler import jobs_from_config


def cmd_check(args: argparse.Namespace) -> int:
    quiet_logging(args)
    folder = config_dir(args)
    host = plugin_host(folder)
    plugin_errors = [f"plugin {i.name} ({i.origin}): {i.error}" for i in host.plugins.values() if i.status == "failed"]
    try:
        config = load_config(folder, host.sections())
    except ConfigError as exc:
        if args.json:
            print_json({"ok": False, "errors": [str(i) for i in exc.issues], "plugin_errors": plugin_errors})
        else:
            for issue in exc.issues:
                print(f"error: {issue}", file=sys.stderr)
            for line in plugin_errors:
                print(f"warning: {line}", file=sys.stderr)
        return 1
    jobs = jobs_from_config(config)
    if args.json:
        print_json(
            {
                "ok": True,
                "warnings": [str(w) for w in config.warnings],
                "plugin_errors": plugin_errors,
                "sections": sorted(config.sections),
                "pairs": [p.name for p in config.pairs],
                "jobs": [{"job": j.id, "cron": j.cron, "tz": str(j.tz)} for j in jobs],
            }
        )
        return 0
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for line in plugin_errors:
        print(f"warning: {line}", file=sys.stderr)
    counts = ", ".join(
        _count(n, what)
        for n, what in (
            (len(config.pairs), "pair"),
            (len(config.captures.schedules), "capture schedule"),
            (len(jobs), "scheduled job"),
        )
    )
    print(f"{folder}: config OK ({counts}; sections: {', '.join(sorted(config.sections)) or 'none'})")
    return 0


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"
