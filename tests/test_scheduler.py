"""Scheduler: cron slots in a time zone, no job started twice, rebuilds, clock jumps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import pytest

from crosswatch.bus import EventBus
from crosswatch.config import load_config
from crosswatch.events import ScheduleFired
from crosswatch.plugins import PluginHost
from crosswatch.scheduler import Job, Scheduler, jobs_from_config

UTC_ZONE = ZoneInfo("UTC")


class VirtualClock:
    """A clock that jumps: each wait moves virtual time forward by up to ``step`` seconds."""

    def __init__(self, start: datetime, step: float = 30.0) -> None:
        self.t = start
        self.step = step
        self.paused = False

    def now(self) -> datetime:
        return self.t

    async def wait(self, seconds: float, wake: anyio.Event) -> None:
        await anyio.sleep(0.001)
        if not wake.is_set() and not self.paused:
            self.t += timedelta(seconds=min(seconds, self.step))


def _job(job_id: str, cron: str, tz: str = "UTC") -> Job:
    return Job(job_id, "sync", job_id, cron, ZoneInfo(tz), {"pair": job_id})


async def _until(predicate, timeout: float = 30.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.005)


@pytest.mark.anyio
async def test_job_fires_at_its_slot_with_the_event_payload() -> None:
    bus = EventBus()
    seen: list[ScheduleFired] = []
    bus.subscribe(ScheduleFired, seen.append)
    clock = VirtualClock(datetime(2026, 11, 22, 2, 58, 50, tzinfo=UTC))
    scheduler = Scheduler(bus, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run)
        scheduler.set_jobs([_job("sync:nightly", "0 3 * * *")])
        await _until(lambda: seen)
        tg.cancel_scope.cancel()
    assert seen[0].job_id == "sync:nightly"
    assert seen[0].kind == "sync"
    assert seen[0].params == {"pair": "sync:nightly"}
    assert datetime.fromisoformat(seen[0].scheduled_for) == datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.mark.anyio
async def test_a_running_job_is_not_started_twice() -> None:
    bus = EventBus()
    release = anyio.Event()
    active = 0
    most = 0
    runs = 0

    async def slow_job(event: ScheduleFired) -> None:
        nonlocal active, most, runs
        active += 1
        runs += 1
        most = max(most, active)
        await release.wait()
        active -= 1

    bus.subscribe(ScheduleFired, slow_job)
    clock = VirtualClock(datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC))
    scheduler = Scheduler(bus, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run)
        scheduler.set_jobs([_job("sync:busy", "* * * * *")])
        await _until(lambda: scheduler.skipped.get("sync:busy", 0) >= 3)
        assert runs == 1 and "sync:busy" in scheduler.running
        release.set()
        await _until(lambda: runs >= 2)
        tg.cancel_scope.cancel()
    assert most == 1


@pytest.mark.anyio
async def test_trigger_on_demand_respects_a_running_job() -> None:
    bus = EventBus()
    release = anyio.Event()
    runs: list[str] = []

    async def job(event: ScheduleFired) -> None:
        runs.append(event.job_id)
        await release.wait()

    bus.subscribe(ScheduleFired, job)
    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    clock.paused = True
    scheduler = Scheduler(bus, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run)
        scheduler.set_jobs([_job("sync:a", "0 0 1 1 *")])
        assert scheduler.trigger("sync:a") is True
        await _until(lambda: runs)
        assert scheduler.trigger("sync:a") is False  # still running
        assert scheduler.trigger("sync:unknown") is False
        release.set()
        await _until(lambda: not scheduler.running)
        tg.cancel_scope.cancel()
    assert runs == ["sync:a"]


@pytest.mark.anyio
async def test_set_jobs_rebuilds_without_restart() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe(ScheduleFired, lambda e: seen.append(e.job_id))
    clock = VirtualClock(datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC))
    clock.paused = True
    scheduler = Scheduler(bus, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run)
        scheduler.set_jobs([_job("sync:a", "0 12 * * *"), _job("sync:b", "30 10 * * *")])
        before = {j.id: t for j, t in scheduler.next_runs()}
        assert before["sync:b"] == datetime(2026, 11, 22, 10, 30, tzinfo=UTC_ZONE)
        # b removed, a kept, c added: only a and c remain and fire
        scheduler.set_jobs([_job("sync:a", "0 12 * * *"), _job("sync:c", "15 10 * * *")])
        after = {j.id: t for j, t in scheduler.next_runs()}
        assert set(after) == {"sync:a", "sync:c"}
        assert after["sync:a"] == before["sync:a"]
        clock.paused = False
        await _until(lambda: "sync:a" in seen)
        tg.cancel_scope.cancel()
    assert "sync:b" not in seen
    assert seen.index("sync:c") < seen.index("sync:a")


@pytest.mark.anyio
async def test_time_zone_of_the_job_is_honoured() -> None:
    bus = EventBus()
    clock = VirtualClock(datetime(2026, 11, 22, 1, 30, tzinfo=UTC))
    clock.paused = True
    scheduler = Scheduler(bus, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run)
        scheduler.set_jobs([_job("capture:berlin", "0 3 * * *", "Europe/Berlin"), _job("capture:utc", "0 3 * * *")])
        nxt = {j.id: t for j, t in scheduler.next_runs()}
        tg.cancel_scope.cancel()
    assert nxt["capture:berlin"].astimezone(UTC) == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert nxt["capture:utc"].astimezone(UTC) == datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.mark.anyio
async def test_clock_jumps_missed_slots_fire_once_and_backwards_replans() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe(ScheduleFired, lambda e: seen.append(e.scheduled_for))
    clock = VirtualClock(datetime(2026, 11, 22, 10, 30, tzinfo=UTC))
    clock.paused = True
    scheduler = Scheduler(bus, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run)
        scheduler.set_jobs([_job("sync:hourly", "0 * * * *")])
        # forward five hours at once (the host slept): one run, not five
        clock.t = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)
        scheduler.set_jobs([_job("sync:hourly", "0 * * * *")])  # same job: wakes the loop
        await _until(lambda: seen)
        await anyio.sleep(0.05)
        assert len(seen) == 1
        assert scheduler.next_runs()[0][1] == datetime(2026, 11, 22, 16, 0, tzinfo=UTC_ZONE)
        # backwards two days: the next slot is planned from the new time
        clock.t = datetime(2026, 11, 20, 8, 10, tzinfo=UTC)
        scheduler.set_jobs([_job("sync:hourly", "0 * * * *")])
        await _until(lambda: scheduler.next_runs()[0][1] == datetime(2026, 11, 20, 9, 0, tzinfo=UTC_ZONE))
        tg.cancel_scope.cancel()
    assert len(seen) == 1


def test_jobs_from_config(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        """
[daemon]
timezone = "America/New_York"

[[pairs]]
name = "nightly"
source = "plex"
target = "trakt"
schedule = "0 3 * * *"

[[pairs]]
name = "off"
source = "plex"
target = "trakt"
schedule = "0 4 * * *"
enabled = false

[[pairs]]
name = "manual"
source = "trakt"
target = "plex"

[[captures.schedules]]
provider = "trakt"
cron = "@daily"
timezone = "Asia/Tokyo"
"""
    )
    host = PluginHost(tmp_path)
    host.load()
    config = load_config(tmp_path, host.sections())
    jobs = {j.id: j for j in jobs_from_config(config)}
    assert set(jobs) == {"sync:nightly", "capture:trakt-all"}
    assert str(jobs["sync:nightly"].tz) == "America/New_York"
    assert str(jobs["capture:trakt-all"].tz) == "Asia/Tokyo"
    assert jobs["capture:trakt-all"].params == {"schedule": "trakt-all"}
