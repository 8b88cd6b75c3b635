"""Commands that write stop cleanly on SIGTERM, SIGHUP and SIGINT.

A ``systemctl stop`` of a unit that runs a command, a closed terminal, or Ctrl+C cancels the
work the way the daemon cancels a job: every ``finally`` runs (shielded where it must), so a
writer's ``*Finished`` reaches the daemon and the run says what it did not finish. What was
about to be written is on record before it was sent (the write-ahead journal), so even a
``SIGKILL`` leaves nothing that a later run would take for a person's change.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import anyio.abc

from crosswatch import progress

T = TypeVar("T")
SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
BACKEND = "CROSSWATCH_BACKEND"  # asyncio (default) or trio, for commands as for `run --backend`


class Interrupted(Exception):
    """A signal stopped the command; what it had written is recorded."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name} before the work was done; what was written is recorded")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def run_async(work: Callable[[], Awaitable[T]]) -> T:
    """``anyio.run(work)``, cancelled by SIGTERM/SIGHUP/SIGINT (then :class:`Interrupted` is raised).

    Progress that the work reports (:mod:`crosswatch.progress`) is shown on stderr meanwhile.
    """
    received: list[int] = []
    done: list[T] = []
    failed: list[BaseException] = []

    async def main() -> None:
        async with anyio.create_task_group() as tg:

            async def body() -> None:
                try:
                    done.append(await work())
                except Exception as exc:  # raised as it is after the group, not inside a group
                    failed.append(exc)
                tg.cancel_scope.cancel()

            if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
                await tg.start(_watch, tg.cancel_scope, received)
            tg.start_soon(body)

    with progress.reporting(progress.for_command()):  # the providers' reads and writes, shown on stderr
        anyio.run(main, backend=os.environ.get(BACKEND, "asyncio"))
    if received:
        raise Interrupted(received[0])
    if failed:
        raise failed[0]
    return done[0]


async def _watch(
    scope: anyio.CancelScope,
    received: list[int],
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    with anyio.open_signal_receiver(*SIGNALS) as signals:
        task_status.started()
        async for signum in signals:
            received.append(signum)
            scope.cancel()
            return
