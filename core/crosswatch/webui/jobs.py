"""Long actions started from a page (restore, sync apply) run as daemon jobs.

A job runs in the daemon's task group with a :class:`WebContext`: the daemon's bus (so the
listeners' guard pauses exactly as for a command) and ``trigger="web"``, so core's own code
records it in the run history. One job of a kind at a time; the page then follows the run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from crosswatch.errors import fault_message
from crosswatch.jobs import JobContext
from crosswatch.recording import Recording
from crosswatch.webui.app import UI, WebError

log = structlog.get_logger("crosswatch.web")
#: how long a POST waits for its job's run row (or its end) before showing the jobs' page
WAIT_S = 30.0


@dataclass
class Job:
    """One long action: its run (once recorded), and how it ended."""

    kind: str
    what: str
    started: float = field(default_factory=time.time)
    run_id: int | None = None
    done: bool = False
    error: str | None = None  # a fault before or outside the recorded run
    outcome: Any = None  # what the work returned
    changed: anyio.Event = field(default_factory=anyio.Event)

    def _tell(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()


@dataclass
class WebContext(JobContext):
    """A JobContext that tells its job when core records the run."""

    job: Job | None = None

    @contextlib.asynccontextmanager
    async def recorded(self, job: str, kind: str, **subject: Any) -> AsyncIterator[Recording]:
        async with super().recorded(job, kind, **subject) as recording:
            if self.job is not None and recording.run is not None:
                self.job.run_id = recording.run.id
                self.job._tell()
            yield recording


class Jobs:
    """The dashboard's running jobs, by kind."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.running: dict[str, Job] = {}

    def context(self, job: Job) -> WebContext:
        return WebContext(self.ui.config(), self.ui.host, self.ui.bus, trigger="web", job=job)

    def start(self, kind: str, what: str, work: Callable[[WebContext], Awaitable[Any]]) -> Job:
        """Start ``work`` in the daemon's task group; WebError(409) while a job of ``kind`` runs."""
        current = self.running.get(kind)
        if current is not None and not current.done:
            raise WebError(409, f"A {kind} started from the dashboard is still running ({current.what}); wait for it.")
        tasks = getattr(self.ui.daemon, "tasks", None)
        if tasks is None:
            raise WebError(503, "The daemon is not ready to run jobs yet; retry in a moment.")
        job = Job(kind, what)
        self.running[kind] = job
        tasks.start_soon(self._run, job, work)
        return job

    async def _run(self, job: Job, work: Callable[[WebContext], Awaitable[Any]]) -> None:
        try:
            job.outcome = await work(self.context(job))
        except Exception as exc:
            job.error = fault_message(exc) or f"internal error: {type(exc).__name__}"
            if fault_message(exc) is None:
                log.exception("web.job_failed", kind=job.kind, what=job.what)
        finally:
            job.done = True
            job._tell()

    @staticmethod
    async def settled(job: Job, timeout: float = WAIT_S) -> Job:
        """Wait until ``job`` has its run row or has ended (or ``timeout``)."""
        with anyio.move_on_after(timeout):
            while job.run_id is None and not job.done:
                await job.changed.wait()
        return job


def jobs_for(ui: UI) -> Jobs:
    """The one Jobs of this dashboard (made on first use)."""
    found = getattr(ui, "_web_jobs", None)
    if found is None:
        found = Jobs(ui)
        ui._web_jobs = found  # type: ignore[attr-defined]
    return found
