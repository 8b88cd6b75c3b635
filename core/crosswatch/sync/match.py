"""One title on the other side: items grouped by every strong id they carry (no fuzzy titles)."""

from __future__ import annotations

from collections.abc import Iterable

from crosswatch.model import Item, match_key_list


class TitleIndex:
    """Items of one side grouped by title; a title is found by any strong id it shares.

    A group holds every item of one title (several plays, for history).
    """

    def __init__(self, items: Iterable[Item] = ()) -> None:
        self._group: dict[tuple, int] = {}
        self.groups: list[list[Item]] = []
        for item in items:
            self.add(item)

    def add(self, item: Item) -> int:
        keys = match_key_list(item)
        known = self._group
        group = None
        for key in keys:
            group = known.get(key)
            if group is not None:
                break
        if group is None:
            group = len(self.groups)
            self.groups.append([])
        self.groups[group].append(item)
        for key in keys:
            known.setdefault(key, group)
        return group

    def group_of(self, item: Item) -> int | None:
        """The group of ``item``'s title, or None when this side does not hold it."""
        known = self._group
        for key in match_key_list(item):
            found = known.get(key)
            if found is not None:
                return found
        return None

    def find(self, item: Item) -> Item | None:
        """The first item of ``item``'s title on this side."""
        group = self.group_of(item)
        return self.groups[group][0] if group is not None and self.groups[group] else None

    def __contains__(self, item: Item) -> bool:
        return self.group_of(item) is not None

    def __len__(self) -> int:
        return sum(len(g) for g in self.groups)
