"""Provider tools: clear a feature of a provider profile, with a safety capture first.

Before anything is removed the tool publishes ``ToolStarting`` and waits for every
subscriber (the rating-scrobble listeners pause for that provider profile); afterwards it
publishes ``ToolFinished``, and the listeners drop the echoes of the clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog

from crosswatch.captures.create import write_captures
from crosswatch.captures.format import ALL, CaptureError
from crosswatch.captures.plan import by_type, describe
from crosswatch.events import ToolStarting
from crosswatch.jobs import JobContext
from crosswatch.model import Feature, Item, item_key
from crosswatch.profiles import Profile, ProfileError, opened
from crosswatch.unresolved import FROZEN_REASON

log = structlog.get_logger("crosswatch.captures")


@dataclass
class ClearReport:
    provider: str
    profile: str
    feature: str
    found: dict[str, dict[str, int]] = field(default_factory=dict)
    removed: dict[str, dict[str, int]] = field(default_factory=dict)
    failed: list[tuple[Item, str]] = field(default_factory=list)
    safety: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "profile": self.profile,
            "feature": self.feature,
            "dry_run": self.dry_run,
            "found": self.found,
            "removed": self.removed,
            "failed": [{"item": describe(i), "reason": r} for i, r in self.failed],
            "safety_captures": self.safety,
        }


def clearable(target: Profile, feature: str) -> list[Feature]:
    """The features a clear of ``feature`` (or ``all``) touches; CaptureError if the tool is disabled."""
    if feature == ALL:
        features = target.features("clear")
        if not features:
            raise CaptureError(f"{target.name} cannot clear any feature")
        return features
    wanted = Feature(feature)
    support = target.support(wanted)
    if support is None or not (support.clear and support.remove):
        note = f" ({support.note})" if support is not None and support.note else ""
        raise CaptureError(f"Clear {wanted} is disabled for {target.name}: the provider cannot clear it{note}")
    return [wanted]


async def clear_feature(
    ctx: JobContext, provider: str, feature: str, *, profile: str | None = None, dry_run: bool = False
) -> ClearReport:
    try:
        target = ctx.profile(provider, profile)
    except ProfileError as exc:
        raise CaptureError(str(exc)) from None
    features = clearable(target, feature)
    report = ClearReport(target.provider, target.profile, feature, dry_run=dry_run)
    if dry_run:
        return await _clear(ctx, target, features, report)
    subject = {"provider": target.provider, "profile": target.profile, "feature": feature}
    async with ctx.recorded(f"clear:{target.name}:{feature}", "clear", **subject) as recording:
        try:
            return await _clear(ctx, target, features, report)
        finally:
            recording.safety = list(report.safety)
            recording.counts = {"removed": sum(n for by in report.removed.values() for n in by.values())}
            recording.counts["failed"] = len(report.failed)
            recording.summary = [{"feature": f, **by} for f, by in report.removed.items()]
            recording.problems = [
                {"feature": report.feature, "item": describe(item), "key": item_key(item), "kind": "failed", "why": why}
                for item, why in report.failed
            ]
            if report.failed:
                recording.result = "failed"
                recording.error = f"{len(report.failed)} item(s) could not be removed"


async def _clear(ctx: JobContext, target: Profile, features: list[Feature], report: ClearReport) -> ClearReport:
    feature = report.feature
    dry_run = report.dry_run
    async with opened(target, ctx.state, ctx.bus) as instance:
        current: dict[Feature, list[Item]] = {}
        for one in features:
            ctx.say(f"reading {target.name} {one}...")
            current[one] = await instance.read(one)
            report.found[one.value] = by_type(current[one])
        if dry_run or not any(current.values()):
            return report
        safety = await write_captures(
            ctx, target, feature, current, label=f"safety-before-clear-{feature}", kind="safety", reason="tools clear"
        )
        report.safety = [s.rel for s in safety]
        for one, items in current.items():
            if not items:
                continue
            async with ctx.guarded(ToolStarting(target.provider, target.profile, one.value, "clear")) as outcome:
                ctx.say(f"removing {len(items)} {one} items from {target.name}...")
                result = await instance.remove(one, items)
                report.removed[one.value] = by_type(result.ok)
                report.failed += result.failed + result.unresolved + [(i, FROZEN_REASON) for i in result.frozen]
                outcome.ok = not result.failed
    log.info("tools.cleared", provider=target.name, feature=feature, removed=report.removed, failed=len(report.failed))
    return report
