"""Named crash points: where the fault suite stops crosswatch to prove what a crash there leaves.

Every write boundary calls :func:`crash_point` with a name (``http.write.before``,
``state.replace.after``, ...). Normally nothing happens (one environment lookup, cached). The
fault suite sets:

- ``CROSSWATCH_CRASH_AT=<name>#<n>``: the process kills itself at the n-th crossing of
  ``<name>`` (``#1`` when left out), with ``SIGKILL`` or the signal named by
  ``CROSSWATCH_CRASH_SIGNAL`` (``TERM``: what ``systemctl stop`` sends);
- ``CROSSWATCH_CRASH_LOG=<file>``: each crossing appends ``<name>\\t<detail>`` to the file, so a
  test can count the boundaries of an operation before choosing where to stop it.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field

AT = "CROSSWATCH_CRASH_AT"
SIGNAL = "CROSSWATCH_CRASH_SIGNAL"
LOG = "CROSSWATCH_CRASH_LOG"


@dataclass
class _Plan:
    name: str = ""
    nth: int = 0
    signum: int = signal.SIGKILL
    log: str = ""
    seen: dict[str, int] = field(default_factory=dict)


_plan: _Plan | None = None


def _load() -> _Plan:
    spec = os.environ.get(AT, "")
    name, _, nth = spec.partition("#")
    signum = getattr(signal, "SIG" + os.environ.get(SIGNAL, "KILL").upper().removeprefix("SIG"), signal.SIGKILL)
    return _Plan(name=name, nth=int(nth or 1) if name else 0, signum=signum, log=os.environ.get(LOG, ""))


def crash_point(name: str, detail: str = "") -> None:
    """A write boundary called ``name``; the fault suite may stop the process here."""
    global _plan
    if _plan is None:
        _plan = _load()
    plan = _plan
    if not plan.name and not plan.log:
        return
    if plan.log:
        with open(plan.log, "a", encoding="utf-8") as fh:
            fh.write(f"{name}\t{detail}\n")
    if name != plan.name:
        return
    plan.seen[name] = plan.seen.get(name, 0) + 1
    if plan.seen[name] == plan.nth:
        os.kill(os.getpid(), plan.signum)


def reset() -> None:
    """Read the environment again (tests that change it in-process)."""
    global _plan
    _plan = None
