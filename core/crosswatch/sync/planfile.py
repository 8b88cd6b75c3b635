"""Sync plans as files: ``sync plan -o plan.json`` writes one, ``sync apply plan.json`` does exactly it.

The file holds the pair, each feature's changes (readable: one item per entry), what each
side held when the plan was made (for the stale check and the baselines), and a checksum.
``apply`` refuses a file edited by hand, a plan of a pair that is not in the config any more
(or now names other profiles), and a stale plan: one whose target changed since.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec

from crosswatch.errors import CrosswatchError
from crosswatch.jobs import JobContext
from crosswatch.model import Feature, Item
from crosswatch.state import atomic_write_bytes
from crosswatch.sync import baseline as baselines
from crosswatch.sync.diff import Changes, FeaturePlan
from crosswatch.sync.engine import PairState, apply, running
from crosswatch.sync.pairs import Pair
from crosswatch.sync.report import SyncReport

KIND = "crosswatch.syncplan"
FORMAT = 1


class PlanError(CrosswatchError):
    """A plan file that cannot be applied; the message says why."""


class PlanChanges(msgspec.Struct, kw_only=True):
    source: str
    target: str
    add: list[Item] = []
    update: list[Item] = []
    remove: list[Item] = []


class PlanFeature(msgspec.Struct, kw_only=True):
    feature: str
    add: bool = True  # the pair's switches when the plan was made
    remove: bool = False
    refused: str = ""
    changes: list[PlanChanges] = []
    fingerprints: dict[str, str] = {}  # side -> digest of what it held
    reads: dict[str, list[Item]] = {}  # side -> what it held (the baseline after apply)


class PlanFile(msgspec.Struct, kw_only=True):
    kind: str = KIND
    format: int = FORMAT
    pair: str
    mode: str
    source: str
    target: str
    created: str
    features: list[PlanFeature] = []
    sha256: str = ""


def fingerprint(items: list[Item]) -> str:
    """A digest of a side's items that does not depend on their order."""
    lines = sorted(msgspec.json.encode(i) for i in items)
    return hashlib.sha256(b"\n".join(lines)).hexdigest()


def _digest(plan: PlanFile) -> str:
    return hashlib.sha256(msgspec.json.encode(msgspec.structs.replace(plan, sha256=""))).hexdigest()


def to_file(pair: Pair, plans: list[FeaturePlan], state: PairState) -> PlanFile:
    out = PlanFile(
        pair=pair.name,
        mode=pair.mode,
        source=pair.source.name,
        target=pair.target.name,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    for plan in plans:
        reads = state.reads[plan.feature]
        out.features.append(
            PlanFeature(
                feature=plan.feature.value,
                add=pair.features[plan.feature][0],
                remove=pair.features[plan.feature][1],
                refused=plan.refused,
                changes=[
                    PlanChanges(source=c.source, target=c.target, add=c.add, update=c.update, remove=c.remove)
                    for c in plan.changes
                ],
                fingerprints={side: fingerprint(items) for side, items in reads.items()},
                reads=reads,
            )
        )
    out.sha256 = _digest(out)
    return out


def write(path: Path, plan: PlanFile) -> None:
    data = msgspec.json.format(msgspec.json.encode(plan), indent=1) + b"\n"
    atomic_write_bytes(path, data, mode=0o600)


def read(path: Path) -> PlanFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        plan = msgspec.json.decode(data, type=PlanFile)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise PlanError(f"{path}: not a sync plan crosswatch can read ({exc})") from None
    if plan.kind != KIND or plan.format != FORMAT:
        raise PlanError(f"{path}: not a sync plan of this crosswatch (kind {plan.kind!r}, format {plan.format})")
    if plan.sha256 != _digest(plan):
        raise PlanError(f"{path}: the plan was changed after it was written (checksum); make a new one")
    return plan


def check_pair(path: Path, plan: PlanFile, pair: Pair) -> None:
    """The plan is of ``pair`` as the config has it now."""
    if (plan.source, plan.target, plan.mode) != (pair.source.name, pair.target.name, pair.mode):
        raise PlanError(
            f"{path}: made for {plan.pair!r} as {plan.source} -> {plan.target} ({plan.mode}); the config now has "
            f"{pair.source.name} -> {pair.target.name} ({pair.mode}); make a new plan"
        )
    for entry in plan.features:
        feature = Feature(entry.feature)
        if feature not in pair.features:
            raise PlanError(f"{path}: pair {pair.name!r} does not sync {entry.feature} any more; make a new plan")
        if pair.features[feature] != (entry.add, entry.remove):
            add, remove = pair.features[feature]
            raise PlanError(
                f"{path}: pair {pair.name!r} now has {entry.feature} add = {str(add).lower()}, remove = "
                f"{str(remove).lower()} (the plan was made with add = {str(entry.add).lower()}, remove = "
                f"{str(entry.remove).lower()}); make a new plan"
            )


def from_file(plan: PlanFile) -> tuple[list[FeaturePlan], PairState]:
    plans, state = [], PairState()
    for entry in plan.features:
        feature = Feature(entry.feature)
        plans.append(
            FeaturePlan(
                feature,
                changes=[Changes(c.source, c.target, c.add, c.update, c.remove) for c in entry.changes],
                refused=entry.refused,
                counts={side: len(items) for side, items in entry.reads.items()},
            )
        )
        state.reads[feature] = entry.reads
    return plans, state


async def apply_file(ctx: JobContext, pair: Pair, path: Path, plan: PlanFile) -> SyncReport:
    """Apply exactly the plan in ``path``; PlanError (before any write) when it is stale."""
    check_pair(path, plan, pair)
    plans, state = from_file(plan)
    report = SyncReport(pair.name, pair.mode, dry_run=False, plans=plans)
    async with running(ctx, pair, report, "apply") as providers:
        for entry, feature_plan in zip(plan.features, plans, strict=True):
            written = {c.target for c in feature_plan.changes if not c.empty}
            for side in sorted(written):
                ctx.say(f"checking {side} {entry.feature} against the plan...")
                now = await providers[side].read(feature_plan.feature)
                if fingerprint(now) != entry.fingerprints.get(side):
                    raise PlanError(
                        f"{path}: {side} {entry.feature} changed since the plan was made ({plan.created}); "
                        "nothing was written: make a new plan"
                    )
            base = await anyio.to_thread.run_sync(baselines.load, ctx.state, pair.name, entry.feature)
            state.baselines[feature_plan.feature] = base
            feature_plan.first_run = base is None
        await apply(ctx, pair, providers, state, report)
    return report
