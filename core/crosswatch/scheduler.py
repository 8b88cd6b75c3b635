"""Cron schedules for sync pairs and captures; rebuilt on every config reload.

A job's work is done by the subscribers of its ``ScheduleFired`` event, inside
``bus.publish``, so the scheduler knows when a job is still running and never starts it
twice. Missed slots (the host slept, the clock jumped) fire once, not once per slot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

import anyio
import structlog

from crosswatch.bus import EventBus, PublishError
from crosswatch.config import Config
from crosswatch.cron import next_fire, zone
from crosswatch.events import ScheduleFired

log = structlog.get_logger("crosswatch.scheduler")

#: longest single sleep: wall-clock jumps are noticed within this many seconds
MAX_SLEEP = 60.0


@dataclass(frozen=True)
class Job:
    id: str
    kind: str  # "sync" | "capture"
    name: str
    cron: str
    tz: tzinfo
    params: dict[str, Any] = field(default_factory=dict, compare=False)


def jobs_from_config(config: Config) -> list[Job]:
    """Every scheduled job the config asks for."""
    default_tz = zone(config.daemon.timezone)
    jobs = []
    for pair in config.pairs:
        if pair.enabled and pair.schedule:
            tz = zone(pair.timezone, default_tz)
            jobs.append(Job(f"sync:{pair.name}", "sync", pair.name, pair.schedule, tz, {"pair": pair.name}))
    for sched in config.captures.schedules:
        if sched.enabled:
            tz = zone(sched.timezone, default_tz)
            jobs.append(
                Job(
                    f"capture:{sched.job_name}", "capture", sched.job_name, sched.cron, tz, {"schedule": sched.job_name}
                )
            )
    return jobs


class WallClock:
    """The real clock: wall time for cron slots, anyio sleeps for waiting."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def wait(self, seconds: float, wake: anyio.Event) -> None:
        """Return after ``seconds`` or as soon as ``wake`` is set."""
        with anyio.move_on_after(seconds):
            await wake.wait()


class Scheduler:
    """Fires ``ScheduleFired`` for each job at its cron slots."""

    def __init__(self, bus: EventBus, clock: WallClock | None = None) -> None:
        self.bus = bus
        self.clock = clock or WallClock()
        self._now = self.clock.now
        self._jobs: dict[str, Job] = {}
        self._next: dict[str, datetime] = {}
        self.running: set[str] = set()
        self.skipped: dict[str, int] = {}
        self.fired: dict[str, int] = {}
        self._wake: anyio.Event | None = None
        self._tg: anyio.abc.TaskGroup | None = None

    def set_jobs(self, jobs: list[Job]) -> None:
        """Replace the job list; a job that keeps its id and cron keeps its next slot."""
        now = self._now()
        new_jobs = {j.id: j for j in jobs}
        new_next = {}
        for job in jobs:
            old = self._jobs.get(job.id)
            if old == job and job.id in self._next:
                new_next[job.id] = self._next[job.id]
            else:
                new_next[job.id] = next_fire(job.cron, now.astimezone(job.tz))
        self._jobs, self._next = new_jobs, new_next
        if self._wake is not None:
            self._wake.set()

    def next_runs(self) -> list[tuple[Job, datetime]]:
        return sorted(((self._jobs[i], t) for i, t in self._next.items()), key=lambda jt: jt[1])

    def describe(self) -> list[dict[str, Any]]:
        """JSON-ready next fire times (for logs and /healthz)."""
        return [
            {"job": j.id, "cron": j.cron, "tz": str(j.tz), "next": t.isoformat(), "running": j.id in self.running}
            for j, t in self.next_runs()
        ]

    def trigger(self, job_id: str, trigger: str = "web") -> bool:
        """Run a job now (on demand); False if unknown or still running."""
        job = self._jobs.get(job_id)
        if job is None:
            return False
        return self._fire(job, self._now().astimezone(job.tz), trigger)

    def _fire(self, job: Job, slot: datetime, trigger: str = "schedule") -> bool:
        if job.id in self.running:
            self.skipped[job.id] = self.skipped.get(job.id, 0) + 1
            log.warning("schedule.skipped", job=job.id, slot=slot.isoformat(), reason="previous run still running")
            return False
        if self._tg is None:
            raise RuntimeError("scheduler is not running")
        self.running.add(job.id)
        self.fired[job.id] = self.fired.get(job.id, 0) + 1
        self._tg.start_soon(self._run_job, job, slot, trigger)
        return True

    async def _run_job(self, job: Job, slot: datetime, trigger: str = "schedule") -> None:
        event = ScheduleFired(job.id, job.kind, job.name, slot.isoformat(), dict(job.params), trigger)
        log.info("schedule.fired", job=job.id, slot=slot.isoformat(), trigger=trigger)
        began = time.monotonic()
        try:
            if not self.bus.subscribers(event):
                log.warning("schedule.unhandled", job=job.id, hint=f"no plugin handles {job.kind} jobs yet")
            await self.bus.publish(event)
        except PublishError as exc:
            log.error("schedule.failed", job=job.id, error=str(exc))
        finally:
            self.running.discard(job.id)
            log.info("job.finished", job=job.id, trigger=trigger, seconds=round(time.monotonic() - began, 2))

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            last = self._now()
            try:
                while True:
                    now = self._now()
                    if now < last:  # the wall clock went back: plan again from here
                        for job in self._jobs.values():
                            self._next[job.id] = next_fire(job.cron, now.astimezone(job.tz))
                    last = now
                    for job_id, at in list(self._next.items()):
                        if at <= now:
                            job = self._jobs[job_id]
                            self._fire(job, at)
                            self._next[job_id] = next_fire(job.cron, now.astimezone(job.tz))
                    delay = min([(t - now).total_seconds() for t in self._next.values()] + [MAX_SLEEP])
                    self._wake = anyio.Event()
                    await self.clock.wait(max(delay, 0.0), self._wake)
            finally:
                self._tg = None
