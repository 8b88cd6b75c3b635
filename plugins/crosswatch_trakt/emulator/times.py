"""Time as the emulator keeps it (epoch milliseconds) and as Trakt writes it (ISO 8601, ``Z``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    """``2014-03-31T09:28:53.000Z`` (Trakt's format, millisecond precision)."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def iso_s(seconds: float) -> str:
    """``2026-10-10T00:24:00Z`` (second precision, as in ``X-Ratelimit``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def parse_iso(value: object) -> int | None:
    """Epoch milliseconds of an ISO 8601 date or datetime (``Z``, offset or naive = UTC); None if unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
