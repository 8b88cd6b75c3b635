"""What every capture operation works with: config, plugins, state, the store and the bus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crosswatch.captures.store import CaptureStore
from crosswatch.config import Config
from crosswatch.events import Event
from crosswatch.plugins import PluginHost
from crosswatch.profiles import Profile, resolve_profile
from crosswatch.state import StateDir


def _silent(_: str) -> None:
    pass


@dataclass
class CaptureContext:
    """One config directory's captures, with the plugins that provide and observe them."""

    config: Config
    host: PluginHost
    bus: Any = None  # an EventBus in the daemon; None in a one-shot command
    say: Callable[[str], None] = field(default=_silent)  # progress lines for a person

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

    def emit(self, event: Event) -> None:
        if self.bus is not None:
            self.bus.emit(event)
