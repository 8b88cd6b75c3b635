"""Cron expressions (5 fields, or @hourly/@daily/@weekly/@monthly/@yearly) in a time zone."""

from __future__ import annotations

import os
import zoneinfo
from datetime import datetime, tzinfo
from pathlib import Path

from cronsim import CronSim, CronSimError

from crosswatch.errors import CrosswatchError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class CronError(CrosswatchError, ValueError):
    """An expression that can never fire or does not parse."""


FIELDS = "minute hour day-of-month month day-of-week"


def parse_cron(expr: str) -> str:
    """Return the 5-field form of ``expr``; raise CronError if it is invalid."""
    expr = ALIASES.get(expr.strip().lower(), expr.strip())
    if expr.startswith("@"):
        raise CronError(f"unknown alias; use one of {', '.join(ALIASES)}")
    count = len(expr.split())
    if count != 5:
        # cronsim reads a 6th field as seconds (the job would run every second): never accept one
        extra = " (a seconds or year field is not supported)" if count > 5 else ""
        raise CronError(f"expected 5 fields ({FIELDS}) or an @ alias, got {count}{extra}")
    try:
        CronSim(expr, datetime(2000, 1, 1, tzinfo=zoneinfo.ZoneInfo("UTC")))
    except CronSimError as exc:
        raise CronError(str(exc)) from None
    return expr


def next_fire(expr: str, after: datetime) -> datetime:
    """The first slot of ``expr`` strictly after ``after`` (an aware datetime, in the job's zone)."""
    return next(CronSim(parse_cron(expr), after))


def system_timezone() -> tzinfo:
    """The system's zone: $TZ, else the /etc/localtime link, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            candidates.append(link.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    timezone_file = Path("/etc/timezone")
    if timezone_file.is_file():
        candidates.append(timezone_file.read_text().strip())
    for name in candidates:
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def zone(name: str, default: tzinfo | None = None) -> tzinfo:
    """The named zone, or ``default`` (else the system's) for an empty name."""
    if name:
        return zoneinfo.ZoneInfo(name)
    return default or system_timezone()
