"""What a restore would do: pure functions over the captured and the present items.

``merge`` adds what is missing and fixes changed values (a changed rating, a different
resume position); ``clear`` removes everything present, then adds everything captured.
History is compared per title as plays: where the provider keeps ``watched_at``, a captured
play is missing when no present play of the title has its time; where it records "now"
(Plex), only the number of plays per title can be restored.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crosswatch.model import Feature, Item, title_key
from crosswatch.provider import FeatureSupport


def by_type(items: Iterable[Item]) -> dict[str, int]:
    return dict(sorted(Counter(str(i.type) for i in items).items()))


@dataclass
class RestorePlan:
    """The writes a restore of one feature would make."""

    provider: str
    profile: str
    feature: str
    mode: str
    add: list[Item] = field(default_factory=list)
    update: list[Item] = field(default_factory=list)  # written like adds: they replace a value
    remove: list[Item] = field(default_factory=list)
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.add or self.update or self.remove)

    def counts(self) -> dict[str, dict[str, int]]:
        return {"remove": by_type(self.remove), "add": by_type(self.add), "update": by_type(self.update)}

    def to_json(self, verbose: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "provider": self.provider,
            "profile": self.profile,
            "feature": self.feature,
            "mode": self.mode,
            "counts": self.counts(),
            "unchanged": self.unchanged,
            "notes": self.notes,
        }
        if verbose:
            for name in ("remove", "add", "update"):
                out[name] = [describe(i) for i in getattr(self, name)]
        return out


def describe(item: Item) -> str:
    """A short line naming one item for a person."""
    if item.show_title or item.season is not None:
        what = f"{item.show_title or '?'} S{item.season or 0:02d}" + (
            f"E{item.episode:02d}" if item.episode is not None else ""
        )
    else:
        what = f"{item.title or '?'}" + (f" ({item.year})" if item.year else "")
    value = next(
        (
            f"{name}={getattr(item, name)}"
            for name in ("rating", "watched_at", "progress", "progress_ms", "listed_at")
            if getattr(item, name) is not None
        ),
        "",
    )
    return f"{item.type} {what} [{title_key(item)}]" + (f" {value}" if value else "")


def plan_restore(
    provider: str,
    profile: str,
    feature: Feature,
    captured: list[Item],
    current: list[Item],
    mode: str,
    support: FeatureSupport,
) -> RestorePlan:
    plan = RestorePlan(provider, profile, str(feature), mode)
    if mode == "clear":
        plan.remove = list(current)
        plan.add = list(captured)
    elif feature == Feature.HISTORY:
        _plan_plays(plan, captured, current, support)
    else:
        present = {title_key(i): i for i in current}
        for item in captured:
            have = present.get(title_key(item))
            if have is None:
                plan.add.append(item)
            elif _changed(feature, item, have):
                plan.update.append(item)
            else:
                plan.unchanged += 1
    if feature == Feature.HISTORY and support.writes_now and plan.add:
        plan.notes.append(
            f"{provider} records a written play at the time it is written: "
            f"{len(plan.add)} restored plays get today's date instead of the captured one"
        )
    return plan


def _changed(feature: Feature, captured: Item, present: Item) -> bool:
    if feature == Feature.RATINGS:
        return captured.rating != present.rating
    if feature == Feature.PROGRESS:
        if captured.progress_ms is not None and present.progress_ms is not None:
            return abs(captured.progress_ms - present.progress_ms) > 1000
        return captured.progress is not None and (
            present.progress is None or abs(captured.progress - present.progress) > 0.5
        )
    return False


def _second(stamp: str | None) -> str:
    """``2024-01-01T20:00:00.000Z`` and ``2024-01-01T20:00:00Z`` are the same play time."""
    return (stamp or "")[:19]


def _plan_plays(plan: RestorePlan, captured: list[Item], current: list[Item], support: FeatureSupport) -> None:
    present: dict[str, list[str]] = defaultdict(list)
    for play in current:
        present[title_key(play)].append(_second(play.watched_at))
    wanted: dict[str, list[Item]] = defaultdict(list)
    for play in captured:
        wanted[title_key(play)].append(play)
    for key, plays in wanted.items():
        have = present.get(key, [])
        if support.keeps_watched_at:
            times = Counter(have)
            for play in sorted(plays, key=lambda p: p.watched_at or ""):
                stamp = _second(play.watched_at)
                if times[stamp] > 0:
                    times[stamp] -= 1
                    plan.unchanged += 1
                else:
                    plan.add.append(play)
        else:
            missing = max(0, len(plays) - len(have))
            plan.add.extend(sorted(plays, key=lambda p: p.watched_at or "")[len(plays) - missing :])
            plan.unchanged += len(plays) - missing
