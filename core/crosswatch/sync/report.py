"""What one run of a pair did: per feature and direction, counts by media type and the items
that were not written (with why), for the summary, the run history and ``--json``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from crosswatch.model import Feature, Item
from crosswatch.sync.diff import FeaturePlan

ACTIONS = ("added", "updated", "removed", "failed", "unresolved")


@dataclass
class Tally:
    """Per media type: what one direction of one feature did."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)  # action -> media type -> n
    problems: list[tuple[Item, str, str]] = field(default_factory=list)  # item, failed|unresolved, why
    frozen: int = 0  # unresolved because frozen by an earlier run (not tried again)

    def count(self, action: str, items: list[Item]) -> None:
        bucket = self.counts.setdefault(action, Counter())
        for item in items:
            bucket[str(item.type)] += 1


@dataclass
class SyncReport:
    pair: str
    mode: str
    dry_run: bool
    plans: list[FeaturePlan] = field(default_factory=list)
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)  # (feature, target) -> tally
    safety: list[str] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0

    @property
    def refused(self) -> list[str]:
        return [p.refused for p in self.plans if p.refused]

    @property
    def ok(self) -> bool:
        failed = any(t.counts.get("failed") for t in self.tallies.values())
        return not failed and not self.refused

    def tally(self, feature: Feature, target: str) -> Tally:
        return self.tallies.setdefault((str(feature), target), Tally())


def summary_rows(report: SyncReport) -> list[dict[str, Any]]:
    """One row per feature, direction and media type: added, updated, removed, failed, unresolved."""
    rows = []
    for (feature, target), tally in sorted(report.tallies.items()):
        kinds = sorted({k for c in tally.counts.values() for k in c})
        for kind in kinds:
            row: dict[str, Any] = {"feature": feature, "target": target, "type": kind}
            row.update({a: tally.counts.get(a, Counter()).get(kind, 0) for a in ACTIONS})
            rows.append(row)
    return rows
