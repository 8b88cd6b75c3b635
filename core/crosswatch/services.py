"""Long-running plugin services in the daemon's task group, each plugin's under its own scope.

A service that raises is logged and restarted with backoff (a bug in one plugin must not
take the daemon down); disabling a plugin by a config reload cancels its services.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from crosswatch.bus import BusView
from crosswatch.config import Config
from crosswatch.provider import ProviderRegistry
from crosswatch.state import StateDir

log = structlog.get_logger("crosswatch.services")

RESTART_BACKOFF = (1.0, 2.0, 5.0, 15.0, 60.0)
HEALTHY_S = 300.0  # a service that ran this long before crashing is restarted at once again
_now = time.monotonic


@dataclass
class ServiceContext:
    """What a plugin's service gets: the config in force, its bus view, state and providers."""

    plugin: str
    bus: BusView
    state: StateDir
    providers: ProviderRegistry
    get_config: Callable[[], Config]

    @property
    def config(self) -> Config:
        return self.get_config()


class ServiceSupervisor:
    """Runs each plugin's services under a cancel scope of its own."""

    def __init__(self, tg: anyio.abc.TaskGroup) -> None:
        self._tg = tg
        self._scopes: dict[str, anyio.CancelScope] = {}
        self.restarts: dict[str, int] = {}
        self.crashes: dict[str, tuple[int, float]] = {}  # service -> (crashes in a row, wall time of the last)

    def start(self, plugin: str, services: list[Callable[[ServiceContext], Any]], ctx: ServiceContext) -> None:
        if not services or plugin in self._scopes:
            return
        scope = anyio.CancelScope()
        self._scopes[plugin] = scope
        self._tg.start_soon(self._run_plugin, plugin, services, ctx, scope)

    def stop(self, plugin: str) -> None:
        scope = self._scopes.pop(plugin, None)
        if scope is not None:
            scope.cancel()

    def running(self) -> list[str]:
        return sorted(self._scopes)

    def crash_looping(self, at_least: int = 3) -> dict[str, int]:
        """Services that crashed ``at_least`` times in a row lately (each restart came quickly)."""
        now = time.time()
        return {name: n for name, (n, last) in self.crashes.items() if n >= at_least and now - last < HEALTHY_S}

    async def _run_plugin(self, plugin: str, services: list, ctx: ServiceContext, scope: anyio.CancelScope) -> None:
        with scope:
            async with anyio.create_task_group() as tg:
                for service in services:
                    tg.start_soon(self._keep_running, plugin, service, ctx)

    async def _keep_running(self, plugin: str, service: Callable[[ServiceContext], Any], ctx: ServiceContext) -> None:
        name = f"{plugin}:{getattr(service, '__name__', repr(service))}"
        failures = 0
        while True:
            began = _now()
            try:
                await service(ctx)
                log.info("service.finished", service=name)
                return
            except Exception as exc:
                if _now() - began > HEALTHY_S:
                    failures = 0  # it ran well for a while: this crash starts the backoff afresh
                delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
                failures += 1
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self.crashes[name] = (failures, time.time())
                log.error("service.crashed", service=name, error=repr(exc), restart_in_s=delay)
                await anyio.sleep(delay)
