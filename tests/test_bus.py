"""The event bus: ``await publish()`` waits for every subscriber, ``emit()`` never blocks.

Every test runs on asyncio and on trio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from crosswatch.bus import EventBus, PublishError
from crosswatch.events import (
    ConfigReloaded,
    Event,
    RatingObserved,
    ToolFinished,
    ToolStarting,
)

pytestmark = pytest.mark.anyio

CLEAR = ToolStarting(provider="TRAKT", profile="default", feature="ratings", tool="clear")
DONE = ToolFinished(provider="TRAKT", profile="default", feature="ratings", tool="clear")


@dataclass(frozen=True)
class Numbered(Event):
    n: int


@dataclass(frozen=True)
class PlexToolStarting(ToolStarting):
    """A plugin's own subclass of a core event."""

    server: str = ""


# -- publish -------------------------------------------------------------------------------


async def test_publish_returns_after_every_subscriber_has_acted() -> None:
    bus = EventBus()
    paused: list[str] = []
    gate = anyio.Event()

    async def rating_listener(event: ToolStarting) -> None:
        await anyio.sleep(0.05)
        paused.append(f"{event.provider}.{event.profile}")

    async def waits_for_gate(event: ToolStarting) -> None:
        await gate.wait()
        paused.append("gated")

    def sync_listener(event: ToolStarting) -> None:
        paused.append("sync")

    async def open_gate() -> None:
        await anyio.sleep(0.1)
        paused.append("gate opened")
        gate.set()

    for handler in (rating_listener, waits_for_gate, sync_listener):
        bus.subscribe(ToolStarting, handler)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(open_gate)
            await bus.publish(CLEAR)
            # the sender may now clear ratings: every listener has paused
            assert sorted(paused) == sorted(["TRAKT.default", "gate opened", "gated", "sync"])
            assert paused.index("gate opened") < paused.index("gated")


async def test_publish_runs_subscribers_concurrently() -> None:
    bus = EventBus()
    a_ready, b_ready = anyio.Event(), anyio.Event()
    finished: list[str] = []

    async def a(event: Event) -> None:
        a_ready.set()
        await b_ready.wait()
        finished.append("a")

    async def b(event: Event) -> None:
        b_ready.set()
        await a_ready.wait()
        finished.append("b")

    bus.subscribe(ToolStarting, a)
    bus.subscribe(ToolStarting, b)
    with anyio.fail_after(2):  # one at a time, each would wait for the other forever
        await bus.publish(CLEAR)
    assert sorted(finished) == ["a", "b"]

    # many subscribers overlap: each finishes only once all have started (one at a time: never)
    started, all_started = [0], anyio.Event()

    async def waits_for_all(event: Event) -> None:
        started[0] += 1
        if started[0] == 8:
            all_started.set()
        await all_started.wait()

    for _ in range(8):
        bus.subscribe(ToolFinished, waits_for_all)
    with anyio.fail_after(10):
        await bus.publish(DONE)
    assert started == [8]


async def test_sync_handlers_and_base_class_subscriptions() -> None:
    bus = EventBus()
    everything: list[Event] = []
    tools: list[Event] = []
    bus.subscribe(Event, everything.append)
    bus.subscribe(ToolStarting, tools.append)

    plex = PlexToolStarting(provider="PLEX", profile="kids", feature="ratings", tool="clear", server="pms")
    events = [CLEAR, DONE, plex, ConfigReloaded(("plex",))]
    for event in events:
        await bus.publish(event)
    assert everything == events
    assert tools == [CLEAR, plex]  # a subclass reaches the base-class subscriber; a sibling does not


async def test_publish_without_subscribers_is_a_no_op() -> None:
    bus = EventBus()
    with anyio.fail_after(1):
        await bus.publish(CLEAR)
    assert bus.subscribers(CLEAR) == []


async def test_unsubscribe_and_owners() -> None:
    bus = EventBus()
    got: list[str] = []
    core_sub = bus.subscribe(ToolStarting, lambda e: got.append("core"))
    plex = bus.scoped("plex")
    trakt = bus.scoped("trakt")
    plex_subs = [plex.subscribe(ToolStarting, lambda e: got.append("plex")) for _ in range(2)]
    trakt.subscribe(ToolStarting, lambda e: got.append("trakt"))
    assert core_sub.owner == "core" and {s.owner for s in plex_subs} == {"plex"}

    await plex.publish(CLEAR)
    assert sorted(got) == ["core", "plex", "plex", "trakt"]

    got.clear()
    bus.unsubscribe(core_sub)
    bus.unsubscribe(core_sub)  # twice is harmless
    await bus.publish(CLEAR)
    assert sorted(got) == ["plex", "plex", "trakt"]

    got.clear()
    assert bus.unsubscribe_owner("plex") == 2  # a plugin being disabled
    assert bus.unsubscribe_owner("plex") == 0
    await bus.publish(CLEAR)
    assert got == ["trakt"]

    # the same handler subscribed twice is two subscriptions; dropping one keeps the other
    got.clear()
    bus.unsubscribe_owner("trakt")
    handler = lambda e: got.append("twice")  # noqa: E731
    first = bus.subscribe(ToolStarting, handler)
    bus.subscribe(ToolStarting, handler)
    bus.unsubscribe(first)
    await bus.publish(CLEAR)
    assert got == ["twice"]


async def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    bus = EventBus()
    acted: list[str] = []

    async def slow(event: Event) -> None:
        await anyio.sleep(0.05)
        acted.append("slow")

    async def broken(event: Event) -> None:
        await anyio.sleep(0)
        raise LookupError("no such profile")

    def also_broken(event: Event) -> None:
        raise ValueError("bad rating")

    bus.subscribe(ToolStarting, slow, owner="trakt")
    bus.scoped("jellyfin").subscribe(ToolStarting, broken)
    bus.subscribe(ToolStarting, lambda e: acted.append("sync"), owner="core")

    with pytest.raises(PublishError) as caught:
        await bus.publish(CLEAR)
    assert sorted(acted) == ["slow", "sync"]  # all finished before the error was raised
    message = str(caught.value)
    assert "ToolStarting" in message and "jellyfin:" in message and "broken" in message and "no such profile" in message
    assert [(s.owner, type(e)) for s, e in caught.value.failures] == [("jellyfin", LookupError)]
    assert caught.value.event is CLEAR

    bus.subscribe(ToolStarting, also_broken, owner="plex")
    with pytest.raises(PublishError) as caught:
        await bus.publish(CLEAR)
    assert {s.owner for s, _ in caught.value.failures} == {"jellyfin", "plex"}
    assert "2 subscriber(s) failed" in str(caught.value) and "also_broken" in str(caught.value)

    # a single subscriber that raises is reported the same way
    solo = EventBus()
    solo.subscribe(ToolFinished, also_broken, owner="plex")
    with pytest.raises(PublishError, match="plex:.*also_broken.*bad rating"):
        await solo.publish(DONE)


# -- emit and the dispatcher ---------------------------------------------------------------


async def test_emit_without_dispatcher_drops_and_counts_when_full(logs: list[dict[str, Any]]) -> None:
    bus = EventBus(buffer=4)
    got: list[int] = []
    bus.subscribe(Numbered, lambda e: got.append(e.n))

    with anyio.fail_after(2):  # never blocks, even with nobody draining
        accepted = [bus.emit(Numbered(n)) for n in range(1000)]
    assert accepted == [True] * 4 + [False] * 996
    assert bus.dropped == 996
    drops = [entry for entry in logs if entry["event"] == "bus.dropped"]
    assert drops and drops[0]["log_level"] == "warning"
    assert (drops[0]["dropped"], drops[0]["event_type"], drops[0]["buffer"]) == (1, "Numbered", 4)
    assert len(drops) <= 10 and drops[-1]["dropped"] <= bus.dropped  # a flood does not flood the log

    # only the buffer was kept: a dispatcher started now delivers the first four, in order
    async with anyio.create_task_group() as tg:
        tg.start_soon(bus.run)
        with anyio.fail_after(2):
            while len(got) < 4:
                await anyio.sleep(0.01)
        await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    assert got == [0, 1, 2, 3]

    # with room again, emit is accepted again
    assert bus.emit(Numbered(4)) is True


async def test_dispatcher_delivers_emitted_events_in_order() -> None:
    count = 200
    bus = EventBus(buffer=count)
    got: list[int] = []
    all_in = anyio.Event()

    async def slowish(event: Numbered) -> None:
        await anyio.sleep(0)
        got.append(event.n)
        if len(got) == count:
            all_in.set()

    bus.subscribe(Numbered, slowish)
    half = count // 2
    assert all(bus.emit(Numbered(n)) for n in range(half))  # queued before the dispatcher runs
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(bus.run)
            for n in range(half, count):  # and while it runs
                assert bus.emit(Numbered(n))
                if n % 16 == 0:
                    await anyio.sleep(0)
            await all_in.wait()
            tg.cancel_scope.cancel()
    assert got == list(range(count))
    assert bus.dropped == 0


async def test_dispatcher_logs_a_failing_subscriber_and_keeps_going(logs: list[dict[str, Any]]) -> None:
    bus = EventBus()
    good: list[int] = []
    done = anyio.Event()

    def picky(event: Numbered) -> None:
        if event.n % 3 == 1:
            raise ValueError(f"cannot take {event.n}")

    def collector(event: Numbered) -> None:
        good.append(event.n)
        if event.n == 9:
            done.set()

    bus.subscribe(Numbered, picky, owner="jellyfin")
    bus.subscribe(Numbered, collector)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(bus.run)
            for n in range(10):
                assert bus.emit(Numbered(n))
            await done.wait()
            tg.cancel_scope.cancel()
    assert good == list(range(10))
    failed = [entry for entry in logs if entry["event"] == "bus.subscriber_failed"]
    assert [entry["log_level"] for entry in failed] == ["error"] * 3
    assert {entry["event_type"] for entry in failed} == {"Numbered"}
    for entry, n in zip(failed, (1, 4, 7), strict=True):
        assert "jellyfin:" in entry["error"] and f"cannot take {n}" in entry["error"]


async def test_dispatcher_can_be_restarted_and_keeps_what_was_queued() -> None:
    bus = EventBus(buffer=8)
    got: list[int] = []
    bus.subscribe(Numbered, lambda e: got.append(e.n))

    async def drain_until(n: int) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(bus.run)
            with anyio.fail_after(2):
                while len(got) < n:
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()

    bus.emit(Numbered(1))
    await drain_until(1)
    # the dispatcher stopped (say, a daemon shutdown): emit still queues, a new one drains it
    assert bus.emit(Numbered(2)) and bus.emit(Numbered(3))
    await drain_until(3)
    assert got == [1, 2, 3]


async def test_a_subscriber_may_emit_and_publish_from_inside_a_handler() -> None:
    bus = EventBus()
    seen: list[str] = []
    finished = anyio.Event()

    async def on_start(event: ToolStarting) -> None:
        await bus.publish(RatingObserved(provider=event.provider, profile=event.profile, item=None, rating=None))
        bus.emit(DONE)

    bus.subscribe(ToolStarting, on_start)
    bus.subscribe(RatingObserved, lambda e: seen.append("rating"))
    bus.subscribe(ToolFinished, lambda e: (seen.append("finished"), finished.set()))
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(bus.run)
            await bus.publish(CLEAR)
            assert seen == ["rating"]  # nested publish done before the outer one returned
            await finished.wait()
            tg.cancel_scope.cancel()
    assert seen == ["rating", "finished"]
