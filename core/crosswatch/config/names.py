"""The on-disk name of a pair: its baseline, settled and lock files are named after it."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def pair_slug(name: str) -> str:
    """The part of a pair's state file names that comes from ``name`` (``"pair"`` if nothing is left).

    Fixed for good: existing state files are found by it. Two pairs whose slugs differ only in
    case share files on a case-insensitive file system, so the config refuses them.
    """
    return _UNSAFE.sub("-", name).strip("-.") or "pair"
