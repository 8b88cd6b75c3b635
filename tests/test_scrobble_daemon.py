"""Live scrobbling through the real daemon process, against the Plex and Trakt emulators on loopback.

Plays and ratings are made on the Plex emulator (``/_emulator/play``, ``/_emulator/rate``);
what is checked is what a person notices: the plays, playback positions and ratings in the
Trakt emulator's state and the ``scrobble`` counts of the daemon's ``/healthz``.

Two daemons per backend at most: one with the websocket watcher (plays and ratings; the
class's tests share it, each on titles of its own), one with Plex webhooks and the watcher
off. A test waits for its frames to be handled with a *sentinel*: a new play session of a
title kept for that, whose ``start`` is forwarded after everything the watcher (or webhook)
saw before it, since both hand events over in order.
"""

# ruff: noqa: F811  (the emulators fixture imported from tests.capture_env is an argument here)
from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from crosswatch.emulation.catalog import Movie
from crosswatch_plex.emulator.library import MODERN
from tests.capture_env import Emulators, emulators  # noqa: F401  (pytest fixture)
from tests.daemon_proc import CROSSWATCH, DaemonProcess, write_atomically

pytestmark = pytest.mark.slow

SECRET = "s3cret-hook-path"
#: sentinel play sessions: each a new client, since the emulator keeps a session open until it stops
SENTINELS = itertools.count()


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass
class Live:
    """A running daemon on a fresh config directory, the emulators, and views of what Trakt holds."""

    emu: Emulators
    folder: Path
    daemon: DaemonProcess
    config: dict[str, Any]
    movies: list[Movie]  # with external ids on Plex, unrated there, and nothing of them on Trakt
    sentinel: Movie

    # -- Plex ---------------------------------------------------------------------------------

    def rk(self, movie: Movie) -> str:
        return str(self.emu.plex.library.rk(movie))

    def play(self, movie: Movie, states: list[str], progress: float, **extra: Any) -> dict[str, Any]:
        body = {"ratingKey": self.rk(movie), "states": states, "progress": progress, **extra}
        reply = httpx.post(self.emu.plex_url + "/_emulator/play", json=body, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def rate(self, movie: Movie, rating: int) -> None:
        body = {"ratingKey": self.rk(movie), "rating": rating}
        reply = httpx.post(self.emu.plex_url + "/_emulator/rate", json=body, timeout=10)
        assert reply.status_code == 200, reply.text

    def play_then_stop(self, movie: Movie, progress: float, **extra: Any) -> None:
        """A play whose session is still open when the watcher asks Plex whose it is, then its stop."""
        self.play(movie, ["playing"], progress, **extra)
        self.settle()
        self.play(movie, ["stopped"], progress, **extra)

    def account(self, admin: bool) -> dict[str, Any]:
        accounts = httpx.get(self.emu.plex_url + "/_emulator/accounts", timeout=10).json()
        return next(a for a in accounts if a["admin"] is admin)

    # -- the daemon -----------------------------------------------------------------------------

    @staticmethod
    def about(movie: Movie) -> Callable[[dict], bool]:
        """Whether a log line's ``item`` (the router's title key) is ``movie``."""
        keys = {f"movie:imdb:{movie.imdb}", f"movie:tmdb:{movie.tmdb}"}
        return lambda line: line.get("item") in keys

    def forwarded(self, movie: Movie) -> list[tuple[str, Any]]:
        """(action, progress or rating) of every ``scrobble.forwarded`` line about ``movie``."""
        lines = filter(self.about(movie), self.daemon.events("scrobble.forwarded"))
        return [(line["action"], line.get("progress", line.get("rating"))) for line in lines]

    def wait_forwarded(self, movie: Movie, action: str, after: int, timeout: float = 60.0) -> dict[str, Any]:
        about = self.about(movie)
        return self.daemon.wait_for(
            "scrobble.forwarded", timeout, where=lambda e: about(e) and e["action"] == action, after=after
        )

    def settle(self) -> None:
        """Wait until everything observed so far was handled (see the module docstring)."""
        mark = self.daemon.mark()
        self.play(self.sentinel, ["playing"], 0.05, clientIdentifier=f"sentinel-{next(SENTINELS)}")
        self.wait_forwarded(self.sentinel, "start", mark)

    def scrobble_stats(self) -> dict[str, Any]:
        return self.daemon.health()["scrobble"]

    # -- Trakt --------------------------------------------------------------------------------

    def trakt(self, feature: str, movie: Movie) -> list[dict[str, Any]]:
        return [e for e in self.emu.trakt.state_json()[feature] if e["type"] == "movie" and e["trakt"] == movie.trakt]

    def trakt_plays(self, movie: Movie) -> int:
        return len(self.trakt("history", movie))

    def trakt_rating(self, movie: Movie) -> int | None:
        found = self.trakt("ratings", movie)
        return found[0]["rating"] if found else None

    def trakt_paused_at(self, movie: Movie) -> float | None:
        found = self.trakt("playback", movie)
        return found[0]["progress"] if found else None


def fresh_movies(emu: Emulators) -> list[Movie]:
    """Movies Plex shows with external ids, that the owner has not rated, and Trakt holds nothing of."""
    lib = emu.plex.library
    rated = set(emu.plex.state.users[emu.plex.state.owner.id].ratings)
    trakt = emu.trakt.state_json()
    held = {e["trakt"] for f in ("ratings", "history", "playback") for e in trakt[f] if e["type"] == "movie"}
    return [
        m
        for m in emu.plex.catalog.movies
        if lib.style_of(m) == MODERN and lib.rk(m) not in rated and m.trakt not in held
    ]


def start_daemon(emu: Emulators, folder: Path, backend: str, scrobble: dict[str, Any]) -> Live:
    emu.reset()
    folder.mkdir()
    shutil.copytree(emu.signed_in, folder / ".cw_state")
    config = merged(emu.config(), {"daemon": {"listen": "127.0.0.1:0"}, "scrobble": scrobble})
    (folder / "config.toml").write_text(tomli_w.dumps(config))
    movies = fresh_movies(emu)
    daemon = DaemonProcess(folder, backend)
    return Live(emu, folder, daemon, config, movies[1:], movies[0])


def stop_daemon(live: Live) -> None:
    code = live.daemon.stop()
    assert code == 0
    assert not [line for line in live.daemon.raw if "Traceback" in line], "".join(live.daemon.raw[-40:])


# -- the websocket watcher ------------------------------------------------------------------


@pytest.fixture(scope="class", params=["asyncio", "trio"])
def watching(
    request: pytest.FixtureRequest, emulators: Emulators, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("watching") / "config"
    live = start_daemon(emulators, folder, request.param, {"watcher": {"enabled": True, "ratings": True}})
    try:
        connected = live.daemon.wait_for("plex.watcher_connected", timeout=60)
        assert connected["connects"] == 1
        yield live
    finally:
        stop_daemon(live)


@dataclass
class Cleared:
    report: dict[str, Any]
    removed: int
    trakt_before: list[dict[str, Any]]
    stats_before: dict[str, Any]
    mark: int


@pytest.fixture(scope="class")
def cleared(watching: Live) -> Cleared:
    """``crosswatch tools clear --provider plex --feature ratings --yes`` from a shell, the daemon running."""
    live = watching
    owner = live.emu.plex.state.owner.id
    rated = len(live.emu.plex.state.users[owner].ratings)
    assert rated >= 10
    live.settle()
    trakt_before = live.emu.trakt.state_json()["ratings"]
    stats_before = live.scrobble_stats()
    mark = live.daemon.mark()
    args = ["--config-dir", str(live.folder), "tools", "clear", "--provider", "plex", "--feature", "ratings"]
    done = subprocess.run([CROSSWATCH, *args, "--yes", "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    removed = sum(report["removed"]["ratings"].values())
    assert removed == rated
    assert live.emu.plex.state.users[owner].ratings == {}
    # every echo of the clear reaches the watcher and is dropped; then the pipeline is idle
    deadline = time.monotonic() + 60
    while live.scrobble_stats()["dropped_by_guard"].get("PLEX:ratings", 0) < removed:
        assert time.monotonic() < deadline, live.scrobble_stats()
        time.sleep(0.1)
    live.settle()
    return Cleared(report, removed, trakt_before, stats_before, mark)


class TestWatcher:
    def test_a_play_past_the_threshold_is_one_trakt_play_even_when_stopped_twice(self, watching: Live) -> None:
        live = watching
        movie = live.movies[0]
        mark = live.daemon.mark()
        live.play(movie, ["playing", "paused", "playing", "stopped"], 0.85)
        live.wait_forwarded(movie, "stop", mark)
        live.play(movie, ["stopped"], 0.85)  # Plex reports the stop again
        live.settle()
        assert [a for a, _ in live.forwarded(movie)][:4] == ["start", "pause", "start", "stop"]
        assert live.forwarded(movie)[3] == ("stop", 85.0)
        assert live.trakt_plays(movie) == 1
        assert live.trakt_paused_at(movie) is None  # the play took the pause's resume point away

    def test_a_play_stopped_at_half_is_no_play_only_a_pause(self, watching: Live) -> None:
        live = watching
        movie = live.movies[1]
        mark = live.daemon.mark()
        live.play(movie, ["playing", "stopped"], 0.5)
        live.wait_forwarded(movie, "pause", mark)
        live.settle()
        assert live.forwarded(movie) == [("start", 50.0), ("pause", 50.0)]
        assert live.trakt_plays(movie) == 0
        assert live.trakt_paused_at(movie) == 50.0

    def test_a_plex_rating_becomes_a_trakt_rating_and_clearing_it_removes_it(self, watching: Live) -> None:
        live = watching
        movie = live.movies[2]
        mark = live.daemon.mark()
        live.rate(movie, 8)
        live.wait_forwarded(movie, "rate", mark)
        assert live.trakt_rating(movie) == 8
        live.rate(movie, -1)
        live.wait_forwarded(movie, "unrate", mark)
        assert live.trakt_rating(movie) is None
        assert live.forwarded(movie) == [("rate", 8), ("unrate", None)]

    def test_a_dropped_websocket_reconnects_and_later_plays_are_forwarded(self, watching: Live) -> None:
        live = watching
        movie = live.movies[3]
        mark = live.daemon.mark()
        reply = httpx.post(live.emu.plex_url + "/_emulator/websocket/drop", timeout=10)
        assert reply.json() == {"dropped": 1}
        live.daemon.wait_for("plex.watcher_connected", timeout=60, after=mark)  # the second connect
        live.play(movie, ["playing", "stopped"], 0.9)
        live.wait_forwarded(movie, "stop", mark)
        assert live.trakt_plays(movie) == 1
        assert live.forwarded(movie) == [("start", 90.0), ("stop", 90.0)]

    def test_a_dropped_websocket_is_a_watcher_reconnect_not_a_service_crash(self, watching: Live) -> None:
        """BUG: ``PlexWatcher.run`` catches ``HTTPXWSException``, but httpx-ws raises the close (1011) inside an
        ``ExceptionGroup``: the service crashes and the supervisor restarts it, with a backoff that never resets
        (1, 2, 5, 15, then 60 s without scrobbles after each drop of a long-running daemon)."""
        live = watching
        mark = live.daemon.mark()
        httpx.post(live.emu.plex_url + "/_emulator/websocket/drop", timeout=10)
        again = live.daemon.wait_for("plex.watcher_connected", timeout=60, after=mark)
        lines = live.daemon.lines[mark:]
        crashed = [e for e in lines if e["event"] == "service.crashed"]
        assert crashed == [], crashed[0]["error"]
        assert [e["event"] for e in lines if e["event"].startswith("plex.watcher_")][:1] == [
            "plex.watcher_disconnected"
        ]
        assert again["connects"] >= 2  # the same watcher, connected again

    def test_a_home_users_play_is_not_forwarded_by_default(self, watching: Live) -> None:
        """FAILS with the emulator: its ``/status/sessions`` JSON gives ``User`` as a list of one, while
        ``PlexWatcher._user`` (like PMS) takes an object; the watcher never learns whose play it is
        (user "", owner None) and an unknown player's play is forwarded."""
        live = watching
        movie = live.movies[4]
        skipped = live.scrobble_stats()["skipped"].get("user", 0)
        partner = live.account(admin=False)
        live.play_then_stop(movie, 0.95, account=partner["id"], clientIdentifier="partner-tv")
        live.settle()
        assert live.forwarded(movie) == []
        assert live.trakt_plays(movie) == 0
        assert live.scrobble_stats()["skipped"]["user"] == skipped + 2

    def test_with_users_naming_the_owner_the_owners_ratings_are_still_forwarded(self, watching: Live) -> None:
        """BUG: the watcher's ``RatingObserved`` carries no ``user`` (``PlexWatcher._timeline``), and since
        9c0c8af ``ScrobbleRouter.observe`` skips every event whose user is not in ``scrobble.users``:
        a person who names themself in ``scrobble.users`` no longer gets their ratings forwarded."""
        live = watching
        movie = live.movies[5]
        owner = live.account(admin=True)["title"]
        path = live.folder / "config.toml"
        try:
            mark = live.daemon.mark()
            write_atomically(path, tomli_w.dumps(merged(live.config, {"scrobble": {"users": [owner]}})))
            live.daemon.wait_for("config.reloaded", after=mark)
            before = live.scrobble_stats()
            live.rate(movie, 7)
            # handled once the router forwarded it, or skipped it (counted on the bus's dispatcher)
            deadline = time.monotonic() + 60
            while live.scrobble_stats() == before:
                assert time.monotonic() < deadline, "the rating was neither forwarded nor skipped"
                time.sleep(0.05)
            after = live.scrobble_stats()
            assert after["skipped"] == before["skipped"], after
            live.wait_forwarded(movie, "rate", mark)
            assert live.trakt_rating(movie) == 7
        finally:
            mark = live.daemon.mark()
            write_atomically(path, tomli_w.dumps(live.config))
            live.daemon.wait_for("config.reloaded", after=mark)

    def test_tools_clear_of_plex_ratings_forwards_no_unrate_and_healthz_counts_the_drops(
        self, watching: Live, cleared: Cleared
    ) -> None:
        live = watching
        assert live.emu.trakt.state_json()["ratings"] == cleared.trakt_before
        assert len(cleared.trakt_before) >= 10
        stats = live.scrobble_stats()
        assert stats["forwarded"].get("unrate", 0) == cleared.stats_before["forwarded"].get("unrate", 0)
        dropped_before = cleared.stats_before["dropped_by_guard"].get("PLEX:ratings", 0)
        assert stats["dropped_by_guard"]["PLEX:ratings"] == dropped_before + cleared.removed
        paused = live.daemon.events("scrobble.paused")
        assert [(e["profile"], e["feature"], e["cause"]) for e in paused] == [("PLEX", "ratings", "ToolStarting")]

    def test_the_guards_drops_are_logged_without_a_subscriber_failure(self, watching: Live, cleared: Cleared) -> None:
        """BUG: ``ListenerGuard.drop`` passes ``event=`` to structlog: TypeError on each logged drop."""
        live = watching
        lines = live.daemon.lines[cleared.mark :]
        failed = [e for e in lines if e["event"] == "bus.subscriber_failed"]
        assert failed == [], failed[0]["error"]
        logged = [e["dropped"] for e in lines if e["event"] == "scrobble.dropped"]
        assert logged == [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= cleared.removed]


# -- Plex webhooks ------------------------------------------------------------------------------


@pytest.fixture(scope="class")
def hooked(emulators: Emulators, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("hooked") / "config"
    scrobble = {
        "watcher": {"enabled": False, "ratings": False},  # the forwarding must come from the webhooks
        "webhook": {"enabled": True, "ratings": True, "secret": SECRET},
    }
    live = start_daemon(emulators, folder, "asyncio", scrobble)
    try:
        ready = live.daemon.wait_for("daemon.ready", timeout=60)
        urls = {"urls": [f"http://{ready['listen']}/webhook/plex/{SECRET}"]}
        assert httpx.post(emulators.plex_url + "/_emulator/webhooks", json=urls, timeout=10).status_code == 200
        yield live
    finally:
        httpx.post(emulators.plex_url + "/_emulator/webhooks", json={"urls": []}, timeout=10)
        stop_daemon(live)
        assert not live.daemon.events("plex.watcher_connected")


class TestWebhook:
    def test_a_webhook_play_and_rating_reach_trakt(self, hooked: Live) -> None:
        live = hooked
        movie = live.movies[0]
        delivered = live.emu.plex.webhooks.delivered
        mark = live.daemon.mark()
        # past 90 %: Plex posts media.play, media.scrobble, then media.stop (the stop told twice)
        live.play(movie, ["playing", "stopped"], 0.95)
        live.wait_forwarded(movie, "stop", mark)
        live.rate(movie, 6)
        live.wait_forwarded(movie, "rate", mark)
        live.settle()
        assert live.emu.plex.webhooks.delivered >= delivered + 4
        assert live.forwarded(movie) == [("start", 95.0), ("stop", 95.0), ("rate", 6)]
        assert live.trakt_plays(movie) == 1
        assert live.trakt_rating(movie) == 6
        assert live.scrobble_stats()["skipped"].get("repeated stop") == 1

    def test_a_wrong_secret_gets_403_and_nothing_is_forwarded(self, hooked: Live) -> None:
        live = hooked
        movie = live.movies[1]
        ready = live.daemon.wait_for("daemon.ready")
        payload = live.emu.plex.webhooks.payload("media.scrobble", live.emu.plex.state.owner.id, movie, 1, None)
        files = {"payload": (None, json.dumps(payload).encode(), "application/json")}
        for secret in ("wrong", SECRET + "x", SECRET[:-1]):
            reply = httpx.post(f"http://{ready['listen']}/webhook/plex/{secret}", files=files, timeout=10)
            assert reply.status_code == 403
        live.settle()
        assert live.forwarded(movie) == []
        assert live.trakt_plays(movie) == 0
        assert len(live.daemon.events("plex.webhook_forbidden")) == 1  # once per source address

    def test_a_home_users_webhook_play_is_not_forwarded_by_default(self, hooked: Live) -> None:
        """BUG: ``crosswatch_plex.webhook._event`` leaves ``owner`` unset (the payload says ``"owner": false``),
        so with ``scrobble.users = []`` a home user's play lands on the owner's Trakt."""
        live = hooked
        movie = live.movies[2]
        partner = live.account(admin=False)
        live.play(movie, ["playing", "stopped"], 0.95, account=partner["id"], clientIdentifier="partner-phone")
        live.settle()
        assert live.forwarded(movie) == []
        assert live.trakt_plays(movie) == 0


# -- both listeners at once -------------------------------------------------------------------


def test_clear_ratings_with_both_listeners_forwards_no_unrate(
    emulators: Emulators, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The watcher's and the webhook's rating listeners both on: a Clear ratings forwards nothing."""
    folder = tmp_path_factory.mktemp("both") / "config"
    scrobble = {
        "watcher": {"enabled": False, "ratings": True},
        "webhook": {"enabled": True, "ratings": True, "secret": SECRET},
    }
    live = start_daemon(emulators, folder, "asyncio", scrobble)
    try:
        ready = live.daemon.wait_for("daemon.ready", timeout=60)
        live.daemon.wait_for("plex.watcher_connected", timeout=60)
        urls = {"urls": [f"http://{ready['listen']}/webhook/plex/{SECRET}"]}
        assert httpx.post(emulators.plex_url + "/_emulator/webhooks", json=urls, timeout=10).status_code == 200
        owner = live.emu.plex.state.owner.id
        rated = len(live.emu.plex.state.users[owner].ratings)
        assert rated >= 10
        live.settle()
        trakt_before = live.emu.trakt.state_json()["ratings"]
        args = ["--config-dir", str(live.folder), "tools", "clear", "--provider", "plex", "--feature", "ratings"]
        done = subprocess.run([CROSSWATCH, *args, "--yes"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert live.emu.plex.state.users[owner].ratings == {}
        # each removal echoes twice, through the websocket and through a webhook: all dropped
        deadline = time.monotonic() + 60
        while live.scrobble_stats()["dropped_by_guard"].get("PLEX:ratings", 0) < 2 * rated:
            assert time.monotonic() < deadline, live.scrobble_stats()
            time.sleep(0.1)
        live.settle()
        stats = live.scrobble_stats()
        assert stats["forwarded"].get("unrate", 0) == 0
        assert live.emu.trakt.state_json()["ratings"] == trakt_before
    finally:
        httpx.post(emulators.plex_url + "/_emulator/webhooks", json={"urls": []}, timeout=10)
        stop_daemon(live)
