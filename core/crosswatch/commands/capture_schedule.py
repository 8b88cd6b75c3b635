"""``crosswatch capture schedule add|list|remove``: capture schedules kept in ``schedules.toml``.

``config.toml`` is never rewritten; the running daemon picks changes up through its config
watcher (or SIGHUP).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from crosswatch.captures.format import CaptureError
from crosswatch.commands.capture import context
from crosswatch.commands.common import config_dir, plugin_host, print_json, quiet_logging, run
from crosswatch.config import ConfigError, load_config, write_schedules
from crosswatch.config.load import SCHEDULES_FILE, read_toml
from crosswatch.config.schema import CaptureSchedule
from crosswatch.cron import next_fire
from crosswatch.scheduler import jobs_from_config
from crosswatch.state import atomic_write_bytes

if TYPE_CHECKING:
    from crosswatch.jobs import JobContext


def managed(folder: Path) -> list[CaptureSchedule]:
    """The schedules in ``schedules.toml`` (not those of ``config.toml``)."""
    raw, _ = read_toml(folder / SCHEDULES_FILE, required=False)
    entries = raw.get("captures", {}).get("schedules", []) if isinstance(raw.get("captures"), dict) else []
    return msgspec.convert(entries, list[CaptureSchedule])


def _replace(folder: Path, schedules: list[CaptureSchedule]) -> None:
    """Write ``schedules.toml`` and check the whole config; put the old file back if it fails."""
    path = folder / SCHEDULES_FILE
    before = path.read_bytes() if path.exists() else None
    write_schedules(folder, schedules)
    try:
        load_config(folder, plugin_host(folder).sections())
    except ConfigError:
        if before is None:
            path.unlink()
        else:
            atomic_write_bytes(path, before, mode=0o644)
        raise


def add_schedule(ctx: JobContext, provider: str, profile: str | None, **fields: Any) -> CaptureSchedule:
    """Add a capture schedule to ``schedules.toml`` (``capture schedule add`` and the dashboard).

    ``fields``: CaptureSchedule's (cron, feature, name, ...). CaptureError or ConfigError, nothing
    written, when it cannot be one.
    """
    folder = ctx.config.config_dir
    target = ctx.profile(provider, profile)
    section = target.spec.section + ("" if target.profile == "default" else f".{target.profile}")
    entry = CaptureSchedule(provider=section, **fields)
    if entry.keep_days < 0 or entry.max_keep < 0:
        raise CaptureError("--keep-days and --max-keep must not be negative")
    if any(s.job_name == entry.job_name for s in ctx.config.captures.schedules):
        raise CaptureError(f"a capture schedule named {entry.job_name!r} exists; choose another --name")
    _replace(folder, [*managed(folder), entry])
    return entry


def cmd_add(args: argparse.Namespace) -> int:
    def work() -> int:
        ctx = context(args)
        folder = ctx.config.config_dir
        entry = add_schedule(
            ctx,
            args.provider,
            args.profile,
            cron=args.cron,
            feature=args.feature,
            name=args.name,
            timezone=args.timezone,
            label_template=args.label_template,
            keep_days=args.keep_days,
            max_keep=args.max_keep,
            cleanup=not args.no_cleanup,
        )
        print(f"added capture schedule {entry.job_name!r} ({entry.cron}) to {folder / SCHEDULES_FILE}")
        print("a running daemon picks it up by itself (config watcher); `crosswatch capture schedule list` shows it")
        return 0

    return run(args, work)


def cmd_list(args: argparse.Namespace) -> int:
    def work() -> int:
        quiet_logging(args)
        folder = config_dir(args)
        config = load_config(folder, plugin_host(folder).sections())
        ours = {s.job_name for s in managed(folder)}
        now = datetime.now(UTC)
        nexts = {j.name: next_fire(j.cron, now.astimezone(j.tz)).isoformat() for j in jobs_from_config(config)}
        rows = [
            {
                **msgspec.to_builtins(s),
                "name": s.job_name,
                "file": SCHEDULES_FILE if s.job_name in ours else "config.toml",
                "next": nexts.get(s.job_name),
            }
            for s in config.captures.schedules
        ]
        if args.json:
            print_json(rows)
            return 0
        if not rows:
            print("no capture schedules")
        for r in rows:
            keep = []
            if r["keep_days"]:
                keep.append(f"{r['keep_days']} days")
            if r["max_keep"]:
                keep.append(f"newest {r['max_keep']}")
            retention = ("keep " + ", ".join(keep)) if keep and r["cleanup"] else "no pruning"
            state = "" if r["enabled"] else " (disabled)"
            print(
                f"{r['name']:<24} {r['provider']} {r['feature']:<9} {r['cron']:<14} next {r['next'] or '-'}  "
                f"{retention}  [{r['file']}]{state}"
            )
        return 0

    return run(args, work)


def cmd_remove(args: argparse.Namespace) -> int:
    def work() -> int:
        quiet_logging(args)
        folder = config_dir(args)
        current = managed(folder)
        left = [s for s in current if s.job_name != args.name]
        if len(left) == len(current):
            config = load_config(folder, plugin_host(folder).sections())
            if any(s.job_name == args.name for s in config.captures.schedules):
                raise CaptureError(
                    f"schedule {args.name!r} is in config.toml; crosswatch never rewrites it: edit it there"
                )
            raise CaptureError(f"no capture schedule named {args.name!r}")
        _replace(folder, left)
        print(f"removed capture schedule {args.name!r}; captures it made are kept")
        return 0

    return run(args, work)
