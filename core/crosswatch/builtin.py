"""Core's own hookimpls: the defaults that plugins may override with ``tryfirst=True``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from crosswatch import hookimpl
from crosswatch.captures.plan import RestorePlan, plan_restore
from crosswatch.model import Feature, Item
from crosswatch.provider import FeatureSupport

if TYPE_CHECKING:
    from crosswatch.captures.format import Capture
    from crosswatch.captures.store import CaptureRef
    from crosswatch.config.schema import CaptureSchedule

#: the fields of an item that a compare reports per feature (history is compared as plays)
COMPARED_FIELDS = {
    Feature.WATCHLIST: ("title", "year"),
    Feature.RATINGS: ("rating",),
    Feature.HISTORY: (),
    Feature.PROGRESS: ("progress_ms",),
}


@hookimpl(trylast=True)
def crosswatch_compare_item(feature: Feature, old: Item, new: Item) -> dict[str, tuple[object, object]]:
    """Field-level changes of one title between two captures."""
    changes: dict[str, tuple[object, object]] = {}
    fields = COMPARED_FIELDS.get(Feature(feature), ())
    if Feature(feature) == Feature.PROGRESS and (old.progress_ms is None or new.progress_ms is None):
        fields = ("progress",)  # a provider that keeps only the percent watched (Trakt)
    for name in fields:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes[name] = (before, after)
    return changes


@hookimpl(trylast=True)
def crosswatch_restore_plan(capture: Capture, current: list[Item], mode: str, support: FeatureSupport) -> RestorePlan:
    """Merge adds what is missing and fixes changed values; clear removes all, then adds all."""
    feature = Feature(capture.feature)
    return plan_restore(capture.provider, capture.profile, feature, capture.items, current, mode, support)


@hookimpl(trylast=True)
def crosswatch_retention_select(captures: Sequence[CaptureRef], policy: CaptureSchedule) -> list[CaptureRef]:
    """Captures (newest first, each with ``.created``) beyond ``max_keep`` or older than ``keep_days``."""
    now = datetime.now(UTC)
    doomed = []
    for index, capture in enumerate(captures):
        too_many = policy.max_keep and index >= policy.max_keep
        too_old = policy.keep_days and now - capture.created > timedelta(days=policy.keep_days)
        if too_many or too_old:
            doomed.append(capture)
    return doomed
