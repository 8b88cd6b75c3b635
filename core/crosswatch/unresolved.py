"""Frozen items: what a provider could not match or write, kept with the reason.

``<provider>_<feature>.unresolved.json`` under ``.cw_state/`` (e.g. ``trakt_history.unresolved.json``)
so an item is not retried on every run; ``crosswatch unresolved list|clear`` shows and
releases them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from crosswatch.model import Item, item_key
from crosswatch.state import StateDir

#: why an item was not tried: an earlier run froze it (``WriteResult.frozen``)
FROZEN_REASON = "frozen on the target earlier (crosswatch unresolved list)"

SUFFIX = ".unresolved.json"
#: what happens when an unresolved file is damaged (it is moved aside and reported)
WITHOUT = "its items are not frozen any more (a run freezes again those that still fail)"


class Frozen(msgspec.Struct, kw_only=True):
    """One frozen item: the item, why it was frozen, since when, and how many runs met it."""

    item: Item
    reason: str
    since: str
    seen: int = 1


#: the shape of an unresolved file: item key -> its entry
Entries = dict[str, Frozen]


def unresolved_name(prefix: str, feature: str) -> str:
    return f"{prefix}_{feature}{SUFFIX}"


class UnresolvedStore:
    """The unresolved files of one provider profile (file prefix ``trakt``, ``trakt-kids``, ...)."""

    def __init__(self, state: StateDir, prefix: str) -> None:
        self.state = state
        self.prefix = prefix

    def load(self, feature: str) -> Entries:
        """The frozen items of ``feature`` (none when the file is missing, or damaged: moved aside)."""
        return self.state.read_json_or_default(unresolved_name(self.prefix, feature), {}, type=Entries, instead=WITHOUT)

    def _update(self, feature: str, update: Callable[[Entries], Entries]) -> None:
        name = unresolved_name(self.prefix, feature)
        self.state.update_json_or_default(name, update, {}, type=Entries, instead=WITHOUT)

    def freeze(self, feature: str, entries: Iterable[tuple[Item, str]]) -> int:
        """Add items with their reasons; returns how many were new."""
        entries = list(entries)
        if not entries:
            return 0
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        added = 0

        def update(current: Entries) -> Entries:
            nonlocal added
            for item, reason in entries:
                key = item_key(item)
                if key not in current:
                    added += 1
                    current[key] = Frozen(item=item, reason=reason, since=now)
                else:
                    current[key].reason = reason
                    current[key].seen += 1
            return current

        self._update(feature, update)
        return added

    def split(self, feature: str, items: Sequence[Item]) -> tuple[list[Item], list[Item]]:
        """(items to try, items frozen earlier)."""
        frozen = self.load(feature)
        if not frozen:
            return list(items), []
        todo: list[Item] = []
        skip: list[Item] = []
        for item in items:
            (skip if item_key(item) in frozen else todo).append(item)
        return todo, skip

    def release(self, feature: str, keys: Iterable[str] | None = None) -> int:
        """Forget frozen items (all of the feature, or those keys); returns how many."""
        released = 0
        wanted = set(keys) if keys is not None else None

        def update(current: Entries) -> Entries:
            nonlocal released
            drop = [k for k in current if wanted is None or k in wanted]
            for key in drop:
                del current[key]
            released = len(drop)
            return current

        self._update(feature, update)
        return released


def list_unresolved(state: StateDir) -> list[dict[str, Any]]:
    """Every frozen item of every provider, for ``crosswatch unresolved list`` (damaged files: set aside)."""
    rows: list[dict[str, Any]] = []
    if not state.path.is_dir():
        return rows
    for path in sorted(state.path.glob("*" + SUFFIX)):
        prefix, _, feature = path.name[: -len(SUFFIX)].rpartition("_")
        entries: Entries = state.read_json_or_default(path.name, {}, type=Entries, instead=WITHOUT)
        for key, entry in entries.items():
            row = {"file": path.name, "provider": prefix, "feature": feature, "key": key}
            rows.append(row | msgspec.to_builtins(entry))
    return rows
