"""The daemon's side of capture schedules: a fired schedule takes its capture, then prunes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import anyio
import structlog

from crosswatch.captures.create import create_capture
from crosswatch.captures.retention import prune_recorded
from crosswatch.config import Config
from crosswatch.config.schema import CaptureSchedule
from crosswatch.errors import fault_message
from crosswatch.events import ScheduleFired
from crosswatch.jobs import JobContext
from crosswatch.plugins import PluginHost

log = structlog.get_logger("crosswatch.captures")


def render_label(schedule: CaptureSchedule, when: datetime) -> str:
    """The schedule's ``label_template`` with ``{provider} {profile} {feature} {date} {time}`` filled in."""
    name, _, profile = schedule.provider.partition(".")
    values = {
        "provider": name,
        "profile": profile or "default",
        "feature": schedule.feature,
        "date": when.strftime("%Y-%m-%d"),
        "time": when.strftime("%H-%M"),
    }
    try:
        return schedule.label_template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        log.warning("capture.label_template", schedule=schedule.job_name, error=str(exc))
        return f"auto-{name}-{schedule.feature}-{values['date']}"


class ScheduledCaptures:
    """Subscribed to ``ScheduleFired``: runs capture jobs one at a time."""

    def __init__(self, host: PluginHost, config: Callable[[], Config], bus: object) -> None:
        self.host = host
        self.config = config
        self.bus = bus
        self._lock = anyio.Lock()

    async def on_fired(self, event: ScheduleFired) -> None:
        if event.kind != "capture":
            return
        config = self.config()
        schedule = next((s for s in config.captures.schedules if s.job_name == event.params.get("schedule")), None)
        if schedule is None:
            return
        async with self._lock:
            await self.run(config, schedule, event.trigger)

    async def run(self, config: Config, schedule: CaptureSchedule, trigger: str = "schedule") -> bool:
        ctx = JobContext(config, self.host, self.bus, trigger=trigger)
        label = render_label(schedule, datetime.now().astimezone())
        try:
            written = await create_capture(
                ctx, schedule.provider, schedule.feature, label=label, kind="auto", schedule=schedule.job_name
            )
        except Exception as exc:  # a fault (or a group of them, from concurrent reads) is one line
            error = fault_message(exc)
            if error is None:
                raise
            log.error("capture.scheduled_failed", schedule=schedule.job_name, error=error)
            return False
        log.info("capture.scheduled", schedule=schedule.job_name, path=written[0].rel)
        if schedule.cleanup:
            try:
                results = await prune_recorded(ctx, [schedule], f"prune:{schedule.job_name}")
            except Exception as exc:
                error = fault_message(exc)
                if error is None:
                    raise
                log.error("capture.prune_failed", schedule=schedule.job_name, error=error)
                return True
            for result in results:
                if result.deleted:
                    log.info("capture.pruned", schedule=result.schedule, deleted=result.deleted)
        return True
