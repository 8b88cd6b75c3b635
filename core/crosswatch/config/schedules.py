"""Writing ``schedules.toml``, the machine-managed half of the config (tomli-w, atomically)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec
import tomli_w

from crosswatch.config.load import SCHEDULES_FILE
from crosswatch.config.schema import CaptureSchedule
from crosswatch.state import atomic_write_bytes, refuse_foreign_owner

HEADER = b"# Managed by crosswatch (`crosswatch capture schedule ...`); edit config.toml instead.\n\n"


def write_schedules(config_dir: Path, schedules: Sequence[CaptureSchedule]) -> Path:
    """Replace the capture schedules in ``schedules.toml`` with ``schedules``."""
    entries = [msgspec.to_builtins(s) for s in schedules]
    data = HEADER + tomli_w.dumps({"captures": {"schedules": entries}}).encode()
    path = Path(config_dir) / SCHEDULES_FILE
    refuse_foreign_owner(path.parent)
    atomic_write_bytes(path, data, mode=0o644)
    return path
