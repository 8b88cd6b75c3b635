"""What every job (a capture, a restore, a tool, a sync) works with: config, plugins, state, the store and the bus."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from crosswatch.captures.store import CaptureStore
from crosswatch.config import Config
from crosswatch.events import Event, WriteStarting
from crosswatch.plugins import PluginHost
from crosswatch.profiles import Profile, resolve_profile
from crosswatch.recording import Recording, recorded
from crosswatch.state import StateDir


def _silent(_: str) -> None:
    pass


@dataclass
class JobContext:
    """One config directory, with the plugins that provide and observe what its jobs do."""

    config: Config
    host: PluginHost
    bus: Any = None  # an EventBus in the daemon; None in a one-shot command
    say: Callable[[str], None] = field(default=_silent)  # progress lines for a person
    trigger: str = "command"  # what started the jobs run with it: command, schedule or web (the run history)

    @property
    def state(self) -> StateDir:
        return StateDir(self.config.config_dir)

    @property
    def store(self) -> CaptureStore:
        return CaptureStore(self.config.config_dir)

    def profile(self, provider: str, profile: str | None = None) -> Profile:
        return resolve_profile(self.config, self.host.providers, provider, profile)

    async def publish(self, event: Event) -> None:
        """Publish ``event`` and wait for every subscriber (no-op without a bus)."""
        if self.bus is not None:
            await self.bus.publish(event)

    @contextlib.asynccontextmanager
    async def guarded(self, starting: WriteStarting) -> AsyncIterator[Any]:
        """Hold the listeners' pause (``starting``, then its ``*Finished``) while the block writes.

        Set ``ok`` on what it yields when the writing went well. In the daemon the events go on
        its bus; in a command (``DaemonGuard``) to the running daemon as a renewed lease.
        """
        from crosswatch.listener_pause import Outcome, hold_in_process

        hold = getattr(self.bus, "hold", None)
        if hold is not None:
            async with hold(starting) as outcome:
                yield outcome
        elif self.bus is not None:
            async with hold_in_process(self.bus, starting) as outcome:
                yield outcome
        else:
            yield Outcome()

    def recorded(self, job: str, kind: str, **subject: Any) -> contextlib.AbstractAsyncContextManager[Recording]:
        """Record the block as a run of ``job`` in the run history (see :mod:`crosswatch.recording`)."""
        return recorded(self.config, job, kind, self.trigger, **subject)

    def emit(self, event: Event) -> None:
        if self.bus is not None:
            self.bus.emit(event)
