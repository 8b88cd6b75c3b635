"""The guards of a sync, on by default: an outage never removes, a mass removal needs a yes.

- A side that is read as a source and returns nothing, or far fewer items than at the last
  sync (``sync.min_source_ratio``), looks like an outage or a wrong account: the feature is
  refused (``--allow-shrink`` runs it once).
- A plan that would remove more than ``sync.max_remove_ratio`` of a side's items (and more
  than one) is refused (``--allow-removals`` runs it once).
"""

from __future__ import annotations

from datetime import UTC, datetime

from crosswatch.config.schema import SyncConfig
from crosswatch.sync.baseline import Baseline
from crosswatch.sync.diff import Changes, Side


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def shrink_refusal(
    pair: str, feature: str, sources: list[Side], baseline: Baseline | None, settings: SyncConfig
) -> str:
    """Why the read of a source side looks like an outage ("" when it does not)."""
    if baseline is None:
        return ""
    for side in sources:
        before = len(baseline.sides.get(side.name, []))
        now = len(side.items)
        if before and now < settings.min_source_ratio * before:
            return (
                f"{side.name} {feature} read {now} items, {before} at the last sync ({_when(baseline.synced_at)}): "
                f"this looks like an outage or another account, so nothing of {feature} was written. If it is "
                f"real, run `crosswatch sync run {pair} --feature {feature} --allow-shrink` once"
            )
    return ""


def removal_refusal(
    pair: str, feature: str, changes: list[Changes], sides: dict[str, Side], settings: SyncConfig
) -> str:
    """Why the removals of a plan are too many ("" when they are not)."""
    for change in changes:
        held = len(sides[change.target].items)
        if len(change.remove) > 1 and len(change.remove) > settings.max_remove_ratio * held:
            share = len(change.remove) / held if held else 1.0
            return (
                f"the plan would remove {len(change.remove)} of {held} {feature} items ({share:.0%}) from "
                f"{change.target}, more than sync.max_remove_ratio ({settings.max_remove_ratio:.0%}), so nothing of "
                f"{feature} was written. Check with `crosswatch sync plan {pair} --feature {feature}`; to allow it "
                f"once, run `crosswatch sync run {pair} --feature {feature} --allow-removals`"
            )
    return ""
