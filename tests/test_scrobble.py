"""Live scrobbling in process, on both anyio backends: the router, the guard, the webhook route, the watcher.

The router runs with a real :class:`EventBus` and forwards to the Trakt emulator over real
HTTP on loopback; events are put on the bus the way the watcher and the webhook do
(``emit``) or as the guard's writers do (``publish``). What is checked is what a person
notices: the plays, playback positions and ratings in the Trakt emulator's state, the
requests it received, and the router's counts (``/healthz`` → ``scrobble``).
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import tomli_w

from crosswatch.bus import EventBus, PublishError
from crosswatch.commands.common import plugin_host
from crosswatch.config import load_config
from crosswatch.emulation.catalog import Movie
from crosswatch.emulation.server import serve_app
from crosswatch.events import (
    PlaybackObserved,
    RatingObserved,
    SyncFinished,
    SyncStarting,
    ToolFinished,
    ToolStarting,
)
from crosswatch.model import Item, MediaType
from crosswatch.scrobble.router import ScrobbleRouter
from crosswatch.services import ServiceContext
from crosswatch.state import StateDir
from crosswatch.web import WebApp
from crosswatch_plex.client import PlexClient
from crosswatch_plex.emulator import PlexEmulator
from crosswatch_plex.identity import PlexAccount, PlexIdentity
from crosswatch_plex.watcher import PlexWatcher
from crosswatch_plex.webhook import Webhook
from crosswatch_trakt.emulator import EmulatorSettings as TraktSettings
from crosswatch_trakt.emulator import TraktEmulator
from tests.trakt_helpers import signed_in_to

pytestmark = pytest.mark.anyio

SEED = 5
SIZE = 120
QUIET_S = 1.0  # scrobble.resume_quiet_s in these tests (an echo comes well within it, even on a loaded machine)
SCROBBLE_PATHS = ("/scrobble/start", "/scrobble/pause", "/scrobble/stop")


# -- the rig: a Trakt emulator, a config pointing at it, a bus and a running router ----------


def movie_item(movie: Movie) -> Item:
    """A movie as the Plex watcher reports it (external ids, title, year)."""
    return Item(
        type=MediaType.MOVIE, ids={"imdb": movie.imdb, "tmdb": str(movie.tmdb)}, title=movie.title, year=movie.year
    )


def play(
    item: Item, state: str, progress: float, session: str = "7:100", *, source: str = "watcher", **extra: Any
) -> PlaybackObserved:
    return PlaybackObserved("PLEX", "default", state, item, progress, source=source, session=session, **extra)


def rating(item: Item, value: int | None, *, profile: str = "default", **extra: Any) -> RatingObserved:
    return RatingObserved("PLEX", profile, item, value, source="watcher", **extra)


@dataclass
class Rig:
    emu: TraktEmulator
    url: str
    bus: EventBus
    router: ScrobbleRouter
    movies: list[Movie]  # the catalogue's movies Trakt holds nothing of (no rating, play or playback)

    def movie(self, n: int) -> Movie:
        return self.movies[n]

    def item(self, n: int) -> Item:
        return movie_item(self.movie(n))

    # what Trakt holds

    def plays(self, n: int) -> int:
        trakt = self.movie(n).trakt
        return sum(1 for e in self.emu.state_json()["history"] if e["type"] == "movie" and e["trakt"] == trakt)

    def rating(self, n: int) -> int | None:
        trakt = self.movie(n).trakt
        found = [e["rating"] for e in self.emu.state_json()["ratings"] if e["type"] == "movie" and e["trakt"] == trakt]
        return found[0] if found else None

    def paused_at(self, n: int) -> float | None:
        trakt = self.movie(n).trakt
        found = [
            e["progress"] for e in self.emu.state_json()["playback"] if e["type"] == "movie" and e["trakt"] == trakt
        ]
        return found[0] if found else None

    async def writes(self, *prefixes: str) -> list[str]:
        """The paths of the writes Trakt received, in order (only those starting with ``prefixes``)."""
        async with httpx.AsyncClient(base_url=self.url) as client:
            stats = (await client.get("/_emulator/stats")).json()
        return [w["path"] for w in stats["writes"] if w["path"].startswith(prefixes or ("/",))]

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every emitted event was dispatched by the bus and handled by the router's worker.

        Both are idle when their stream is empty and their task waits on it (the worker is then
        not in the middle of a forward).
        """
        with anyio.move_on_after(timeout):
            while True:
                bus = self.bus._receive.statistics()
                queue = self.router._receive.statistics()
                if (
                    bus.current_buffer_used == 0
                    and bus.tasks_waiting_receive
                    and queue.current_buffer_used == 0
                    and queue.tasks_waiting_receive
                ):
                    return
                await anyio.sleep(0.01)
        pytest.fail(f"the bus and the router were not idle within {timeout}s")

    async def send(self, *events: Any) -> None:
        """Emit events the way the watcher and the webhook do, and wait until they were handled."""
        for event in events:
            assert self.bus.emit(event)
        await self.settle()


def untouched(emu: TraktEmulator) -> list[Movie]:
    state = emu.state_json()
    held = {e["trakt"] for f in ("ratings", "history", "playback") for e in state[f] if e["type"] == "movie"}
    return [m for m in emu.catalog.movies if m.trakt not in held]


@asynccontextmanager
async def rig(tmp_path: Path, **scrobble: Any) -> AsyncIterator[Rig]:
    """The router forwarding to a signed-in Trakt emulator; ``scrobble`` is the ``[scrobble]`` table."""
    emu = TraktEmulator(seed=SEED, size=SIZE, settings=TraktSettings(interval=0, post_limit=0, approve_after_polls=0))
    state = signed_in_to(emu, tmp_path)
    async with serve_app(emu) as url:
        table = {"resume_quiet_s": QUIET_S, "watcher": {"enabled": True, "ratings": True}, **scrobble}
        config = {
            "daemon": {"listen": ""},
            "trakt": {
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "api_url": url,
                "auth_url": url,
                "write_interval_s": 0,
            },
            "scrobble": table,
        }
        (tmp_path / "config.toml").write_text(tomli_w.dumps(config))
        host = plugin_host(tmp_path)
        loaded = load_config(tmp_path, host.sections())
        bus = EventBus()
        router = ScrobbleRouter(host.providers, lambda: loaded, state, bus)
        async with anyio.create_task_group() as tg:
            tg.start_soon(bus.run)
            tg.start_soon(router.run)
            yield Rig(emu, url, bus, router, untouched(emu))
            tg.cancel_scope.cancel()


# -- plays ----------------------------------------------------------------------------------


async def test_repeated_playing_frames_send_one_start_and_a_resume_sends_start_again(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        movie = r.item(0)
        await r.send(*[play(movie, "playing", 10 + i) for i in range(5)])  # a player reports every few seconds
        assert await r.writes(*SCROBBLE_PATHS) == ["/scrobble/start"]
        await r.send(*[play(movie, "paused", 20) for _ in range(3)])
        await r.send(play(movie, "playing", 21), play(movie, "playing", 22))
        assert await r.writes(*SCROBBLE_PATHS) == ["/scrobble/start", "/scrobble/pause", "/scrobble/start"]
        assert r.paused_at(0) == 20  # Trakt shows where the pause was
        assert r.plays(0) == 0
        assert r.router.stats()["forwarded"] == {"scrobble.start": 2, "scrobble.pause": 1}


async def test_a_stop_below_the_threshold_is_a_pause_and_at_it_a_play(tmp_path: Path) -> None:
    async with rig(tmp_path, stop_threshold=80) as r:
        half, watched = r.item(1), r.item(2)
        before = r.plays(1), r.plays(2)
        await r.send(play(half, "playing", 10, "1:1"), play(half, "stopped", 50, "1:1"))
        assert await r.writes(*SCROBBLE_PATHS) == ["/scrobble/start", "/scrobble/pause"]
        assert r.plays(1) == before[0]  # not watched far enough: no play
        assert r.paused_at(1) == 50  # but Trakt can resume it there
        await r.send(play(watched, "playing", 70, "2:2"), play(watched, "stopped", 80, "2:2"))
        assert (await r.writes(*SCROBBLE_PATHS))[2:] == ["/scrobble/start", "/scrobble/stop"]
        assert r.plays(2) == before[1] + 1  # exactly at the threshold: a play


async def test_a_repeated_stop_of_one_session_is_sent_once(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        movie = r.item(3)
        before = r.plays(3)
        await r.send(
            play(movie, "playing", 50),
            play(movie, "stopped", 95),
            play(movie, "stopped", 95),  # the webhook's media.stop after media.scrobble
            play(movie, "stopped", 97),
        )
        assert await r.writes(*SCROBBLE_PATHS) == ["/scrobble/start", "/scrobble/stop"]
        assert r.plays(3) == before + 1
        assert r.router.stats()["skipped"] == {"repeated stop": 2}


async def test_a_rewatch_on_the_same_player_is_a_second_play(tmp_path: Path) -> None:
    """BUG: a webhook's session is ``"<player uuid>:<ratingKey>"``, the same for every play of a title on
    one player, and ``ScrobbleRouter._play`` remembers a stop for 6 hours (``STOP_MEMORY_S``) even
    after a new ``start``: watching the film again that evening is dropped as a "repeated stop"."""
    hooks = {"enabled": True, "ratings": True, "secret": "x"}
    async with rig(tmp_path, webhook=hooks) as r:
        movie, session = r.item(23), "player-1:2324"
        watch = [
            play(movie, "playing", 0.5, session, source="webhook"),  # media.play
            play(movie, "stopped", 95, session, source="webhook"),  # media.scrobble
            play(movie, "stopped", 96, session, source="webhook"),  # media.stop
        ]
        await r.send(*watch)
        assert r.plays(23) == 1
        # later: more than the film's runtime has passed, so Trakt takes another stop as a new play
        r.emu.state.scrobbled[("movie", r.movie(23).trakt)] -= r.movie(23).runtime * 60_000 + 1_000
        await r.send(*watch)
        assert await r.writes(*SCROBBLE_PATHS) == ["/scrobble/start", "/scrobble/stop"] * 2
        assert r.plays(23) == 2


async def test_a_play_trakt_does_not_know_is_not_counted_as_forwarded(tmp_path: Path, logs: list[dict]) -> None:
    """BUG: ``ScrobbleRouter._play`` ignores what ``scrobble`` answers ("unknown" for a 404)."""
    async with rig(tmp_path) as r:
        ghost = Item(type=MediaType.MOVIE, ids={"imdb": "tt9999990"}, title="Not On Trakt", year=2001)
        await r.send(play(ghost, "playing", 10), play(ghost, "stopped", 95))
        assert await r.writes(*SCROBBLE_PATHS) == ["/scrobble/start", "/scrobble/stop"]  # both were tried
        async with httpx.AsyncClient(base_url=r.url) as client:
            assert (await client.get("/_emulator/stats")).json()["statuses"].get("404") == 2  # "not on Trakt"
        forwarded = [e for e in logs if e["event"] == "scrobble.forwarded"]
        # nothing reached Trakt, so /healthz and the log must not say it was forwarded
        assert r.router.stats()["forwarded"] == {}, r.router.stats()
        assert forwarded == []


# -- ratings ------------------------------------------------------------------------------


async def test_ratings_are_deduplicated_within_the_window_and_a_clear_removes(tmp_path: Path) -> None:
    async with rig(tmp_path, ratings_window_s=1.5) as r:  # repeats come well within it
        movie = r.item(4)
        assert r.rating(4) is None
        await r.send(rating(movie, 8), rating(movie, 8), rating(movie, 8))
        assert await r.writes("/sync/ratings") == ["/sync/ratings"]
        assert r.rating(4) == 8
        await r.send(rating(movie, 6))  # a changed value is not a repeat
        assert r.rating(4) == 6
        await anyio.sleep(1.6)  # past the window: the same value is forwarded again
        await r.send(rating(movie, 6))
        assert await r.writes("/sync/ratings") == ["/sync/ratings"] * 3
        await r.send(rating(movie, None), rating(movie, None))
        assert r.rating(4) is None
        assert await r.writes("/sync/ratings") == ["/sync/ratings"] * 3 + ["/sync/ratings/remove"]
        stats = r.router.stats()
        assert stats["forwarded"] == {"rate": 3, "unrate": 1}
        assert stats["skipped"] == {"repeated rating": 3}


# -- filters ------------------------------------------------------------------------------


async def test_users_and_libraries_filter_what_is_forwarded(tmp_path: Path) -> None:
    async with rig(tmp_path, users=["alice"], libraries=[1]) as r:
        before = [r.plays(n) for n in range(5, 10)]
        await r.send(
            play(r.item(5), "stopped", 95, "a", user="alice", library=1),
            play(r.item(6), "stopped", 95, "b", user="bob", library=1),
            play(r.item(7), "stopped", 95, "c", user="alice", library=2),
            play(r.item(8), "stopped", 95, "d", user="", library=1),  # whose play is not known
            rating(r.item(9), 7, user="bob", library=1),
        )
        after = [r.plays(n) for n in range(5, 10)]
        assert [a - b for a, b in zip(after, before, strict=True)] == [1, 0, 0, 0, 0]
        assert r.rating(9) is None
        assert r.router.stats()["skipped"] == {"user": 3, "library": 1}


async def test_by_default_only_the_server_owners_plays_are_forwarded(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:  # scrobble.users = []
        before = r.plays(10), r.plays(11)
        await r.send(
            play(r.item(10), "stopped", 95, "a", user="ivy", owner=True),
            play(r.item(11), "stopped", 95, "b", user="Partner", owner=False),
        )
        assert (r.plays(10) - before[0], r.plays(11) - before[1]) == (1, 0)
        assert r.router.stats()["skipped"] == {"user": 1}


# -- the guard ----------------------------------------------------------------------------


async def test_ratings_are_dropped_while_a_tool_writes_then_forwarded_after_the_quiet_period(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path) as r:
        await r.bus.publish(ToolStarting("PLEX", "default", "ratings", "clear"))
        # the echoes of the clear (and a rate) arrive while it runs: dropped and counted
        await r.send(rating(r.item(12), None), rating(r.item(13), None), rating(r.item(14), 9))
        assert r.rating(14) is None
        assert await r.writes("/sync/ratings") == []
        assert r.router.stats()["dropped_by_guard"] == {"PLEX:ratings": 3}
        # plays and another profile's ratings are not paused
        await r.send(play(r.item(15), "playing", 10), rating(r.item(16), 5, profile="kids"))
        assert await r.writes(*SCROBBLE_PATHS) == ["/scrobble/start"]
        assert r.rating(16) == 5
        await r.bus.publish(ToolFinished("PLEX", "default", "ratings", "clear"))
        await r.send(rating(r.item(14), 9))  # within resume_quiet_s: still an echo
        assert r.rating(14) is None
        assert r.router.stats()["dropped_by_guard"] == {"PLEX:ratings": 4}
        await anyio.sleep(QUIET_S + 0.1)
        await r.send(rating(r.item(14), 9))
        assert r.rating(14) == 9
        assert r.router.stats()["dropped_by_guard"] == {"PLEX:ratings": 4}
        assert r.router.stats()["forwarded"]["rate"] == 2  # the other profile's and this one


async def test_a_sync_writing_the_profile_pauses_its_ratings(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        # a sync writing only to Trakt leaves Plex's ratings live
        await r.bus.publish(SyncStarting("trakt-to-x", ("ratings",), ("TRAKT",)))
        await r.send(rating(r.item(17), 6))
        assert r.rating(17) == 6
        await r.bus.publish(SyncFinished("trakt-to-x", features=("ratings",), targets=("TRAKT",)))
        # a sync that writes Plex's ratings pauses them, until its quiet period is over
        await r.bus.publish(SyncStarting("trakt-to-plex", ("ratings", "history"), ("PLEX",)))
        await r.send(rating(r.item(18), 7))
        await r.bus.publish(SyncFinished("trakt-to-plex", features=("ratings", "history"), targets=("PLEX",)))
        await r.send(rating(r.item(19), 8))
        assert (r.rating(18), r.rating(19)) == (None, None)
        assert r.router.stats()["dropped_by_guard"] == {"PLEX:ratings": 2}
        await anyio.sleep(QUIET_S + 0.1)
        await r.send(rating(r.item(19), 8))
        assert r.rating(19) == 8


async def test_a_dropped_rating_is_logged_and_the_bus_sees_no_failure(tmp_path: Path, logs: list[dict]) -> None:
    """BUG: ``ListenerGuard.drop`` logs with ``event=`` (structlog's own argument) and raises TypeError."""
    async with rig(tmp_path) as r:
        await r.bus.publish(ToolStarting("PLEX", "default", "ratings", "clear"))
        # a writer's own publish reaches the router's intake directly: it must not raise
        try:
            await r.bus.publish(rating(r.item(20), None))
        except PublishError as exc:
            pytest.fail(f"dropping a rating raised: {exc}")
        await r.send(rating(r.item(21), None))
        assert r.router.stats()["dropped_by_guard"] == {"PLEX:ratings": 2}
        dropped = [e for e in logs if e["event"] == "scrobble.dropped"]
        failed = [e for e in logs if e["event"] == "bus.subscriber_failed"]
        assert failed == []
        assert [e["dropped"] for e in dropped] == [1, 2]  # the 1st, 2nd, 4th, 8th ... drop is logged


# -- the queue --------------------------------------------------------------------------------


async def test_a_flood_beyond_the_queue_is_dropped_and_counted_and_the_router_goes_on(tmp_path: Path) -> None:
    size, flood = 16, 20_000
    async with rig(tmp_path, queue_size=size) as r:
        movie = r.item(22)
        before = r.plays(22)
        tracemalloc.start()
        try:
            start, _ = tracemalloc.get_traced_memory()
            # delivered on the caller's task without a checkpoint: the worker cannot drain meanwhile
            for i in range(flood):
                await r.bus.publish(play(movie, "playing", i / flood * 50))
            grown = tracemalloc.get_traced_memory()[0] - start
        finally:
            tracemalloc.stop()
        assert r.router._receive.statistics().current_buffer_used == size
        assert r.router.stats()["dropped_queue_full"] == flood - size
        assert grown < 512 * 1024, f"memory grew by {grown} bytes for a flood of {flood}"
        await r.settle()
        assert await r.writes(*SCROBBLE_PATHS) == ["/scrobble/start"]  # the queued ones: one session, one start
        await r.send(play(movie, "stopped", 96))
        assert r.plays(22) == before + 1
        assert r.router.stats()["dropped_queue_full"] == flood - size


# -- the webhook route --------------------------------------------------------------------------

SECRET = "hook-secret-1"


def plex_payload(event: str = "media.scrobble", **meta: Any) -> dict[str, Any]:
    metadata = {
        "type": "movie",
        "title": "Small Glacier",
        "year": 2025,
        "ratingKey": "2324",
        "librarySectionID": 1,
        "viewOffset": 4_600_000,
        "duration": 5_160_000,
        "Guid": [{"id": "imdb://tt0266798"}, {"id": "tmdb://7711"}],
        **meta,
    }
    return {
        "event": event,
        "user": True,
        "owner": True,
        "Account": {"id": 1, "title": "ivy"},
        "Player": {"uuid": "player-1"},
        "Metadata": metadata,
    }


def multipart(payload: Any) -> dict[str, Any]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {
        "files": {"payload": (None, raw, "application/json"), "thumb": ("t.jpg", b"\xff\xd8\xff\xd9", "image/jpeg")}
    }


@dataclass
class Hooked:
    """The daemon's web app with the Plex webhook route, as the plugin's hooks wire it."""

    hook: Webhook
    app: WebApp

    @property
    def bus(self) -> EventBus:
        return self.hook.bus

    def client(self, source: str = "127.0.0.1") -> httpx.AsyncClient:
        """A client whose requests come from ``source``."""
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False, client=(source, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://daemon")


def webhook_app(tmp_path: Path, **webhook: Any) -> Hooked:
    table = {"enabled": True, "ratings": True, "secret": SECRET, **webhook}
    (tmp_path / "config.toml").write_text(tomli_w.dumps({"daemon": {"listen": ""}, "scrobble": {"webhook": table}}))
    host = plugin_host(tmp_path)
    hook = Webhook()
    hook.config = load_config(tmp_path, host.sections())
    hook.bus = EventBus()
    app = WebApp(lambda: {"status": "ok"})
    app.set_routes([hook.route()])
    return Hooked(hook, app)


def emitted(bus: EventBus) -> list[Any]:
    out = []
    while True:
        try:
            out.append(bus._receive.receive_nowait())
        except anyio.WouldBlock:
            return out


async def test_webhook_garbage_is_refused_with_400_and_the_route_goes_on(tmp_path: Path) -> None:
    url = f"/webhook/plex/{SECRET}"
    hooked = webhook_app(tmp_path)
    async with hooked.client() as http:
        garbage = {
            "not multipart": {"content": b"event=media.play", "headers": {"content-type": "text/plain"}},
            "no content type": {"content": json.dumps(plex_payload()).encode()},
            "payload not JSON": multipart(b"{not json"),
            "no Metadata": multipart({"event": "media.play"}),
            "Metadata not an object": multipart({"event": "media.play", "Metadata": ["x"]}),
            "payload a list": multipart(b"[1, 2]"),
            "no payload field": {"files": {"other": (None, b"{}", "application/json")}},
            "multipart, no boundary": {"content": b"abc", "headers": {"content-type": "multipart/form-data"}},
            "multipart, wrong boundary": {
                "content": b"--xx\r\nContent-Disposition: form-data; name=payload\r\n\r\n{}",
                "headers": {"content-type": "multipart/form-data; boundary=yy"},
            },
            "binary noise": {
                "content": b"\x00\xff" * 64,
                "headers": {"content-type": "multipart/form-data; boundary=z"},
            },
        }
        for what, request in garbage.items():
            reply = await http.post(url, **request)
            assert reply.status_code == 400, f"{what}: {reply.status_code} {reply.text}"
            assert reply.json()["error"], what
        assert emitted(hooked.bus) == []
        assert hooked.hook.received == 0
        # the route still works
        reply = await http.post(url, **multipart(plex_payload("media.scrobble")))
        assert reply.status_code == 200
        (event,) = emitted(hooked.bus)
        assert isinstance(event, PlaybackObserved)
        assert (event.state, event.item.ids["imdb"], event.progress) == ("stopped", "tt0266798", 90.0)
        assert (event.user, event.library, event.source) == ("ivy", 1, "webhook")


async def test_webhook_metadata_that_is_not_what_plex_sends_is_400_not_a_server_error(tmp_path: Path) -> None:
    """BUG: ``Webhook.receive`` → ``_event`` → ``to_item`` raises on a ``Guid`` that is not a list of objects."""
    url = f"/webhook/plex/{SECRET}"
    hooked = webhook_app(tmp_path)
    async with hooked.client() as http:
        for guid in (5, [5], "imdb://tt1"):
            reply = await http.post(url, **multipart(plex_payload("media.play", Guid=guid)))
            assert reply.status_code == 400, f"Guid={guid!r}: HTTP {reply.status_code}"
        assert emitted(hooked.bus) == []


async def test_webhook_body_over_max_body_kb_is_413(tmp_path: Path) -> None:
    url = f"/webhook/plex/{SECRET}"
    hooked = webhook_app(tmp_path, max_body_kb=1)
    async with hooked.client() as http:
        big = {"content": b"x" * 1500, "headers": {"content-type": "application/json"}}
        assert (await http.post(url, **big)).status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it streams
            for _ in range(4):
                yield b"y" * 400

        reply = await http.post(url, content=chunks(), headers={"content-type": "application/json"})
        assert reply.status_code == 413
        assert (await http.post(url, **multipart(plex_payload()))).status_code == 200  # under 1 KB
        assert len(emitted(hooked.bus)) == 1


async def test_webhook_wrong_secret_is_403_and_logged_once_per_source(tmp_path: Path, logs: list[dict]) -> None:
    hooked = webhook_app(tmp_path)
    async with hooked.client("192.0.2.10") as first, hooked.client("192.0.2.20") as second:
        for _ in range(3):
            assert (await first.post("/webhook/plex/guess", **multipart(plex_payload()))).status_code == 403
        assert (await first.post(f"/webhook/plex/{SECRET}x", **multipart(plex_payload()))).status_code == 403
        assert (await second.post("/webhook/plex/guess", **multipart(plex_payload()))).status_code == 403
        assert (await second.post(f"/webhook/plex/{SECRET}", **multipart(plex_payload()))).status_code == 200
    refused = [e for e in logs if e["event"] == "plex.webhook_forbidden"]
    assert [e["source"] for e in refused] == ["192.0.2.10", "192.0.2.20"]
    assert len(emitted(hooked.bus)) == 1 and hooked.hook.received == 1


# -- the watcher's frames -------------------------------------------------------------------


class Recorder:
    """A bus view that keeps what the watcher emits."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def emit(self, event: Any) -> bool:
        self.events.append(event)
        return True


@asynccontextmanager
async def watcher(tmp_path: Path) -> AsyncIterator[tuple[PlexWatcher, PlexClient, PlexEmulator, Recorder]]:
    emu = PlexEmulator(seed=3, size=40)
    async with serve_app(emu) as url:
        (tmp_path / "config.toml").write_text(
            '[daemon]\nlisten = ""\n\n[scrobble.watcher]\nenabled = true\nratings = true\n\n' + emu.config_toml(url)
        )
        host = plugin_host(tmp_path)
        config = load_config(tmp_path, host.sections())
        state = StateDir(tmp_path)
        state.ensure()
        PlexIdentity(state).save(PlexAccount(token=emu.owner_token, client_id="crosswatch-test"))
        recorder = Recorder()
        ctx = ServiceContext("plex", recorder, state, host.providers, lambda: config)  # type: ignore[arg-type]
        w = PlexWatcher(ctx, "default")
        client = PlexClient(w.settings, state, "default")
        try:
            yield w, client, emu, recorder
        finally:
            await client.aclose()


def frame(kind: str, name: str, entries: Any) -> str:
    return json.dumps({"NotificationContainer": {"type": kind, "size": 1, name: entries}})


async def test_watcher_counts_garbage_frames_and_goes_on(tmp_path: Path) -> None:
    async with watcher(tmp_path) as (w, client, emu, recorder):
        movie = emu.catalog.movies[0]
        rk = str(emu.library.rk(movie))
        counted = [
            "not json",
            "",
            "[]",
            "null",
            '"text"',
            "{}",
            '{"NotificationContainer": 5}',
            '{"NotificationContainer": {"size": 1}}',
            frame("playing", "PlaySessionStateNotification", [{"ratingKey": rk, "state": "exploded"}]),
            frame("playing", "PlaySessionStateNotification", [{"ratingKey": "../1", "state": "playing"}]),
            frame("playing", "PlaySessionStateNotification", [{"state": "playing"}]),
        ]
        ignored = [
            frame("playing", "PlaySessionStateNotification", ["x", 3, None]),
            frame("timeline", "TimelineEntry", [{"type": 1, "itemID": "abc"}, {"type": [1]}, "y"]),
            frame("activity", "ActivityNotification", [{"event": "started"}]),
        ]
        for text in counted + ignored:
            await w.handle(client, text)
        assert w.garbage == len(counted)
        assert recorder.events == []
        good = {"sessionKey": "9", "ratingKey": rk, "viewOffset": 60_000, "state": "playing"}
        await w.handle(client, frame("playing", "PlaySessionStateNotification", [good]))
        (event,) = recorder.events
        assert isinstance(event, PlaybackObserved)
        assert (event.state, event.item.ids["imdb"], event.session) == ("playing", movie.imdb, f"9:{rk}")


@pytest.mark.parametrize(
    "text",
    [
        frame("playing", "PlaySessionStateNotification", 5),
        frame("playing", "PlaySessionStateNotification", True),
        frame("timeline", "TimelineEntry", 7),
    ],
    ids=["playing-int", "playing-bool", "timeline-int"],
)
async def test_watcher_survives_entries_that_are_not_a_list(tmp_path: Path, text: str) -> None:
    """BUG: ``PlexWatcher.handle`` iterates the entries unchecked; a number raises TypeError,
    which ``PlexWatcher.run`` does not catch, so one such frame ends the watcher service."""
    async with watcher(tmp_path) as (w, client, _emu, recorder):
        await w.handle(client, text)
        assert w.garbage == 1
        assert recorder.events == []
