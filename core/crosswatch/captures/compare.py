"""Comparing two captures of one provider: added, removed and updated titles, per feature.

History is compared per title as plays: sets of play times, or, where the provider records
"now" for a written play (Plex), the number of plays, so a restore is not reported as noise.
Field changes of other features come from the ``crosswatch_compare_item`` hook (core's
default compares the feature's value; a plugin can normalise its own fields).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from crosswatch.captures.context import CaptureContext
from crosswatch.captures.format import ALL, Capture, CaptureError
from crosswatch.captures.plan import _second, by_type, describe
from crosswatch.captures.restore import capture_parts
from crosswatch.model import Feature, Item, title_key
from crosswatch.provider import FeatureSupport


@dataclass
class FeatureDiff:
    feature: str
    added: list[Item] = field(default_factory=list)
    removed: list[Item] = field(default_factory=list)
    updated: list[tuple[Item, dict[str, tuple[Any, Any]]]] = field(default_factory=list)
    only_in: str = ""  # "a" or "b" when only one bundle holds this feature

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.updated or self.only_in)

    def to_json(self, verbose: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "feature": self.feature,
            "counts": {
                "added": by_type(self.added),
                "removed": by_type(self.removed),
                "updated": by_type(i for i, _ in self.updated),
            },
        }
        if self.only_in:
            out["only_in"] = self.only_in
        if verbose:
            out["added"] = [describe(i) for i in self.added]
            out["removed"] = [describe(i) for i in self.removed]
            out["updated"] = [
                {"item": describe(i), "changes": {k: list(v) for k, v in changes.items()}}
                for i, changes in self.updated
            ]
        return out


@dataclass
class CompareReport:
    a: str
    b: str
    provider: str
    features: list[FeatureDiff] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return all(f.same for f in self.features)

    def to_json(self, verbose: bool = True) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "provider": self.provider,
            "same": self.same,
            "features": [f.to_json(verbose) for f in self.features],
        }


def compare_captures(ctx: CaptureContext, a_ref: str, b_ref: str) -> CompareReport:
    a_name, a, a_parts = capture_parts(ctx, a_ref)
    b_name, b, b_parts = capture_parts(ctx, b_ref)
    if a.provider != b.provider:
        raise CaptureError(
            f"{a_name} is a capture of {a.provider} and {b_name} of {b.provider}: only captures of one provider compare"
        )
    if a.feature != ALL and b.feature != ALL and a.feature != b.feature:
        raise CaptureError(f"{a_name} holds {a.feature} and {b_name} holds {b.feature}: nothing to compare")
    report = CompareReport(a_name, b_name, a.provider)
    a_by = {p.feature: p for p in a_parts}
    b_by = {p.feature: p for p in b_parts}
    wanted = [f for f in Feature if f.value in a_by or f.value in b_by]
    if ALL not in (a.feature, b.feature) or a.feature != b.feature:
        wanted = [f for f in wanted if f.value in a_by and f.value in b_by] or wanted
    for feature in wanted:
        one, two = a_by.get(feature.value), b_by.get(feature.value)
        if one is None or two is None:
            report.features.append(FeatureDiff(feature.value, only_in="a" if two is None else "b"))
            continue
        report.features.append(diff_feature(ctx, feature, one, two))
    return report


def _support(ctx: CaptureContext, provider: str, feature: Feature) -> FeatureSupport:
    try:
        return ctx.host.providers.get(provider).features.get(feature) or FeatureSupport()
    except KeyError:  # the provider's plugin is not installed: compare what the files hold
        return FeatureSupport()


def diff_feature(ctx: CaptureContext, feature: Feature, a: Capture, b: Capture) -> FeatureDiff:
    diff = FeatureDiff(feature.value)
    if feature == Feature.HISTORY:
        _diff_plays(diff, a.items, b.items, _support(ctx, a.provider, feature).keeps_watched_at)
        return diff
    old = {title_key(i): i for i in a.items}
    new = {title_key(i): i for i in b.items}
    hook = ctx.host.hook.crosswatch_compare_item
    for key, item in new.items():
        before = old.get(key)
        if before is None:
            diff.added.append(item)
        elif before != item:
            changes = hook(feature=feature, old=before, new=item)
            if changes:
                diff.updated.append((item, changes))
    diff.removed = [item for key, item in old.items() if key not in new]
    return diff


def _diff_plays(diff: FeatureDiff, a: list[Item], b: list[Item], keeps_watched_at: bool) -> None:
    old: dict[str, list[Item]] = defaultdict(list)
    new: dict[str, list[Item]] = defaultdict(list)
    for play in a:
        old[title_key(play)].append(play)
    for play in b:
        new[title_key(play)].append(play)
    for key in old.keys() | new.keys():
        before, after = old.get(key, []), new.get(key, [])
        if not keeps_watched_at:
            extra = len(after) - len(before)
            newest = sorted(after if extra > 0 else before, key=lambda p: p.watched_at or "")
            (diff.added if extra > 0 else diff.removed).extend(newest[len(newest) - abs(extra) :] if extra else [])
            continue
        times = Counter(_second(p.watched_at) for p in before)
        for play in after:
            stamp = _second(play.watched_at)
            if times[stamp] > 0:
                times[stamp] -= 1
            else:
                diff.added.append(play)
        left = +times
        for play in before:
            stamp = _second(play.watched_at)
            if left[stamp] > 0:
                left[stamp] -= 1
                diff.removed.append(play)
