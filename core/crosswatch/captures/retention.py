"""Retention of scheduled captures: each schedule prunes only its own auto captures.

Manual and safety captures are never pruned, nor another schedule's. Which of a schedule's
captures go is the ``crosswatch_retention_select`` hook's choice (core's default: older than
``keep_days`` or beyond the newest ``max_keep``). A capture the store will not delete (a child
outside ``snapshots/``, a link, a child with another checksum) is refused, logged with the
reason and left whole; the prune goes on with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import anyio
import structlog

from crosswatch.captures.format import CaptureError
from crosswatch.captures.store import CaptureRef, CaptureStore
from crosswatch.config.schema import CaptureSchedule
from crosswatch.events import CaptureDeleted
from crosswatch.jobs import JobContext

log = structlog.get_logger("crosswatch.captures")


@dataclass(frozen=True)
class Refusal:
    """A capture retention chose but would not delete, and why."""

    path: str
    reason: str


@dataclass
class PruneResult:
    schedule: str
    kept: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def top_level(refs: list[CaptureRef]) -> list[CaptureRef]:
    """Captures that are not a bundle's child (children go with their bundle)."""
    children = {c.path for r in refs if r.header is not None for c in r.header.children}
    return [r for r in refs if r.rel not in children]


def schedule_captures(refs: list[CaptureRef], schedule: CaptureSchedule) -> list[CaptureRef]:
    """The auto captures ``schedule`` made, newest first."""
    mine = [
        r for r in refs if r.header is not None and r.header.type == "auto" and r.header.schedule == schedule.job_name
    ]
    made = {r.path: i for i, r in enumerate(refs)}  # the store lists in the order captures were made
    return sorted(mine, key=lambda r: (r.created, made[r.path]), reverse=True)


def delete_capture(ctx: JobContext, ref: CaptureRef) -> list[str]:
    """Delete one capture (a bundle with its children); hooks and the bus hear of each file.

    CaptureError, with nothing deleted, when the store cannot prove every file is its own.
    """
    store: CaptureStore = ctx.store

    headers = {path: store.header(path) for path in store.doomed(ref.path)}  # before they go

    def removed(path: Path) -> None:
        rel = store.rel(path)
        ctx.host.call_each("crosswatch_capture_deleted", ref=headers.get(path) or CaptureRef(path, rel, None))
        ctx.emit(CaptureDeleted(str(path)))
        log.info("capture.deleted", path=rel)

    return [store.rel(p) for p in store.delete(ref.path, removed)]


def prune(ctx: JobContext, schedules: list[CaptureSchedule], *, dry_run: bool = False) -> list[PruneResult]:
    refs = top_level(ctx.store.refs())
    results = []
    for schedule in schedules:
        mine = schedule_captures(refs, schedule)
        result = PruneResult(schedule.job_name)
        if schedule.keep_days or schedule.max_keep:
            doomed = ctx.host.hook.crosswatch_retention_select(captures=mine, policy=schedule) or []
        else:
            doomed = []
        doomed_paths = {d.path for d in doomed}
        for ref in mine:
            if ref.path not in doomed_paths:
                result.kept.append(ref.rel)
                continue
            try:
                if dry_run:
                    ctx.store.doomed(ref.path)
                else:
                    delete_capture(ctx, ref)
            except CaptureError as exc:
                result.refused.append(Refusal(ref.rel, str(exc)))
                log.warning("capture.prune_refused", schedule=schedule.job_name, path=ref.rel, reason=str(exc))
                continue
            result.deleted.append(ref.rel)
        results.append(result)
    return results


async def prune_recorded(ctx: JobContext, schedules: list[CaptureSchedule], job: str) -> list[PruneResult]:
    """:func:`prune` (in a worker thread) recorded in the run history as a ``prune`` run of ``job``."""
    quiet = JobContext(ctx.config, ctx.host)  # no bus in a worker thread
    async with ctx.recorded(job, "prune") as recording:
        results = await anyio.to_thread.run_sync(lambda: prune(quiet, schedules))
        recording.counts = {
            "deleted": sum(len(r.deleted) for r in results),
            "kept": sum(len(r.kept) for r in results),
            "refused": sum(len(r.refused) for r in results),
        }
        recording.summary = [
            {"schedule": r.schedule, "deleted": len(r.deleted), "kept": len(r.kept), "refused": len(r.refused)}
            for r in results
        ]
        if recording.counts["refused"]:
            recording.result = "refused"
            recording.error = "; ".join(f"{f.path}: {f.reason}" for r in results for f in r.refused)[:500]
    for result in results:
        for rel in result.deleted:
            ctx.emit(CaptureDeleted(str(ctx.store.root / rel)))
    return results
