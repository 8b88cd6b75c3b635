"""The event bus: ``await publish()`` waits for every subscriber, ``emit()`` never blocks.

``publish`` is for senders that must know the receivers have acted (a tool pausing the
rating listeners before it clears ratings). ``emit`` drops the event into a bounded
stream that the dispatcher task (``run``) drains; when the stream is full the event is
dropped, counted and logged, so a flood can never grow memory or stall the sender.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio
import structlog

from crosswatch.events import Event

log = structlog.get_logger("crosswatch.bus")

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None] | None]


@dataclass(eq=False)
class Subscription:
    event_type: type[Event]
    handler: Handler
    owner: str


class PublishError(Exception):
    """One or more subscribers raised while handling an event."""

    def __init__(self, event: Event, failures: list[tuple[Subscription, BaseException]]):
        self.event = event
        self.failures = failures
        names = ", ".join(f"{s.owner}:{_name(s.handler)}: {e!r}" for s, e in failures)
        super().__init__(f"{type(event).__name__}: {len(failures)} subscriber(s) failed: {names}")


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


class EventBus:
    """Typed publish/subscribe between core services and plugins."""

    def __init__(self, buffer: int = 1024) -> None:
        self._subs: list[Subscription] = []
        self._send, self._receive = anyio.create_memory_object_stream[Event](buffer)
        self.buffer = buffer
        self.dropped = 0
        self.delivered = 0

    def subscribe(self, event_type: type[E], handler: Callable[[E], Any], *, owner: str = "core") -> Subscription:
        """Call ``handler`` (sync or async) for every event that is an instance of ``event_type``."""
        sub = Subscription(event_type, handler, owner)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def unsubscribe_owner(self, owner: str) -> int:
        """Drop every subscription made by ``owner`` (a plugin being disabled); returns how many."""
        before = len(self._subs)
        self._subs = [s for s in self._subs if s.owner != owner]
        return before - len(self._subs)

    def scoped(self, owner: str) -> BusView:
        """A view of the bus whose subscriptions are tagged with ``owner``."""
        return BusView(self, owner)

    def subscribers(self, event: Event) -> list[Subscription]:
        return [s for s in self._subs if isinstance(event, s.event_type)]

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber concurrently; return once all are done.

        Raises :class:`PublishError` after all have finished if any of them raised.
        """
        subs = self.subscribers(event)
        failures: list[tuple[Subscription, BaseException]] = []

        async def deliver(sub: Subscription) -> None:
            try:
                result = sub.handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # a subscriber's fault must not hide the others' work
                failures.append((sub, exc))

        if len(subs) == 1:
            await deliver(subs[0])
        elif subs:
            async with anyio.create_task_group() as tg:
                for sub in subs:
                    tg.start_soon(deliver, sub)
        self.delivered += 1
        if failures:
            raise PublishError(event, failures)

    def emit(self, event: Event) -> bool:
        """Queue ``event`` for the dispatcher without waiting; False (and counted) if the buffer is full."""
        try:
            self._send.send_nowait(event)
            return True
        except anyio.WouldBlock:
            self.dropped += 1
            # log the first drop and then every power of two, so a flood cannot flood the log too;
            # the key is not "event": structlog takes that one as the log line's own name
            if self.dropped & (self.dropped - 1) == 0:
                log.warning("bus.dropped", event_type=type(event).__name__, dropped=self.dropped, buffer=self.buffer)
            return False

    async def run(self) -> None:
        """Dispatcher: deliver emitted events one by one until cancelled."""
        async with self._receive.clone() as receive:
            async for event in receive:
                try:
                    await self.publish(event)
                except PublishError as exc:
                    log.error("bus.subscriber_failed", event_type=type(event).__name__, error=str(exc))


class Publisher(Protocol):
    """Where a job's events go: the daemon's bus, or (in a command) the running daemon."""

    async def publish(self, event: Event) -> None:
        """Send ``event`` and wait until every receiver has acted on it."""
        ...

    def emit(self, event: Event) -> object:
        """Send ``event`` without waiting (it may be dropped under load)."""
        ...


class BusView:
    """The bus as one plugin sees it: its subscriptions carry the plugin's name."""

    def __init__(self, bus: EventBus, owner: str) -> None:
        self._bus = bus
        self.owner = owner

    def subscribe(self, event_type: type[E], handler: Callable[[E], Any]) -> Subscription:
        return self._bus.subscribe(event_type, handler, owner=self.owner)

    async def publish(self, event: Event) -> None:
        await self._bus.publish(event)

    def emit(self, event: Event) -> bool:
        return self._bus.emit(event)
