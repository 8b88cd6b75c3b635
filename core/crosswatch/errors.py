"""crosswatch's own errors, and which failures are *faults*: told in one line, never a traceback.

Every error crosswatch raises on purpose derives from :class:`CrosswatchError`; its message
is written for a person (what failed, and where: a file, a line, a request)::

    CrosswatchError
    ├── ConfigError        config.toml or schedules.toml is invalid    crosswatch.config.types
    ├── CronError          a schedule that never fires (a ValueError)  crosswatch.cron
    ├── ProfileError       a provider profile that is not configured   crosswatch.profiles
    ├── StateError         a file under .cw_state cannot be used       crosswatch.state
    │   └── CorruptStateFile
    ├── CaptureError       a capture file cannot be used or written    crosswatch.captures.format
    ├── PairError          a sync pair cannot run                      crosswatch.sync.pairs
    ├── PlanError          a saved sync plan cannot be applied         crosswatch.sync.planfile
    ├── GuardError         the daemon refused a writer, or went silent crosswatch.listener_pause
    ├── PluginError        a plugin broke the contract (at load)      crosswatch.plugins
    └── ProviderError      a provider cannot do what was asked         crosswatch.errors
        └── HttpError      a request failed for good (after retries)   crosswatch.http
            ├── OutcomeUnknown a write that may or may not have been applied
            ├── SignInError    a sign-in is missing, expired or refused
            ├── TraktError                                             crosswatch_trakt.errors
            │   ├── TraktAuthError (also a SignInError)
            │   └── AccountLimit
            ├── PlexError                                              crosswatch_plex.client
            │   └── PlexSignInError (also a SignInError)
            └── PlexAuthError                                          crosswatch_plex.auth

A provider plugin raises ``ProviderError`` (or one of its subclasses) for any failure it
can explain: the message is printed as it is, one line, and recorded in the run history.
Each class keeps the other bases it had (``CronError`` is still a ``ValueError``), so what
caught it before still does. A *fault* is one of these, an ``OSError`` (a file, a socket, a
full disk) or an ``httpx.HTTPError`` (a network fault no adapter wrapped), or an exception
group (concurrent reads, e.g. Trakt's pages) holding nothing else. The command line prints a
fault as ``crosswatch: <message>`` and exits 1; a daemon job logs it as one error line.
Anything else is a bug: one ``internal error`` line, the traceback with ``-v``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator


class CrosswatchError(Exception):
    """A failure crosswatch expects and explains: its message is for the person running it."""


class ProviderError(CrosswatchError):
    """A provider cannot do what was asked; the message says what and where, for a person.

    Plugins raise it (``raise ProviderError("CSV: line 12: not a date: 'soon'")``) instead of
    a bare ``RuntimeError``, which core reports as an internal error with a traceback.
    """


class PluginError(CrosswatchError):
    """A plugin breaks the contract in a way found when it is loaded (the plugin is left out)."""


def fault_types() -> tuple[type[BaseException], ...]:
    """What counts as a fault: crosswatch's errors, OSError, and httpx's errors once httpx is loaded."""
    httpx = sys.modules.get("httpx")  # an httpx error cannot exist before httpx was imported
    return (CrosswatchError, OSError) + ((httpx.HTTPError,) if httpx is not None else ())


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions in ``exc``: itself, or every exception nested in an exception group."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc


def causes(exc: BaseException, limit: int = 8) -> Iterator[BaseException]:
    """``exc`` and what caused it (``__cause__``, else ``__context__``), outermost first, ``limit`` deep."""
    seen: BaseException | None = exc
    for _ in range(limit):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def describe(exc: BaseException) -> list[str]:
    """The message of one exception as lines (a ConfigError has one per issue); never empty."""
    text = [line.strip() for line in str(exc).splitlines() if line.strip()]
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(exc, httpx.HTTPError):
        # httpx's own messages ("[Errno 111] Connection refused") do not say what was asked
        try:
            where = f"{exc.request.method} {exc.request.url}"
        except RuntimeError:  # no request attached
            where = ""
        first = text[0] if text else type(exc).__name__
        text = [f"{where}: {first}" if where else first, *text[1:]]
    return text or [type(exc).__name__]


def fault_lines(exc: BaseException) -> list[str] | None:
    """Each distinct message line of a fault (or of a group of only faults); None for anything else."""
    found = list(leaves(exc))
    kinds = fault_types()
    if not found or not all(isinstance(e, kinds) for e in found):
        return None
    return list(dict.fromkeys(line for e in found for line in describe(e)))


def unexpected(exc: BaseException) -> BaseException:
    """The exception to name for a failure that is not a fault: the first leaf that is not one."""
    kinds = fault_types()
    return next((e for e in leaves(exc) if not isinstance(e, kinds)), exc)


def fault_message(exc: BaseException) -> str | None:
    """A fault's messages as one line (``; `` between them), for a log line; None for anything else."""
    lines = fault_lines(exc)
    return "; ".join(lines) if lines is not None else None
