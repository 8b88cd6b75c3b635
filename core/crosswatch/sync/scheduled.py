"""The daemon's side of sync pairs: a pair's schedule fired, so run it (and say why not)."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from crosswatch.config import Config
from crosswatch.errors import fault_message
from crosswatch.events import ScheduleFired
from crosswatch.jobs import JobContext
from crosswatch.plugins import PluginHost
from crosswatch.sync.engine import run_pair
from crosswatch.sync.pairs import find_pair, resolve_pairs
from crosswatch.sync.report import summary_rows

log = structlog.get_logger("crosswatch.sync")


def check_pairs(config: Config, host: PluginHost) -> list[str]:
    """Log every pair that cannot run (a missing profile, a feature a provider lacks, ...)."""
    if not config.pairs:
        return []
    _, errors = resolve_pairs(config, host.providers)
    for error in errors:
        log.error("sync.pair_invalid", error=error)
    return errors


class ScheduledSyncs:
    """Subscribed to ``ScheduleFired``: runs a pair's scheduled sync."""

    def __init__(self, host: PluginHost, config: Callable[[], Config], bus: object) -> None:
        self.host = host
        self.config = config
        self.bus = bus

    async def on_fired(self, event: ScheduleFired) -> None:
        if event.kind != "sync":
            return
        config = self.config()
        ctx = JobContext(config, self.host, self.bus, trigger=event.trigger)
        name = str(event.params.get("pair"))
        try:
            pair = find_pair(config, self.host.providers, name)
            report = await run_pair(ctx, pair)
        except Exception as exc:  # a fault (or a group of them, from concurrent reads) is one line
            error = fault_message(exc)
            if error is None:
                raise
            log.error("sync.failed", pair=name, error=error)
            return
        for row in summary_rows(report):
            log.info("sync.summary", pair=name, **row)
        for reason in report.refused:
            log.warning("sync.refused", pair=name, reason=reason)
