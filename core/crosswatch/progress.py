"""Progress of long work: bars on a terminal, plain lines in a pipe, log lines in the daemon.

Part of the plugin contract. A provider reports its reads and writes without being handed
anything; the core installs a reporter for the work it runs (a command, a daemon job)::

    from crosswatch import progress

    bar = progress.task("TRAKT history: writing", total=len(items))
    for batch in batches:
        ...
        bar.advance(len(batch))
    bar.done()                        # or: with progress.task(...) as bar: ...

With no reporter installed :func:`task` returns a shared no-op handle, so reporting costs
nothing. The ETA comes from the pace observed so far. See docs/progress.md.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence, Sized
from contextvars import ContextVar
from typing import Any, TextIO, TypeVar

#: seconds between two plain progress lines of one task (stderr not a terminal); default 5
INTERVAL_ENV = "CROSSWATCH_PROGRESS_INTERVAL"
#: seconds between two ``job.progress`` log lines of one daemon job's task; default 10
LOG_INTERVAL_ENV = "CROSSWATCH_PROGRESS_LOG_INTERVAL"
PLAIN_INTERVAL_S = 5.0
LOG_INTERVAL_S = 10.0

Clock = Callable[[], float]
T = TypeVar("T")


class Task:
    """One piece of long work: ``count`` of ``total`` (None: not known) ``unit`` done."""

    def __init__(self, reporter: Reporter, what: str, total: int | None, unit: str, started: float) -> None:
        self.reporter = reporter
        self.what = what
        self.total = total
        self.unit = unit
        self.count = 0
        self.started = started
        self.last_said = started  # when this task's last line was written (plain and log reporters)
        self.said = False
        self.finished = False
        self.handle: Any = None  # the renderer's own id for it

    def advance(self, n: int = 1) -> None:
        """``n`` more units done."""
        if n and not self.finished:
            self.count += n
            self.reporter.advanced(self)

    def done(self) -> None:
        """The work is over (whether or not every unit was done); calling it again does nothing."""
        if not self.finished:
            self.finished = True
            self.reporter.finished(self)

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *_: object) -> None:
        self.done()

    def eta(self, now: float) -> float | None:
        """Seconds left at the pace so far; None before the first unit or without a total."""
        elapsed = now - self.started
        if self.total is None or self.count <= 0 or elapsed <= 0:
            return None
        return max(self.total - self.count, 0) * elapsed / self.count

    def line(self, now: float) -> str:
        """``TRAKT history: writing 1200/2739 (44%), ETA 16s``."""
        unit = "" if self.unit == "items" else f" {self.unit}"
        if self.total is None:
            text = f"{self.what} {self.count}{unit or ' items'}"
        else:
            percent = 100 * self.count // self.total if self.total else 100
            text = f"{self.what} {self.count}/{self.total}{unit} ({percent}%)"
        if self.finished:
            return f"{text}, took {duration(now - self.started)}"
        eta = None if self.total is not None and self.count >= self.total else self.eta(now)
        return text if eta is None else f"{text}, ETA {duration(eta)}"


class _NoTask:
    """What :func:`task` returns when nobody is watching: every call does nothing."""

    def advance(self, n: int = 1) -> None:
        pass

    def done(self) -> None:
        pass

    def __enter__(self) -> _NoTask:
        return self

    def __exit__(self, *_: object) -> None:
        pass


NO_TASK = _NoTask()
_reporter: ContextVar[Reporter | None] = ContextVar("crosswatch_progress", default=None)
_wanted: ContextVar[bool] = ContextVar("crosswatch_progress_wanted", default=True)


def task(what: str, total: int | None = None, unit: str = "items") -> Task | _NoTask:
    """Start reporting a piece of work (``what`` reads as "PROVIDER feature: verb")."""
    reporter = _reporter.get()
    if reporter is None:
        return NO_TASK
    return reporter.start(what, total, unit)


def batches(what: str, batches: Sequence[Sized], unit: str = "items") -> Iterator[Any]:
    """Each of ``batches`` in turn, as a task of their summed length.

    The task advances by a batch's length once the loop's body for it is over (``continue``
    included) and ends with the loop, however the loop ends.
    """
    bar = task(what, total=sum(len(b) for b in batches), unit=unit)
    try:
        for batch in batches:
            yield batch
            bar.advance(len(batch))
    finally:
        bar.done()


def each(what: str, items: Sequence[T], unit: str = "items") -> Iterator[T]:
    """Each of ``items`` in turn, as a task that advances by one per item (see :func:`batches`)."""
    bar = task(what, total=len(items), unit=unit)
    try:
        for item in items:
            yield item
            bar.advance(1)
    finally:
        bar.done()


@contextlib.contextmanager
def reporting(reporter: Reporter | None) -> Iterator[Reporter | None]:
    """Install ``reporter`` for the block (None: no progress); it is closed at the end."""
    token = _reporter.set(reporter)
    try:
        yield reporter
    finally:
        _reporter.reset(token)
        if reporter is not None:
            reporter.close()


@contextlib.contextmanager
def wanted(on: bool) -> Iterator[None]:
    """Whether the commands run inside the block show progress (``--no-progress`` turns it off)."""
    token = _wanted.set(on)
    try:
        yield
    finally:
        _wanted.reset(token)


def duration(seconds: float) -> str:
    """``16s``, ``8m05s``, ``2h03m``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value >= 0 else default


class Reporter:
    """Where tasks go; subclasses render them. ``clock`` is injectable for tests."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.active: list[Task] = []

    def start(self, what: str, total: int | None, unit: str) -> Task:
        started = Task(self, what, total, unit, self.clock())
        self.active.append(started)
        self.begun(started)
        return started

    def begun(self, task: Task) -> None:
        pass

    def advanced(self, task: Task) -> None:
        pass

    def finished(self, task: Task) -> None:
        if task in self.active:
            self.active.remove(task)

    def close(self) -> None:
        for open_task in list(self.active):
            open_task.done()


class Paced(Reporter):
    """Says a task's state when ``interval`` seconds passed since it was last said (or began).

    Short work says nothing; long work ends with one "took" line.
    """

    def __init__(self, interval: float, clock: Clock = time.monotonic) -> None:
        super().__init__(clock)
        self.interval = interval

    def advanced(self, task: Task) -> None:
        now = self.clock()
        if now - task.last_said >= self.interval:
            task.last_said = now
            task.said = True
            self.say(task, now)

    def finished(self, task: Task) -> None:
        super().finished(task)
        if task.said:
            self.say(task, self.clock())

    def say(self, task: Task, now: float) -> None:
        raise NotImplementedError


class PlainReporter(Paced):
    """Plain lines on ``stream`` (stderr that is not a terminal): no control codes."""

    def __init__(self, stream: TextIO, interval: float | None = None, clock: Clock = time.monotonic) -> None:
        super().__init__(_seconds(INTERVAL_ENV, PLAIN_INTERVAL_S) if interval is None else interval, clock)
        self.stream = stream

    def say(self, task: Task, now: float) -> None:
        self.stream.write(task.line(now) + "\n")
        self.stream.flush()


class LogReporter(Paced):
    """The daemon's: a structlog ``job.progress`` info line per task about every ``interval`` s."""

    def __init__(
        self, logger: Any, interval: float | None = None, clock: Clock = time.monotonic, **fields: Any
    ) -> None:
        super().__init__(_seconds(LOG_INTERVAL_ENV, LOG_INTERVAL_S) if interval is None else interval, clock)
        self.logger = logger
        self.fields = fields  # the job's own (kind, pair, schedule, ...)

    def say(self, task: Task, now: float) -> None:
        eta = None if task.finished else task.eta(now)
        self.logger.info(
            "job.progress",
            **self.fields,
            what=task.what,
            done=task.count,
            total=task.total,
            unit=task.unit,
            percent=None if not task.total else round(100 * task.count / task.total, 1),
            eta_s=None if eta is None else round(eta, 1),
            elapsed_s=round(now - task.started, 1),
            finished=task.finished,
        )


class BarReporter(Reporter):
    """rich progress bars on a terminal, shown while work is under way.

    The bars are live from the first task until the last open one is done, then stay on the
    screen as they ended. Lines written to stderr meanwhile (``ctx.say``) print above them.
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        super().__init__(clock)
        self.bars: Any = None

    def begun(self, task: Task) -> None:
        if self.bars is None:
            self.bars = _bars()
            self.bars.start()
        task.handle = self.bars.add_task(task.what, total=task.total, unit=_unit(task.unit))

    def advanced(self, task: Task) -> None:
        if self.bars is not None:
            self.bars.update(task.handle, completed=task.count)

    def finished(self, task: Task) -> None:
        super().finished(task)
        if self.bars is None:
            return
        self.bars.update(task.handle, completed=task.count)
        if not self.active:
            self.bars.stop()
            self.bars = None


def _unit(unit: str) -> str:
    return "" if unit == "items" else unit


def _bars() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TaskProgressColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        redirect_stdout=sys.stdout.isatty(),  # a piped stdout must stay the command's output alone
        redirect_stderr=True,
    )


def for_command(stream: TextIO | None = None) -> Reporter | None:
    """The reporter for a command: bars on a terminal, plain lines otherwise, none with ``--no-progress``."""
    if not _wanted.get():
        return None
    out = stream or sys.stderr
    try:
        terminal = out.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if terminal and os.environ.get("TERM") != "dumb":
        return BarReporter()
    return PlainReporter(out)
