"""Restoring a capture into its provider profile: plan first, a safety capture before a clear, then write.

A restore refuses a capture of another provider, a damaged or hand-edited file (checksum),
and a format it does not know. A bundle restores each child feature in the chosen mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from crosswatch import journal
from crosswatch.captures.create import write_captures
from crosswatch.captures.format import ALL, CaptureError, header_of
from crosswatch.captures.plan import RestorePlan, by_type, describe
from crosswatch.events import RestoreStarting
from crosswatch.jobs import JobContext
from crosswatch.model import Feature, Item, item_key
from crosswatch.profiles import Profile, ProfileError, opened
from crosswatch.provider import Provider, WriteResult
from crosswatch.recording import Recording
from crosswatch.unresolved import FROZEN_REASON

log = structlog.get_logger("crosswatch.captures")
MODES = ("merge", "clear")


@dataclass
class FeatureOutcome:
    """What one feature's restore did."""

    plan: RestorePlan
    added: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[Item, str]] = field(default_factory=list)
    unresolved: list[tuple[Item, str]] = field(default_factory=list)

    def to_json(self, verbose: bool = False) -> dict[str, Any]:
        return {
            "plan": self.plan.to_json(verbose),
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "failed": [{"item": describe(i), "reason": r} for i, r in self.failed],
            "unresolved": [{"item": describe(i), "reason": r} for i, r in self.unresolved],
        }


@dataclass
class RestoreReport:
    capture: str
    provider: str
    profile: str
    mode: str
    dry_run: bool
    features: list[FeatureOutcome] = field(default_factory=list)
    safety: list[str] = field(default_factory=list)  # safety captures taken first
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not any(f.failed for f in self.features)

    def to_json(self, verbose: bool = False) -> dict[str, Any]:
        return {
            "capture": self.capture,
            "provider": self.provider,
            "profile": self.profile,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "safety_captures": self.safety,
            "features": [f.to_json(verbose) for f in self.features],
        }


async def restore_capture(
    ctx: JobContext,
    ref: str,
    mode: str,
    *,
    provider: str | None = None,
    profile: str | None = None,
    dry_run: bool = False,
    confirm: Callable[[RestoreReport], bool] | None = None,
) -> RestoreReport:
    """Plan (and unless ``dry_run`` and ``confirm`` allows, apply) a restore of capture ``ref``."""
    if mode not in MODES:
        raise CaptureError(f"unknown restore mode {mode!r} (merge or clear)")
    store = ctx.store
    name, capture, parts = await anyio.to_thread.run_sync(store.parts, ref, store.load, header_of)
    try:
        if provider:
            target = ctx.profile(provider, profile)
            if target.provider != capture.provider:
                raise CaptureError(
                    f"{name} is a capture of {capture.provider}; it cannot be restored into {target.name}"
                )
        else:
            target = ctx.profile(capture.provider, profile or capture.profile)
    except ProfileError as exc:
        raise CaptureError(f"{name}: {exc}") from None
    bundle = capture.feature == ALL
    modes: dict[str, str] = {}
    notes: dict[str, str] = {}
    for part in parts:
        modes[part.feature], notes[part.feature] = _mode_for(target, Feature(part.feature), mode, name, bundle)
    parts = [p for p in parts if modes[p.feature]]
    if not parts:
        raise CaptureError(f"{name}: {target.name} cannot write any feature of this capture")
    report = RestoreReport(name, target.provider, target.profile, mode, dry_run)
    async with opened(target, ctx.state, ctx.bus) as instance:
        current: dict[Feature, list[Item]] = {}
        for part in parts:
            feature = Feature(part.feature)
            ctx.say(f"reading {target.name} {feature}...")
            current[feature] = await instance.read(feature)
            plan = ctx.host.hook.crosswatch_restore_plan(
                capture=part, current=current[feature], mode=modes[part.feature], support=target.support(feature)
            )
            if notes[part.feature]:
                plan.notes.insert(0, notes[part.feature])
            report.features.append(FeatureOutcome(plan))
        if dry_run or all(f.plan.empty for f in report.features):
            return report
        if confirm is not None and not confirm(report):
            return report
        job = f"restore:{target.name}"
        subject = {"provider": target.provider, "profile": target.profile, "feature": capture.feature}
        async with ctx.recorded(job, "restore", **subject) as recording:
            try:
                await _restore(ctx, target, instance, capture.feature, current, mode, name, report)
            finally:
                _tell(recording, report)
    ctx.host.call_each("crosswatch_restore_finished", report=report)
    log.info("capture.restored", capture=name, mode=mode, ok=report.ok)
    return report


def _tell(recording: Recording, report: RestoreReport) -> None:
    """The restore's numbers and safety capture, for its row in the run history."""
    recording.safety = list(report.safety)
    recording.summary = []
    for outcome in report.features:
        counts = {a: sum(getattr(outcome, a).values()) for a in ("added", "updated", "removed")}
        recording.summary.append({"feature": outcome.plan.feature, **counts, "failed": len(outcome.failed)})
    recording.counts = {a: sum(r[a] for r in recording.summary) for a in ("added", "updated", "removed", "failed")}
    recording.problems = [
        {"feature": o.plan.feature, "item": describe(item), "key": item_key(item), "kind": kind, "why": why}
        for o in report.features
        for kind, listed in (("failed", o.failed), ("unresolved", o.unresolved))
        for item, why in listed
    ]
    if recording.counts["failed"]:
        recording.result = "failed"
        recording.error = f"{recording.counts['failed']} item(s) could not be written (see the report)"


async def _restore(
    ctx: JobContext,
    target: Profile,
    instance: Provider,
    feature: str,
    current: dict[Feature, list[Item]],
    mode: str,
    name: str,
    report: RestoreReport,
) -> None:
    """The writing half of a confirmed restore: the safety capture (clear mode), then each feature."""
    if mode == "clear":
        safety = await write_captures(
            ctx,
            target,
            feature,
            current,
            label="safety-before-restore",
            kind="safety",
            reason=f"before a clear-mode restore of {name}",
        )
        report.safety = [s.rel for s in safety]
    for outcome in report.features:
        await _apply(ctx, target, instance, outcome)
    report.applied = True


def _mode_for(target: Profile, feature: Feature, mode: str, name: str, bundle: bool) -> tuple[str, str]:
    """The mode one feature is restored in, and a note when it differs; "" to skip it.

    A single-feature capture the provider cannot write, or cannot clear in clear mode, is
    refused; in a bundle such a feature is skipped, or merged instead, and the plan says so.
    """
    support = target.support(feature)
    if support is None or not support.add:
        if bundle:
            return "", ""
        raise CaptureError(f"{name}: {target.name} cannot write {feature}; it cannot be restored")
    if mode == "clear" and not (support.remove and support.clear):
        why = f" ({support.note})" if support.note else ""
        if bundle:
            return "merge", f"{target.name} cannot clear {feature}{why}: merged instead"
        raise CaptureError(f"{name}: {target.name} cannot clear {feature}{why}; use --mode merge")
    return mode, ""


async def _apply(ctx: JobContext, target: Profile, instance: Provider, outcome: FeatureOutcome) -> None:
    plan = outcome.plan
    feature = Feature(plan.feature)
    async with ctx.guarded(RestoreStarting(target.provider, target.profile, plan.feature, plan.mode)) as pause:
        if plan.remove:
            ctx.say(f"removing {len(plan.remove)} {feature} items from {target.name}...")
            _tally(outcome, await instance.remove(feature, plan.remove), "removed")
        if plan.add:
            if journal.records_now(target, feature):  # write-ahead: a pair never takes these for new plays
                await anyio.to_thread.run_sync(journal.record, ctx.state, target, plan.add)
            ctx.say(f"adding {len(plan.add)} {feature} items to {target.name}...")
            _tally(outcome, await instance.add(feature, plan.add), "added")
        if plan.update:
            ctx.say(f"updating {len(plan.update)} {feature} items on {target.name}...")
            _tally(outcome, await instance.add(feature, plan.update), "updated")
        pause.ok = not outcome.failed


def _tally(outcome: FeatureOutcome, result: WriteResult, what: str) -> None:
    counts = getattr(outcome, what)
    for kind, n in by_type(result.ok).items():
        counts[kind] = counts.get(kind, 0) + n
    outcome.failed += result.failed
    outcome.unresolved += result.unresolved + [(i, FROZEN_REASON) for i in result.frozen]
