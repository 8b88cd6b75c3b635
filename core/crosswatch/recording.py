"""A job as it runs: its row in the run history, and who is told when it ends.

Every job (the command line's and the daemon's alike) runs inside :func:`recorded`: the row is
written ``running`` before the job's first write, and finished with the job's result, counts,
requests, error line and safety captures. Then the job's notification targets are told (see
:mod:`crosswatch.notify`) and in-process listeners (the daemon's metrics) see the run.

How a job ends decides its result: normally ``ok`` (or what the job set on its
:class:`Recording`); a :class:`~crosswatch.listener_pause.GuardError` is ``refused``; a cancellation
(SIGTERM, Ctrl-C) is ``interrupted``; any other exception is ``failed`` with its one-line
message. A failed sign-in inside a job is also recorded on its own, as a ``sign-in`` run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from crosswatch.config import Config
from crosswatch.errors import fault_message, leaves
from crosswatch.runs import Run, RunHistory
from crosswatch.state import StateDir

log = structlog.get_logger("crosswatch.recording")

_listeners: list[Callable[[Run], None]] = []


def on_finished(listener: Callable[[Run], None]) -> Callable[[], None]:
    """Call ``listener`` with every run this process finishes; returns a function that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


@dataclass
class Recording:
    """What a job tells its row before it ends (all optional)."""

    counts: dict[str, int] = field(default_factory=dict)
    requests: int | None = None
    safety: list[str] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)  # rows of the job's summary table
    problems: list[dict[str, Any]] = field(default_factory=list)  # items not written, with why
    result: str | None = None  # None: "ok" when the block ends normally
    error: str | None = None
    run: Run | None = None

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def history(config: Config) -> RunHistory:
    return RunHistory(StateDir(config.config_dir), config.history)


def sign_in_failures(exc: BaseException) -> list[Any]:
    """The sign-in errors inside ``exc`` (an exception group included)."""
    from crosswatch.http import SignInError

    return [e for e in leaves(exc) if isinstance(e, SignInError)]


def _failure_line(exc: BaseException) -> str:
    message = fault_message(exc)
    if message is not None:
        return message
    return f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}".rstrip(": ")


async def _quietly(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a history write in a worker thread; a failure is a warning, never the job's failure."""
    try:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
    except Exception as exc:
        log.warning("runs.unrecorded", what=what, error=str(exc))
        return None


@contextlib.asynccontextmanager
async def recorded(
    config: Config,
    job: str,
    kind: str,
    trigger: str = "command",
    **subject: Any,
) -> AsyncIterator[Recording]:
    """Record the block as one run of ``job``; see the module docstring for how it ends."""
    runs = history(config)
    await _quietly("sweep", runs.sweep)
    recording = Recording()
    recording.run = await _quietly("start", runs.start, job, kind, trigger, **subject)
    failure: BaseException | None = None
    try:
        yield recording
    except BaseException as exc:
        failure = exc
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await _finish(config, runs, recording, failure, trigger, subject)


def _result_of(recording: Recording, failure: BaseException | None) -> tuple[str, str | None]:
    from crosswatch.commands.stopping import Interrupted
    from crosswatch.listener_pause import GuardError
    from crosswatch.state import Busy

    if failure is None:
        return recording.result or "ok", recording.error
    cancelled = anyio.get_cancelled_exc_class()
    if isinstance(failure, (cancelled, Interrupted, KeyboardInterrupt)):
        return "interrupted", "stopped (a signal or Ctrl-C) before the job ended"
    if isinstance(failure, BaseExceptionGroup) and failure.subgroup(lambda e: isinstance(e, cancelled)):
        return "interrupted", "stopped (a signal or Ctrl-C) before the job ended"
    if isinstance(failure, (GuardError, Busy)):
        return "refused", _failure_line(failure)
    return "failed", _failure_line(failure)


async def _finish(
    config: Config,
    runs: RunHistory,
    recording: Recording,
    failure: BaseException | None,
    trigger: str,
    subject: dict[str, Any],
) -> None:
    run = recording.run
    if run is None:  # the history could not be written; the job itself went on
        return
    result, error = _result_of(recording, failure)
    previous = await _quietly(
        "finish",
        runs.finish,
        run,
        result,
        counts=recording.counts,
        requests=recording.requests,
        error=error,
        safety=recording.safety,
        summary=recording.summary,
        problems=recording.problems,
    )
    await _told(config, run, previous)
    for problem in sign_in_failures(failure) if failure is not None else []:
        provider = getattr(problem, "provider", None) or subject.get("provider")
        profile = getattr(problem, "profile", None) or subject.get("profile") or "default"
        recorded_signin = await _quietly(
            "sign-in",
            runs.record,
            f"sign-in:{provider}.{profile}",
            "sign-in",
            trigger,
            "failed",
            error=str(problem),
            provider=provider,
            profile=profile,
        )
        if recorded_signin is not None:
            await _told(config, *recorded_signin)


async def _told(config: Config, run: Run, previous: str | None) -> None:
    for listener in list(_listeners):
        try:
            listener(run)
        except Exception as exc:  # a listener's bug must not fail the job
            log.warning("runs.listener_failed", error=repr(exc))
    try:
        from crosswatch.notify import notify_run
    except ImportError:  # notifications not built in this tree
        return
    await notify_run(config, run, previous)
