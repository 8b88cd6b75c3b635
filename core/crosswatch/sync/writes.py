"""Writing one direction of a plan to its target, and each side's baseline after the writes.

Plays a target dates "now" are put on record in its journal before the first one is sent
(write-ahead), so a run killed mid-write still knows them as crosswatch's own. Results are
counted by item key, never by object identity: a provider may answer with equal copies of
the items it was given.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import anyio

from crosswatch import journal
from crosswatch.jobs import JobContext
from crosswatch.model import Feature, Item, item_key
from crosswatch.profiles import Profile
from crosswatch.provider import Provider, WriteResult
from crosswatch.sync.baseline import Baseline
from crosswatch.sync.diff import Changes
from crosswatch.sync.match import TitleIndex
from crosswatch.sync.report import Tally


@dataclass
class Written:
    """What one direction's writes took: the items each list of the provider's results held."""

    changes: Changes
    added: list[Item] = field(default_factory=list)  # adds and updates that took
    removed: list[Item] = field(default_factory=list)
    not_removed: list[Item] = field(default_factory=list)  # removals that failed: tried again next run
    at: float = 0.0


async def write_changes(
    ctx: JobContext,
    providers: dict[str, Provider],
    profiles: dict[str, Profile],
    feature: Feature,
    changes: Changes,
    tally: Tally,
) -> Written:
    """Send ``changes`` to their target (removals, then adds and updates), counting into ``tally``."""
    out = Written(changes, at=time.time())
    target = providers[changes.target]
    if changes.add and journal.records_now(profiles[changes.target], feature):
        # write-ahead: the plays are on record as crosswatch's before the first one is sent
        out.at = await anyio.to_thread.run_sync(journal.record, ctx.state, profiles[changes.target], changes.add)
    # by key, not identity: a provider may report equal copies of the items it was given
    updates = {item_key(i) for i in changes.update}
    for action, items, call in (
        ("removed", changes.remove, target.remove),
        ("added", changes.add + changes.update, target.add),  # one set of batches: updates are writes too
    ):
        if not items:
            continue
        verb = "removing" if action == "removed" else "writing"
        ctx.say(f"{changes.target} {feature}: {verb} {len(items)}...")
        result: WriteResult = await call(feature, items)
        if action == "added":
            tally.count("added", [i for i in result.ok if item_key(i) not in updates])
            tally.count("updated", [i for i in result.ok if item_key(i) in updates])
        else:
            tally.count(action, result.ok)
        tally.count("failed", [i for i, _ in result.failed])
        tally.count("unresolved", [i for i, _ in result.unresolved] + result.frozen)
        tally.problems += [(i, "failed", why) for i, why in result.failed]
        tally.frozen += len(result.frozen)
        tally.problems += [(i, "unresolved", why) for i, why in result.unresolved]
        (out.removed if action == "removed" else out.added).extend(result.ok)
        if action == "removed":
            out.not_removed += [i for i, _ in result.failed]
    return out


def baseline_after(
    ctx: JobContext,
    sides: list[Profile],
    feature: Feature,
    reads: dict[str, list[Item]],
    old: Baseline | None,
    written: list[Written],
) -> Baseline:
    """Each side as it stands after this run: what was read, with the writes that took.

    History keeps a copy of the sides' journals (crosswatch's own "now" writes), in case a
    journal is ever damaged.
    """
    base = Baseline(sides={})
    for profile in sides:
        items = reads[profile.name]
        mine = [w for w in written if w.changes.target == profile.name]
        gone = Counter(item_key(i) for w in mine for i in w.removed)
        came = [i for w in mine for i in w.added]
        if journal.records_now(profile, feature):
            base.echoes += journal.load(ctx.state, profile)
            if came:
                base.sent_now[profile.name] = came
            came = []  # recorded at "now": the next read holds them with that date
        replaced = TitleIndex(came) if feature != Feature.HISTORY and came else None
        kept = [i for i in items if not _take(gone, item_key(i)) and (replaced is None or i not in replaced)]
        base.sides[profile.name] = kept + came + _retry(old, profile.name, items, written)
    return base


def _take(counts: Counter[str], key: str) -> bool:
    """Take one ``key`` from ``counts`` if it has one (two plays at one time are two removals)."""
    if counts[key] <= 0:
        return False
    counts[key] -= 1
    return True


def _retry(old: Baseline | None, side: str, items: list[Item], written: list[Written]) -> list[Item]:
    """Items gone from ``side`` whose removal elsewhere failed stay in its baseline: tried again."""
    failed = TitleIndex(i for w in written if w.changes.target != side for i in w.not_removed)
    if old is None or not len(failed):
        return []
    present = {item_key(i) for i in items}
    return [b for b in old.sides.get(side, []) if b in failed and item_key(b) not in present]
