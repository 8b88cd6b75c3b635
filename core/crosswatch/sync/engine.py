"""One run of a pair: read both sides, plan, guard, (first run: safety capture), apply, record.

A run holds a lock per pair (the daemon and a command never run one pair at once), reads each
side once per feature, writes each direction's adds, updates and removes in the provider's
batches, and then records the baselines from what was read and what was written.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field

import anyio
import msgspec
import structlog

from crosswatch import journal
from crosswatch.captures.create import write_captures
from crosswatch.captures.format import ALL
from crosswatch.captures.plan import describe
from crosswatch.errors import CrosswatchError
from crosswatch.events import SyncStarting
from crosswatch.http import total_requests
from crosswatch.jobs import JobContext
from crosswatch.listener_pause import Outcome
from crosswatch.model import Feature, Item, item_key
from crosswatch.profiles import Profile, opened
from crosswatch.provider import Provider, ReadAhead, file_prefix
from crosswatch.recording import Recording
from crosswatch.sync import baseline as baselines
from crosswatch.sync.baseline import Baseline
from crosswatch.sync.diff import Changes, FeaturePlan, Side, plan_feature
from crosswatch.sync.match import TitleIndex
from crosswatch.sync.pairs import Pair
from crosswatch.sync.report import ACTIONS, SyncReport, summary_rows
from crosswatch.sync.safety_rules import removal_refusal, shrink_refusal
from crosswatch.sync.writes import baseline_after, write_changes
from crosswatch.unresolved import FROZEN_REASON, UnresolvedStore

log = structlog.get_logger("crosswatch.sync")


@dataclass
class Options:
    features: list[Feature] | None = None  # None: every feature of the pair
    dry_run: bool = False
    full: bool = False  # ignore baselines: push the whole source state (still no duplicates)
    allow_shrink: bool = False
    allow_removals: bool = False


@dataclass
class PairState:
    """What a plan was made from: each feature's items per side, and the baselines."""

    reads: dict[Feature, dict[str, list[Item]]] = field(default_factory=dict)
    baselines: dict[Feature, Baseline | None] = field(default_factory=dict)
    frozen: dict[Feature, dict[str, set[str]]] = field(default_factory=dict)  # side -> item keys frozen there
    fingerprints: dict[Feature, str] = field(default_factory=dict)  # of everything a plan is made from
    settled: set[Feature] = field(default_factory=set)  # same inputs as a run that had nothing to write
    echoes: dict[Feature, list[journal.Echo]] = field(default_factory=dict)  # crosswatch's own "now" writes, both sides


def _sides(pair: Pair) -> list[Profile]:
    return [pair.source, pair.target]


def make_plans(ctx: JobContext, pair: Pair, state: PairState, options: Options) -> list[FeaturePlan]:
    """Plan and guard every feature from what was read (no I/O)."""
    plans = []
    settings = ctx.config.sync
    for feature, (add, remove) in pair.features.items():
        if options.features and feature not in options.features:
            continue
        if feature in state.settled:  # nothing changed since a run that had nothing to do
            counts = {n: len(items) for n, items in state.reads[feature].items()}
            directions = pair.sides() if pair.two_way else pair.sides()[:1]
            changes = [Changes(a.name, b.name) for a, b in directions]
            plans.append(FeaturePlan(feature, changes=changes, counts=counts, settled=True))
            continue
        stored = state.baselines.get(feature)
        base = None if options.full else stored  # --full: no removals, but echoes and guards still hold
        read = state.reads[feature]
        sides = {
            p.name: Side(p, read[p.name], base.sides.get(p.name), base.sent_now.get(p.name, []))
            if base is not None
            else Side(p, read[p.name], None)
            for p in _sides(pair)
        }
        a, b = sides[pair.source.name], sides[pair.target.name]
        plan = FeaturePlan(feature, counts={n: len(s.items) for n, s in sides.items()}, first_run=base is None)
        plan.changes = plan_feature(
            feature,
            a,
            b,
            two_way=pair.two_way,
            add=add,
            remove=remove and not options.full,
            tolerance=settings.history_tolerance_s,
            baseline=stored,
            echoes=state.echoes.get(feature),
        )
        _skip_frozen(plan.changes, state.frozen.get(feature, {}))
        sources = [a, b] if pair.two_way else [a]
        if not options.allow_shrink:
            plan.refused = shrink_refusal(pair.name, feature.value, sources, stored, settings)
        if not plan.refused and not options.allow_removals:
            plan.refused = removal_refusal(pair.name, feature.value, plan.changes, sides, settings)
        plans.append(plan)
    return plans


def _skip_frozen(changes: list[Changes], frozen: dict[str, set[str]]) -> None:
    """Items frozen on a target (``crosswatch unresolved list``) are not planned again."""
    for change in changes:
        keys = frozen.get(change.target)
        if not keys:
            continue
        for name in ("add", "update"):
            items = getattr(change, name)
            kept = [i for i in items if item_key(i) not in keys]
            change.skipped += [(i, FROZEN_REASON) for i in items if item_key(i) in keys]
            setattr(change, name, kept)


async def read_state(ctx: JobContext, pair: Pair, providers: dict[str, Provider], options: Options) -> PairState:
    """Read both sides of every feature; a feature whose inputs equal a settled run's skips its baseline."""
    state = PairState()
    plain = not (options.full or options.allow_shrink or options.allow_removals)
    wanted = [f for f in pair.features if not options.features or f in options.features]
    for profile in _sides(pair):
        side = providers[profile.name]
        if isinstance(side, ReadAhead):
            side.will_read(wanted)
    for feature in wanted:
        state.reads[feature] = {}
        for profile in _sides(pair):
            ctx.say(f"reading {profile.name} {feature}...")
            state.reads[feature][profile.name] = await providers[profile.name].read(feature)
        state.frozen[feature] = await anyio.to_thread.run_sync(_frozen, ctx, pair, feature)
        state.fingerprints[feature] = await anyio.to_thread.run_sync(
            _fingerprint, ctx, pair, feature, state.reads[feature], state.frozen[feature]
        )
        settled = await anyio.to_thread.run_sync(baselines.settled, ctx.state, pair.name, feature.value)
        if plain and settled == state.fingerprints[feature]:
            state.settled.add(feature)
            continue
        stored = await anyio.to_thread.run_sync(baselines.load, ctx.state, pair.name, feature.value)
        state.baselines[feature] = stored
        if feature == Feature.HISTORY:
            state.echoes[feature] = await anyio.to_thread.run_sync(_echoes, ctx, pair, feature, stored)
        if stored is None:
            log.info(
                "sync.first_run",
                pair=pair.name,
                feature=feature.value,
                assumed="no baseline (a first run, or the file was deleted or damaged): nothing is removed, each side "
                "written is captured first, and plays crosswatch wrote earlier are known from its journal",
                journal_records=len(state.echoes.get(feature, [])),
            )
    return state


def _echoes(ctx: JobContext, pair: Pair, feature: Feature, stored: Baseline | None) -> list[journal.Echo]:
    """crosswatch's own "now" writes to either side: the journals, with the baseline's copy."""
    recorded = [journal.load(ctx.state, p) for p in _sides(pair) if journal.records_now(p, feature)]
    return journal.merged(*recorded, stored.echoes if stored is not None else [])


def _frozen(ctx: JobContext, pair: Pair, feature: Feature) -> dict[str, set[str]]:
    """The item keys frozen on each side (``crosswatch unresolved list``)."""
    return {
        p.name: set(UnresolvedStore(ctx.state, file_prefix(p.provider, p.profile)).load(feature.value))
        for p in _sides(pair)
    }


def _fingerprint(
    ctx: JobContext, pair: Pair, feature: Feature, reads: dict[str, list[Item]], frozen: dict[str, set[str]]
) -> str:
    """A digest of all a plan of ``feature`` depends on: the pair, the settings, each side's items."""
    digest = hashlib.sha256()
    head = [pair.name, pair.mode, pair.features[feature], msgspec.to_builtins(ctx.config.sync)]
    digest.update(msgspec.json.encode(head))
    for side in sorted(reads):  # order-free: a provider may list the same items in another order
        digest.update(side.encode() + b"\0" + b"\n".join(sorted(map(_encode, reads[side]))))
        digest.update(b"\0".join(sorted(k.encode() for k in frozen.get(side, ()))))
    return digest.hexdigest()


_encode = msgspec.json.Encoder().encode


@asynccontextmanager
async def opened_pair(ctx: JobContext, pair: Pair) -> AsyncIterator[dict[str, Provider]]:
    """Both sides of ``pair`` as provider instances, by profile name; closed afterwards."""
    async with opened(pair.source, ctx.state, ctx.bus) as source, opened(pair.target, ctx.state, ctx.bus) as target:
        yield {pair.source.name: source, pair.target.name: target}


@asynccontextmanager
async def running(
    ctx: JobContext, pair: Pair, report: SyncReport, kind: str | None = "sync"
) -> AsyncIterator[dict[str, Provider]]:
    """One run of ``pair``: its lock (never two runs of a pair at once), both sides, the report timed.

    Unless ``kind`` is None (a dry run writes nothing), the run is recorded in the run history
    as a job ``sync:<pair>`` of that kind, with the report's numbers.
    """
    began, requests = time.monotonic(), total_requests()
    record = ctx.recorded(f"sync:{pair.name}", kind, pair=pair.name) if kind else nullcontext(None)
    async with record as recording:
        try:
            with ctx.state.try_lock(baselines.file_name(pair.name, "run"), f"pair {pair.name!r}"):
                async with opened_pair(ctx, pair) as providers:
                    yield providers
        finally:
            report.seconds = round(time.monotonic() - began, 2)
            report.requests = total_requests() - requests
            if recording is not None:
                _tell(recording, report)


def _tell(recording: Recording, report: SyncReport) -> None:
    """The report's numbers, and how the run went, for its row in the run history."""
    rows = summary_rows(report)
    recording.summary = rows
    recording.counts = {a: sum(r[a] for r in rows) for a in ACTIONS}
    recording.requests = report.requests
    recording.safety = list(report.safety)
    recording.problems = [
        {"feature": feature, "target": target, "item": describe(item), "key": item_key(item), "kind": kind, "why": why}
        for (feature, target), tally in sorted(report.tallies.items())
        for item, kind, why in tally.problems
    ]
    failed = recording.counts["failed"]
    if failed:
        recording.result, recording.error = "failed", f"{failed} item(s) could not be written (see the summary)"
    elif report.refused:
        recording.result, recording.error = "refused", "; ".join(report.refused)


async def run_pair(ctx: JobContext, pair: Pair, options: Options | None = None) -> SyncReport:
    """Plan and (unless a dry run) apply one run of ``pair``."""
    options = options or Options()
    report = SyncReport(pair.name, pair.mode, options.dry_run)
    async with running(ctx, pair, report, None if options.dry_run else "sync") as providers:
        state = await read_state(ctx, pair, providers, options)
        report.plans = make_plans(ctx, pair, state, options)
        if not options.dry_run:
            await apply(ctx, pair, providers, state, report)
    log.info(
        "sync.finished",
        pair=pair.name,
        dry_run=options.dry_run,
        seconds=report.seconds,
        requests=report.requests,
        refused=len(report.refused),
        ok=report.ok,
    )
    return report


async def apply(
    ctx: JobContext, pair: Pair, providers: dict[str, Provider], state: PairState, report: SyncReport
) -> None:
    """Write the report's plans (a safety capture first on a pair's first run), then record baselines."""
    todo = [p for p in report.plans if not p.refused and any(not c.empty for c in p.changes)]
    if any(p.first_run for p in todo):
        report.safety = await _safety(ctx, pair, state, todo)
    features = tuple(str(p.feature) for p in todo)
    targets = tuple(sorted({c.target for p in todo for c in p.changes if not c.empty}))
    profiles = {p.name: p for p in _sides(pair)}
    pause = ctx.guarded(SyncStarting(pair.name, features, targets)) if targets else nullcontext(Outcome())
    async with pause as outcome:
        for plan in report.plans:
            if plan.settled:
                continue
            if plan.refused:
                log.warning("sync.refused", pair=pair.name, feature=str(plan.feature), reason=plan.refused)
                continue
            writes = not all(c.empty for c in plan.changes)
            if writes:  # what a settled run recorded no longer holds once a write may have landed
                await anyio.to_thread.run_sync(baselines.settle, ctx.state, pair.name, plan.feature.value, "")
            if plan.feature == Feature.HISTORY:
                for name, profile in profiles.items():
                    if journal.records_now(profile, plan.feature):
                        read = state.reads[plan.feature][name]
                        await anyio.to_thread.run_sync(journal.prune, ctx.state, profile, read)
            written = [
                await write_changes(ctx, providers, profiles, plan.feature, c, report.tally(plan.feature, c.target))
                for c in plan.changes
            ]
            reads, old = state.reads[plan.feature], state.baselines.get(plan.feature)
            base = await anyio.to_thread.run_sync(baseline_after, ctx, _sides(pair), plan.feature, reads, old, written)
            await anyio.to_thread.run_sync(baselines.save, ctx.state, pair.name, plan.feature.value, base)
            fingerprint = await _settled_by(ctx, pair, providers, plan, state, base, report)
            await anyio.to_thread.run_sync(baselines.settle, ctx.state, pair.name, plan.feature.value, fingerprint)
        outcome.ok = report.ok


async def _settled_by(
    ctx: JobContext,
    pair: Pair,
    providers: dict[str, Provider],
    plan: FeaturePlan,
    state: PairState,
    base: Baseline,
    report: SyncReport,
) -> str:
    """The inputs a next run may skip planning for ("" for none).

    With nothing written: this run's inputs. With every write taken (nothing failed, nothing
    unresolved that is not frozen now): where each side written reads back cheaply
    (``FeatureSupport.reads_back``), the sides as read back, once a plan of them is empty;
    elsewhere the sides as they stand by the baseline. When the next read shows exactly that,
    the next run is a quiet one too.
    """
    feature = plan.feature
    if all(c.empty for c in plan.changes):
        return state.fingerprints.get(feature, "")
    tallies = [report.tally(feature, c.target) for c in plan.changes if not c.empty]
    if any(t.counts.get("failed") for t in tallies):
        return ""
    written = sorted({c.target for c in plan.changes if not c.empty})
    profiles = {p.name: p for p in _sides(pair)}
    if all(_reads_back(profiles[name], feature) for name in written):
        return await _read_back(ctx, pair, providers, plan, state, base, written, report)
    if any(t.counts.get("unresolved") for t in tallies):
        return ""
    return _fingerprint(ctx, pair, feature, base.sides, state.frozen.get(feature, {}))


def _reads_back(profile: Profile, feature: Feature) -> bool:
    support = profile.support(feature)
    return support is not None and support.reads_back


async def _read_back(
    ctx: JobContext,
    pair: Pair,
    providers: dict[str, Provider],
    plan: FeaturePlan,
    state: PairState,
    base: Baseline,
    written: list[str],
    report: SyncReport,
) -> str:
    """Read the written sides back; when only the written titles changed there and a plan of what
    now stands is empty, record the sides as read back and return their fingerprint ("" otherwise).

    A title changed on a written side by someone else during the run would be taken into the
    baseline unplanned, so then nothing is settled and the baseline stays as written.
    """
    feature = plan.feature
    frozen = await anyio.to_thread.run_sync(_frozen, ctx, pair, feature)
    for change in plan.changes:
        keys = frozen.get(change.target, set())
        problems = report.tally(feature, change.target).problems
        if any(kind == "unresolved" and item_key(i) not in keys for i, kind, _ in problems):
            return ""  # not frozen: tried again by the next run
    reads = dict(state.reads[feature])
    for name in written:
        ctx.say(f"reading {name} {feature} back...")
        try:
            fresh = await providers[name].read(feature)
        except CrosswatchError as exc:
            log.warning("sync.read_back_failed", pair=pair.name, feature=str(feature), side=name, error=str(exc))
            return ""
        touched = TitleIndex(i for c in plan.toward(name) for i in c.add + c.update + c.remove)
        if _untouched(reads[name], touched) != _untouched(fresh, touched):
            log.info("sync.not_settled", pair=pair.name, feature=str(feature), side=name, why="changed during the run")
            return ""
        reads[name] = fresh
    after = Baseline(sides=reads, echoes=base.echoes, sent_now=base.sent_now)
    again = PairState(
        reads={feature: reads},
        baselines={feature: after},
        frozen={feature: frozen},
        echoes={feature: await anyio.to_thread.run_sync(_echoes, ctx, pair, feature, after)},
    )
    replan = make_plans(ctx, pair, again, Options(features=[feature]))
    if any(p.refused or not all(c.empty for c in p.changes) for p in replan):
        return ""
    await anyio.to_thread.run_sync(baselines.save, ctx.state, pair.name, feature.value, after)
    return await anyio.to_thread.run_sync(_fingerprint, ctx, pair, feature, reads, frozen)


def _untouched(items: list[Item], touched: TitleIndex) -> list[bytes]:
    """``items`` but the touched titles, encoded and sorted (to compare two reads of a side)."""
    return sorted(_encode(i) for i in items if i not in touched)


async def _safety(ctx: JobContext, pair: Pair, state: PairState, todo: list[FeaturePlan]) -> list[str]:
    """The first run of a pair captures each side it will write, from what it just read."""
    written_to = {c.target for p in todo if p.first_run for c in p.changes if not c.empty}
    names = []
    for profile in _sides(pair):
        if profile.name not in written_to:
            continue
        read = {p.feature: state.reads[p.feature][profile.name] for p in todo if p.first_run}
        feature = ALL if len(read) > 1 else next(iter(read)).value
        refs = await write_captures(
            ctx,
            profile,
            feature,
            read,
            label=f"before-first-sync-{pair.name}",
            kind="safety",
            reason=f"pair {pair.name}",
        )
        names += [r.rel for r in refs[:1]]
    return names
