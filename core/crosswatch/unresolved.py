"""Frozen items: what a provider could not match or write, kept with the reason.

``<provider>_<feature>.unresolved.json`` under ``.cw_state/`` (e.g. ``trakt_history.unresolved.json``)
so an item is not retried on every run; ``crosswatch unresolved list|clear`` shows and
releases them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from crosswatch.model import Item, item_key
from crosswatch.state import StateDir

SUFFIX = ".unresolved.json"


def unresolved_name(prefix: str, feature: str) -> str:
    return f"{prefix}_{feature}{SUFFIX}"


class UnresolvedStore:
    """The unresolved files of one provider profile (file prefix ``trakt``, ``trakt-kids``, ...)."""

    def __init__(self, state: StateDir, prefix: str) -> None:
        self.state = state
        self.prefix = prefix

    def load(self, feature: str) -> dict[str, dict[str, Any]]:
        return self.state.read_json(unresolved_name(self.prefix, feature), {})

    def freeze(self, feature: str, entries: Iterable[tuple[Item, str]]) -> int:
        """Add items with their reasons; returns how many were new."""
        entries = list(entries)
        if not entries:
            return 0
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        added = 0

        def update(current: dict[str, Any]) -> dict[str, Any]:
            nonlocal added
            for item, reason in entries:
                key = item_key(item)
                if key not in current:
                    added += 1
                    current[key] = {"item": msgspec.to_builtins(item), "reason": reason, "since": now, "seen": 1}
                else:
                    current[key].update(reason=reason, seen=current[key].get("seen", 1) + 1)
            return current

        self.state.update_json(unresolved_name(self.prefix, feature), update, {})
        return added

    def split(self, feature: str, items: Sequence[Item]) -> tuple[list[Item], list[Item]]:
        """(items to try, items frozen earlier)."""
        frozen = self.load(feature)
        if not frozen:
            return list(items), []
        todo, skip = [], []
        for item in items:
            (skip if item_key(item) in frozen else todo).append(item)
        return todo, skip

    def release(self, feature: str, keys: Iterable[str] | None = None) -> int:
        """Forget frozen items (all of the feature, or those keys); returns how many."""
        released = 0
        wanted = set(keys) if keys is not None else None

        def update(current: dict[str, Any]) -> dict[str, Any]:
            nonlocal released
            drop = [k for k in current if wanted is None or k in wanted]
            for key in drop:
                del current[key]
            released = len(drop)
            return current

        self.state.update_json(unresolved_name(self.prefix, feature), update, {})
        return released


def list_unresolved(state: StateDir) -> list[dict[str, Any]]:
    """Every frozen item of every provider, for ``crosswatch unresolved list``."""
    rows = []
    if not state.path.is_dir():
        return rows
    for path in sorted(state.path.glob("*" + SUFFIX)):
        prefix, _, feature = path.name[: -len(SUFFIX)].rpartition("_")
        for key, entry in state.read_json(path.name, {}).items():
            rows.append({"file": path.name, "provider": prefix, "feature": feature, "key": key, **entry})
    return rows
