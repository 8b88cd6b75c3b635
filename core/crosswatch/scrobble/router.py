"""The scrobble router: observed plays and ratings, forwarded to ``scrobble.targets`` as they happen.

Watchers and webhooks put ``PlaybackObserved`` / ``RatingObserved`` on the bus; the router
takes them into a bounded queue (``scrobble.queue_size``; a flood drops and counts, memory
stays bounded) and one worker forwards them in order:

- a play state becomes a scrobble on each target that can take one (``start``, ``pause``,
  ``stop``; a stop below ``scrobble.stop_threshold`` percent is sent as a pause, so only a
  watched play becomes a play); repeated frames of one state and repeated stops of one
  session are sent once;
- a rating becomes a rating on each target (none = remove), once per title and value within
  ``scrobble.ratings_window_s``; while crosswatch itself writes ratings to the watched profile
  (a clear, a restore, a sync) the guard drops them instead.

Targets share the process's HTTP policy of their account, so live scrobbles and batch syncs
keep one Trakt rate budget.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import msgspec
import structlog

from crosswatch.config import Config
from crosswatch.errors import CrosswatchError, fault_message
from crosswatch.events import ConfigReloaded, PlaybackObserved, RatingObserved
from crosswatch.model import Feature, title_key
from crosswatch.profiles import resolve_profile
from crosswatch.provider import Provider, ProviderContext, ProviderRegistry, ScrobbleAction, Scrobbler
from crosswatch.scrobble.echo_filter import ListenerGuard
from crosswatch.state import StateDir
from crosswatch.unresolved import FROZEN_REASON

log = structlog.get_logger("crosswatch.scrobble")
ACTIONS: dict[str, ScrobbleAction] = {"playing": "start", "paused": "pause", "stopped": "stop"}
STOP_MEMORY_S = 6 * 3600


def _source(event: PlaybackObserved | RatingObserved) -> str:
    return event.provider if event.profile == "default" else f"{event.provider}.{event.profile}"


class ScrobbleRouter:
    """The daemon's scrobble service (see the module docstring)."""

    def __init__(self, registry: ProviderRegistry, get_config: Callable[[], Config], state: StateDir, bus: Any) -> None:
        self.registry = registry
        self.get_config = get_config
        self.state = state
        self.guard = ListenerGuard(lambda: get_config().scrobble.resume_quiet_s, on_expired=self._tell_expired)
        self.guard.subscribe(bus)
        size = get_config().scrobble.queue_size
        self._send, self._receive = anyio.create_memory_object_stream[PlaybackObserved | RatingObserved](size)
        self.queue_dropped = 0
        self.forwarded: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self._providers: dict[str, Provider] = {}
        self._retired: list[Provider] = []  # built from an earlier config: closed by the worker
        self._sessions: dict[tuple[str, str], str] = {}  # (target, session) -> last action sent
        self._stopped: dict[tuple[str, str], float] = {}
        self._ratings: dict[tuple[str, str], tuple[int | None, float]] = {}
        bus.subscribe(PlaybackObserved, self.observe)
        bus.subscribe(RatingObserved, self.observe)
        bus.subscribe(ConfigReloaded, self._reloaded)

    async def _tell_expired(self, record: dict[str, Any]) -> None:
        """A listener pause expired: tell the ``guard`` notification targets."""
        from crosswatch.notify import notify_guard

        message = "a listener pause expired without its writer saying it finished"
        await notify_guard(self.get_config(), message, **record)

    # -- intake (on the bus's dispatcher: never blocks) ------------------------------------

    def observe(self, event: PlaybackObserved | RatingObserved) -> None:
        config = self.get_config().scrobble
        is_rating = isinstance(event, RatingObserved)
        source = event.source
        if source == "webhook" and not (config.webhook.ratings if is_rating else config.webhook.enabled):
            return
        if source == "watcher" and not (config.watcher.ratings if is_rating else config.watcher.enabled):
            return
        if config.users:
            # a watcher's ratings are the signed-in owner's own: they carry no user name
            if event.user not in config.users and not (event.user == "" and event.owner):
                self.skipped["user"] += 1
                return
        elif event.owner is False:
            self.skipped["user"] += 1  # by default only the server owner's plays and ratings are forwarded
            return
        if config.libraries and event.library is not None and event.library not in config.libraries:
            self.skipped["library"] += 1
            return
        if isinstance(event, RatingObserved) and self.guard.paused(_source(event), Feature.RATINGS.value):
            self.guard.drop(_source(event), Feature.RATINGS.value, "unrate" if event.rating is None else "rate")
            return
        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            self.queue_dropped += 1
            if self.queue_dropped & (self.queue_dropped - 1) == 0:
                log.warning("scrobble.queue_full", dropped=self.queue_dropped, size=config.queue_size)

    # -- the worker -------------------------------------------------------------------------

    async def run(self) -> None:
        """Forward queued events until cancelled; providers are closed at the end."""
        try:
            async with self._receive:
                async for event in self._receive:
                    await self._close_retired()
                    for target in self.get_config().scrobble.targets:
                        try:
                            await self._forward(target, event)
                        except (CrosswatchError, OSError) as exc:
                            log.warning("scrobble.failed", target=target, error=fault_message(exc) or str(exc))
                        except Exception as exc:  # a target's bug must not end scrobbling for the others
                            log.error(
                                "scrobble.failed", target=target, error=f"{type(exc).__name__}: {exc}", exc_info=exc
                            )
        finally:
            self._reloaded(ConfigReloaded())
            await self._close_retired()

    def _reloaded(self, _: ConfigReloaded) -> None:
        """A new config: targets are built again from it on their next use (the worker closes the old)."""
        self._retired += self._providers.values()
        self._providers = {}

    async def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        with anyio.CancelScope(shield=True):
            for provider in retired:
                await provider.aclose()

    def _provider(self, target: str) -> Provider:
        if target not in self._providers:
            profile = resolve_profile(self.get_config(), self.registry, target)
            ctx = ProviderContext(profile.spec.id, profile.profile, profile.settings, self.state)
            self._providers[target] = profile.spec.factory(ctx)
        return self._providers[target]

    async def _forward(self, target: str, event: PlaybackObserved | RatingObserved) -> None:
        provider = self._provider(target)
        if isinstance(event, RatingObserved):
            await self._rating(target, provider, event)
        else:
            await self._play(target, provider, event)

    async def _play(self, target: str, provider: Provider, event: PlaybackObserved) -> None:
        if not isinstance(provider, Scrobbler):
            return
        action = ACTIONS.get(event.state)
        if action is None:
            return
        key = title_key(event.item)
        session = (target, event.session or key)
        if action == "stop":
            if event.progress < self.get_config().scrobble.stop_threshold:
                action = "pause"  # not watched far enough to be a play
            elif time.monotonic() - self._stopped.get(session, -STOP_MEMORY_S) < STOP_MEMORY_S:
                self.skipped["repeated stop"] += 1
                return
        if self._sessions.get(session) == action:
            return  # the same state again (players report every few seconds)
        if action == "start":
            self._stopped.pop(session, None)  # watching it again: its next stop is a new play
        outcome = await provider.scrobble(action, event.item, event.progress)
        self._sessions[session] = action
        if action == "stop":
            self._stopped[session] = time.monotonic()
            self._sessions.pop(session, None)
        if outcome == "unknown":
            log.warning("scrobble.not_forwarded", target=target, action=action, item=key, reason="unknown title")
            return
        if outcome == "duplicate":
            self.skipped["duplicate"] += 1
            return
        self.forwarded[f"scrobble.{action}"] += 1
        log.info("scrobble.forwarded", target=target, action=action, item=key, progress=round(event.progress, 1))

    async def _rating(self, target: str, provider: Provider, event: RatingObserved) -> None:
        key = title_key(event.item)
        support = self.registry.get(provider.id).features.get(Feature.RATINGS)
        if support is None or not (support.remove if event.rating is None else support.add):
            return  # the target keeps no ratings (or cannot change them)
        window = self.get_config().scrobble.ratings_window_s
        last = self._ratings.get((target, key))
        if last is not None and last[0] == event.rating and time.monotonic() - last[1] < window:
            self.skipped["repeated rating"] += 1
            return
        self._ratings[(target, key)] = (event.rating, time.monotonic())
        if event.rating is None:
            result = await provider.remove(Feature.RATINGS, [event.item])
            what = "unrate"
        else:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            item = msgspec.structs.replace(event.item, rating=event.rating, rated_at=stamp)
            result = await provider.add(Feature.RATINGS, [item])
            what = "rate"
        if result.ok:
            self.forwarded[what] += 1
            log.info("scrobble.forwarded", target=target, action=what, item=key, rating=event.rating)
        else:
            reasons = [why for _, why in result.failed + result.unresolved] + [FROZEN_REASON for _ in result.frozen]
            log.warning("scrobble.not_forwarded", target=target, action=what, item=key, reasons=reasons)

    def stats(self) -> dict[str, Any]:
        return {
            "forwarded": dict(self.forwarded),
            "skipped": dict(self.skipped),
            "dropped_by_guard": dict(self.guard.dropped),
            "dropped_queue_full": self.queue_dropped,
        }
