"""Live scrobbling from Jellyfin and Emby, against their emulators and the Trakt emulator on loopback.

Most tests run the real daemon process (``crosswatch run``, asyncio and trio), one per backend
for the class: a player signs in on the emulator as a device of its own and reports its
playback (``POST /Sessions/Playing``, ``/Progress``, ``/Stopped``), a person rates, or the
Jellyfin webhook plugin posts its payload to the daemon. What is checked is what a person
notices: the plays, playback positions and ratings on the Trakt emulator, and the daemon's
log lines (``scrobble.forwarded``: each scrobble Trakt was sent).

A test that must show that something was *not* forwarded waits for a *sentinel*: a new play of
a title kept for that, on the same server, whose ``start`` is forwarded after everything the
listener saw before it (one websocket, one bus, one router queue: all in order).

The remaining tests drive a listener and the webhook route in process.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import tomli_w

from crosswatch.commands.common import plugin_host
from crosswatch.config import Config, load_config
from crosswatch.emulation.catalog import Catalog, Episode, Movie, build_catalog
from crosswatch.emulation.server import serve_app, serve_in_thread
from crosswatch.events import PlaybackObserved, RatingObserved
from crosswatch.model import Item, MediaType, title_key
from crosswatch.services import ServiceContext
from crosswatch.state import StateDir
from crosswatch.web import WebApp
from crosswatch_jellyfin import live
from crosswatch_jellyfin.auth import SignIn, save_sign_in
from crosswatch_jellyfin.emulator import EMBY as EMBY_FLAVOUR
from crosswatch_jellyfin.emulator import JELLYFIN as JELLYFIN_FLAVOUR
from crosswatch_jellyfin.emulator import EmulatorSettings, Flavour, MediaServerEmulator
from crosswatch_jellyfin.emulator.library import FULL
from crosswatch_jellyfin.link import Link
from crosswatch_jellyfin.mapping import provider_ids
from crosswatch_jellyfin.servers import EMBY, JELLYFIN, ServerKind
from crosswatch_jellyfin.webhook import Webhook
from crosswatch_trakt.emulator import EmulatorSettings as TraktSettings
from crosswatch_trakt.emulator import TraktEmulator
from tests import conditions
from tests.daemon_proc import DaemonProcess, wait_until
from tests.trakt_helpers import signed_in_to

SEED = 7
SIZE = 300
SECRET = "jf-hook-secret"
DEVICES = itertools.count(1)


def make_emulator(flavour: Flavour | None = None, catalog: Catalog | None = None) -> MediaServerEmulator:
    settings = EmulatorSettings(userdata_debounce_ms=20)
    return MediaServerEmulator(SEED, SIZE, flavour=flavour or JELLYFIN_FLAVOUR, settings=settings, catalog=catalog)


def key_of(emu: MediaServerEmulator, media: Movie | Episode) -> str:
    """The title key the router logs for a title as this server shows it."""
    kind = MediaType.MOVIE if isinstance(media, Movie) else MediaType.EPISODE
    return title_key(Item(type=kind, ids=provider_ids(emu.library.provider_ids(media))))


def control(url: str, path: str, body: Any = None) -> Any:
    reply = httpx.post(url + path, json=body or {}, timeout=10)
    assert reply.status_code in (200, 201), reply.text
    return reply.json()


def sign_in_over_control(url: str, user: str | None = None, device: str = "crosswatch") -> dict[str, str]:
    """A token for ``user`` (default: the administrator) on a device of its own, through the emulator's controls."""
    return control(url, "/_emulator/tokens", {"user": user, "device_id": device})


@dataclass
class Player:
    """A client signed in on the server as a device of its own, reporting what it plays."""

    url: str
    token: str
    device: str
    item: str
    runtime: int

    @classmethod
    def on(cls, emu: MediaServerEmulator, url: str, media: Movie | Episode, user: str | None = None) -> Player:
        device = f"living-room-{next(DEVICES)}"
        token = sign_in_over_control(url, user, device)["AccessToken"]
        runtime = emu.library.runtime_ticks(media)
        assert runtime
        return cls(url, token, device, emu.item_id(media), runtime)

    def report(self, path: str, at: float, paused: bool = False) -> None:
        auth = f'MediaBrowser Client="TV", Device="tv", DeviceId="{self.device}", Version="1.0", Token="{self.token}"'
        body = {"ItemId": self.item, "PositionTicks": int(self.runtime * at), "IsPaused": paused}
        reply = httpx.post(self.url + path, json=body, headers={"Authorization": auth}, timeout=10)
        assert reply.status_code == 204, reply.text

    def start(self, at: float = 0.0) -> None:
        self.report("/Sessions/Playing", at)

    def progress(self, at: float, paused: bool = False) -> None:
        self.report("/Sessions/Playing/Progress", at, paused)

    def stop(self, at: float) -> None:
        self.report("/Sessions/Playing/Stopped", at)


# -- the rig: three emulators served from threads -------------------------------------------------


@dataclass
class Servers:
    jellyfin: MediaServerEmulator
    emby: MediaServerEmulator
    trakt: TraktEmulator
    urls: dict[str, str]
    used: set[int] = field(default_factory=set)  # catalogue indexes some test took

    def emu(self, section: str) -> MediaServerEmulator:
        return self.jellyfin if section == "jellyfin" else self.emby

    def movie(self) -> Movie:
        """A movie both servers show with full ids, that no other test took and Trakt holds nothing of."""
        state = self.trakt.state_json()
        held = {e["trakt"] for f in ("ratings", "history", "playback") for e in state[f] if e["type"] == "movie"}
        for n, movie in enumerate(self.jellyfin.catalog.movies):
            if n in self.used or movie.trakt in held or self.jellyfin.library.style[movie] != FULL:
                continue
            if any(self.rated(emu, movie) for emu in (self.jellyfin, self.emby)):
                continue
            self.used.add(n)
            return movie
        raise AssertionError("the catalogue ran out of fresh movies")

    @staticmethod
    def rated(emu: MediaServerEmulator, movie: Movie) -> bool:
        data = emu.state.get(emu.user_id, emu.library.index[movie])
        return data is not None and data.rating is not None

    def episode(self) -> Episode:
        """An episode of a show with full ids that Trakt holds nothing of."""
        state = self.trakt.state_json()
        held = {e["trakt"] for e in state["history"] + state["playback"] if e["type"] == "episode"}
        for show in self.jellyfin.catalog.shows:
            if self.jellyfin.library.style[show] != FULL:
                continue
            for season in show.seasons:
                for episode in season.episodes:
                    marker = 100_000 + episode.trakt
                    if marker not in self.used and episode.trakt not in held:
                        self.used.add(marker)
                        return episode
        raise AssertionError("the catalogue ran out of fresh episodes")

    # what Trakt holds

    def trakt_entries(self, feature: str, media: Movie | Episode) -> list[dict[str, Any]]:
        kind = "movie" if isinstance(media, Movie) else "episode"
        return [e for e in self.trakt.state_json()[feature] if e["type"] == kind and e["trakt"] == media.trakt]

    def plays(self, media: Movie | Episode) -> int:
        return len(self.trakt_entries("history", media))

    def paused_at(self, media: Movie | Episode) -> float | None:
        found = self.trakt_entries("playback", media)
        return found[0]["progress"] if found else None

    def rating(self, media: Movie) -> int | None:
        found = self.trakt_entries("ratings", media)
        return found[0]["rating"] if found else None


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    catalog = build_catalog(SIZE, SEED)  # one catalogue: a title is the same object on both servers
    jellyfin, emby = make_emulator(catalog=catalog), make_emulator(EMBY_FLAVOUR, catalog)
    trakt = TraktEmulator(
        seed=SEED, size=SIZE, settings=TraktSettings(interval=0, approve_after_polls=0, post_limit=0, get_limit=0)
    )
    with serve_in_thread(jellyfin) as jf_url, serve_in_thread(emby) as emby_url, serve_in_thread(trakt) as trakt_url:
        yield Servers(jellyfin, emby, trakt, {"jellyfin": jf_url, "emby": emby_url, "trakt": trakt_url})


def config_dir(servers: Servers, folder: Path, scrobble: dict[str, Any]) -> None:
    """A config directory signed in to all three emulators."""
    folder.mkdir(parents=True)
    trakt = servers.trakt
    config = {
        "daemon": {"listen": "127.0.0.1:0"},
        "plugins": {"disabled": ["plex"]},
        "trakt": {
            "client_id": trakt.client_id,
            "client_secret": trakt.client_secret,
            "api_url": servers.urls["trakt"],
            "auth_url": servers.urls["trakt"],
            "write_interval_s": 0,
        },
        "jellyfin": {"url": servers.urls["jellyfin"], "user": servers.jellyfin.username},
        "emby": {"url": servers.urls["emby"], "user": servers.emby.username},
        "scrobble": scrobble,
    }
    (folder / "config.toml").write_text(tomli_w.dumps(config))
    state = signed_in_to(trakt, folder)
    for kind in (JELLYFIN, EMBY):
        emu, url = servers.emu(kind.section), servers.urls[kind.section]
        device = f"crosswatch-{folder.parent.name}"
        signed = sign_in_over_control(url, None, device)
        sign_in = SignIn(
            method="password",
            url=url,
            user_id=signed["UserId"],
            user_name=emu.username,
            access_token=signed["AccessToken"],
            device_id=device,
            server_id=emu.server_id,
        )
        save_sign_in(state, kind, "default", sign_in)


@dataclass
class Live:
    """The running daemon and what it forwarded."""

    servers: Servers
    daemon: DaemonProcess
    sentinels: dict[str, Movie]

    @property
    def url(self) -> str:
        return f"http://{self.daemon.wait_for('daemon.ready')['listen']}"

    def events(self, name: str, after: int) -> list[dict[str, Any]]:
        """The log lines named ``name`` from line ``after`` on."""
        return [line for line in list(self.daemon.lines[after:]) if line.get("event") == name]

    def forwarded(self, key: str, after: int = 0) -> list[tuple[str, Any]]:
        """(action, progress or rating) of every scrobble sent to Trakt about ``key`` (from log line ``after`` on)."""
        lines = [e for e in self.events("scrobble.forwarded", after) if e.get("item") == key]
        return [(e["action"], e.get("progress", e.get("rating"))) for e in lines]

    def wait_forwarded(self, key: str, action: str, after: int, timeout: float = 60.0) -> dict[str, Any]:
        return self.daemon.wait_for(
            "scrobble.forwarded", timeout, where=lambda e: e.get("item") == key and e["action"] == action, after=after
        )

    def settle(self, section: str) -> None:
        """Wait until everything the server's listener saw so far was handled (see the module docstring)."""
        emu, movie = self.servers.emu(section), self.sentinels[section]
        mark = self.daemon.mark()
        player = Player.on(emu, self.servers.urls[section], movie)
        player.start(0.02)
        self.wait_forwarded(key_of(emu, movie), "start", mark)
        player.stop(0.02)

    def hook(self, payload: Any, *, secret: str = SECRET, **kwargs: Any) -> httpx.Response:
        """POST a webhook as the Jellyfin webhook plugin does (text/plain unless told)."""
        content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = kwargs.pop("headers", {"Content-Type": "text/plain; charset=utf-8"})
        return httpx.post(f"{self.url}/webhook/jellyfin/{secret}", content=content, headers=headers, timeout=10)


@pytest.fixture(scope="class", params=["asyncio", "trio"])
def running(
    request: pytest.FixtureRequest, servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    for section in ("jellyfin", "emby"):
        control(servers.urls[section], "/_emulator/reset")
        control(servers.urls[section], "/_emulator/settings", {"websocket_drop": 0})
    servers.trakt.reset_state()
    servers.used.clear()
    folder = tmp_path_factory.mktemp(f"live-{request.param}") / "config"
    scrobble = {
        "watcher": {"enabled": True, "ratings": True},
        "webhook": {"enabled": True, "ratings": True, "secret": SECRET, "max_body_kb": 16},
    }
    config_dir(servers, folder, scrobble)
    daemon = DaemonProcess(folder, request.param)
    live_run = Live(servers, daemon, {"jellyfin": servers.movie(), "emby": servers.movie()})
    try:
        for section in ("jellyfin", "emby"):
            connected = daemon.wait_for(f"{section}.watcher_connected", timeout=60)
            assert connected["connects"] == 1 and connected["sessions"] == "pushed"
        yield live_run
    finally:
        code = daemon.stop()
        assert code == 0
        assert not [line for line in daemon.raw if "Traceback" in line], "".join(daemon.raw[-40:])
        assert not [line for line in daemon.lines if line.get("level") in ("error", "critical")]


def hook_payload(emu: MediaServerEmulator, kind: str, movie: Movie, **extra: Any) -> dict[str, Any]:
    """The webhook plugin's object ("Send All Properties") for a movie and the administrator."""
    return {
        "ServerId": emu.server_id,
        "ServerName": emu.server_name,
        "ServerVersion": "10.11.8",
        "ServerUrl": "localhost:8096",
        "NotificationType": kind,
        "Timestamp": "2026-01-27T20:15:00.0000000+01:00",
        "UtcTimestamp": "2026-01-27T19:15:00.0000000Z",
        "Name": movie.title,
        "Overview": "",
        "Tagline": "",
        "ItemId": emu.item_id(movie),
        "ItemType": "Movie",
        "RunTimeTicks": emu.library.runtime_ticks(movie),
        "RunTime": "01:40:00",
        "Year": movie.year,
        "Provider_imdb": movie.imdb,
        "Provider_tmdb": str(movie.tmdb),
        "NotificationUsername": emu.username,
        "UserId": emu.user_id,
        **extra,
    }


@pytest.mark.slow
class TestDaemon:
    @pytest.mark.parametrize("section", ["jellyfin", "emby"])
    def test_a_play_past_the_threshold_is_one_trakt_play_and_progress_reports_send_one_start(
        self, running: Live, section: str
    ) -> None:
        live, servers = running, running.servers
        emu, movie = servers.emu(section), servers.movie()
        key = key_of(emu, movie)
        mark = live.daemon.mark()
        player = Player.on(emu, servers.urls[section], movie)
        player.start()
        live.wait_forwarded(key, "start", mark)
        for at in (0.1, 0.2, 0.3, 0.4, 0.5):  # a player reports every few seconds
            player.progress(at)
        player.stop(0.95)
        live.wait_forwarded(key, "stop", mark)
        wait_until(lambda: servers.plays(movie) == 1, what="the play on Trakt")
        live.settle(section)
        assert live.forwarded(key, mark) == [("start", 0.0), ("stop", 100.0)]
        assert servers.plays(movie) == 1 and servers.paused_at(movie) is None
        plays = [e for e in live.events(f"{section}.play", mark) if e["item"] == key]
        assert [(e["state"], e["owner"], e["user"]) for e in plays] == [
            ("playing", True, emu.username),
            ("stopped", True, emu.username),
        ]

    @pytest.mark.parametrize("section", ["jellyfin", "emby"])
    def test_pause_resume_and_a_stop_at_half_keep_the_position_on_trakt_and_no_play(
        self, running: Live, section: str
    ) -> None:
        live, servers = running, running.servers
        emu, movie = servers.emu(section), servers.movie()
        key = key_of(emu, movie)
        mark = live.daemon.mark()
        player = Player.on(emu, servers.urls[section], movie)
        player.start(0.1)
        player.progress(0.3, paused=True)
        live.wait_forwarded(key, "pause", mark)
        player.progress(0.35)
        player.progress(0.45)
        player.stop(0.5)
        wait_until(lambda: servers.paused_at(movie) == 50.0, what="the paused position on Trakt")
        live.settle(section)
        actions = live.forwarded(key, mark)
        assert [a for a, _ in actions] == ["start", "pause", "start", "pause"]
        assert actions[-1] == ("pause", 50.0)  # the stop's position, as the server saved it
        assert servers.plays(movie) == 0

    def test_an_episode_becomes_a_trakt_episode_play(self, running: Live) -> None:
        live, servers = running, running.servers
        emu, episode = servers.jellyfin, servers.episode()
        key = key_of(emu, episode)
        mark = live.daemon.mark()
        player = Player.on(emu, servers.urls["jellyfin"], episode)
        player.start()
        player.stop(0.97)
        live.wait_forwarded(key, "stop", mark)
        wait_until(lambda: servers.plays(episode) == 1, what="the episode's play on Trakt")

    def test_another_users_play_is_not_forwarded(self, running: Live) -> None:
        live, servers = running, running.servers
        emu, movie = servers.jellyfin, servers.movie()
        other = emu.accounts.users[1].name
        key = key_of(emu, movie)
        skipped = live.daemon.health()["scrobble"]["skipped"].get("user", 0)
        mark = live.daemon.mark()
        player = Player.on(emu, servers.urls["jellyfin"], movie, user=other)
        player.start()
        player.stop(0.96)
        live.daemon.wait_for("jellyfin.play", where=lambda e: e["item"] == key and e["state"] == "stopped", after=mark)
        live.settle("jellyfin")
        assert live.forwarded(key, mark) == []
        assert servers.plays(movie) == 0
        seen = [(e["state"], e["owner"], e["user"]) for e in live.events("jellyfin.play", mark) if e["item"] == key]
        assert seen == [("playing", False, other), ("stopped", False, other)], live.events("jellyfin.play", mark)
        scrobble = live.daemon.health()["scrobble"]
        assert scrobble["skipped"]["user"] == skipped + 2, scrobble

    @pytest.mark.parametrize("section", ["jellyfin", "emby"])
    def test_a_dropped_websocket_reconnects_and_the_play_goes_on_being_forwarded(
        self, running: Live, section: str
    ) -> None:
        live, servers = running, running.servers
        emu, movie = servers.emu(section), servers.movie()
        key = key_of(emu, movie)
        mark = live.daemon.mark()
        before = live.daemon.events(f"{section}.watcher_connected")[-1]["connects"]
        player = Player.on(emu, servers.urls[section], movie)
        player.start()
        live.wait_forwarded(key, "start", mark)
        assert control(servers.urls[section], "/_emulator/websocket/drop")["dropped"] >= 1
        live.daemon.wait_for(f"{section}.watcher_disconnected", after=mark)
        live.daemon.wait_for(f"{section}.watcher_connected", where=lambda e: e["connects"] == before + 1, after=mark)
        player.progress(0.6)
        player.stop(0.92)
        live.wait_forwarded(key, "stop", mark)
        wait_until(lambda: servers.plays(movie) == 1, what="the play on Trakt")
        live.settle(section)
        assert live.forwarded(key, mark) == [("start", 0.0), ("stop", 100.0)]  # the reconnect started nothing again

    def test_a_play_stopped_while_the_socket_was_down_is_stopped_when_it_is_back(self, running: Live) -> None:
        live, servers = running, running.servers
        emu, movie = servers.jellyfin, servers.movie()
        url = servers.urls["jellyfin"]
        key = key_of(emu, movie)
        mark = live.daemon.mark()
        player = Player.on(emu, url, movie)
        player.start()
        live.wait_forwarded(key, "start", mark)
        # every socket now closes after its first message, so the stop happens while none is open
        control(url, "/_emulator/settings", {"websocket_drop": 1})
        control(url, "/_emulator/websocket/drop")
        live.daemon.wait_for("jellyfin.watcher_disconnected", after=mark)
        player.progress(0.5)
        player.stop(0.93)
        control(url, "/_emulator/settings", {"websocket_drop": 0})
        live.wait_forwarded(key, "stop", mark, timeout=90)
        wait_until(lambda: servers.plays(movie) == 1, what="the play on Trakt")
        assert live.forwarded(key, mark) == [("start", 0.0), ("stop", 100.0)]

    @pytest.mark.parametrize("section", ["jellyfin", "emby"])
    def test_a_rating_becomes_a_trakt_rating_and_clearing_it_removes_it(self, running: Live, section: str) -> None:
        live, servers = running, running.servers
        emu, movie = servers.emu(section), servers.movie()
        url, key = servers.urls[section], key_of(emu, movie)
        token = sign_in_over_control(url, None, f"phone-{next(DEVICES)}")
        path = f"{url}/Users/{token['UserId']}/Items/{emu.item_id(movie)}"
        headers = {"X-Emby-Token": token["AccessToken"]}
        mark = live.daemon.mark()
        assert httpx.post(path + "/UserData", json={"Rating": 7}, headers=headers, timeout=10).status_code in (200, 204)
        live.wait_forwarded(key, "rate", mark)
        wait_until(lambda: servers.rating(movie) == 7, what="the rating on Trakt")
        assert httpx.delete(path + "/Rating", headers=headers, timeout=10).status_code == 200
        live.wait_forwarded(key, "unrate", mark)
        wait_until(lambda: servers.rating(movie) is None, what="the rating gone from Trakt")
        # a play of the rated title is a user-data change too, with the rating unchanged: no rating is sent
        player = Player.on(emu, url, movie)
        player.start()
        player.stop(0.2)
        live.settle(section)
        assert live.forwarded(key, mark)[:2] == [("rate", 7), ("unrate", None)]
        assert [a for a, _ in live.forwarded(key, mark)[2:]] == ["start", "pause"]

    # -- the webhook --------------------------------------------------------------------------

    def test_webhook_playback_reaches_trakt(self, running: Live) -> None:
        live, servers = running, running.servers
        emu, movie = servers.jellyfin, servers.movie()
        key, runtime = key_of(emu, movie), emu.library.runtime_ticks(movie)
        assert runtime
        device = {"DeviceId": "webhook-tv-1", "DeviceName": "TV", "ClientName": "Jellyfin Android TV"}
        mark = live.daemon.mark()
        playback = {"PlaybackPositionTicks": 0, "IsPaused": False, "IsAutomated": False, **device}
        assert live.hook(hook_payload(emu, "PlaybackStart", movie, **playback)).status_code == 200
        for at in (0.3, 0.6):
            body = hook_payload(
                emu, "PlaybackProgress", movie, **{**playback, "PlaybackPositionTicks": int(runtime * at)}
            )
            assert live.hook(body).status_code == 200
        stop = hook_payload(
            emu,
            "PlaybackStop",
            movie,
            **{**playback, "PlaybackPositionTicks": int(runtime * 0.91)},
            PlayedToCompletion=True,
        )
        assert live.hook(stop, headers={"Content-Type": "application/json"}).status_code == 200
        live.wait_forwarded(key, "stop", mark)
        wait_until(lambda: servers.plays(movie) == 1, what="the webhook's play on Trakt")
        assert live.forwarded(key, mark) == [("start", 0.0), ("stop", 100.0)]

    def test_webhook_episode_without_its_own_ids_is_found_by_its_show(self, running: Live) -> None:
        """A template that names no ``Provider_*`` of the episode: the show's ids come from the server."""
        live, servers = running, running.servers
        emu, episode = servers.jellyfin, servers.episode()
        show = episode.show
        runtime = emu.library.runtime_ticks(episode)
        assert runtime
        body = {
            "NotificationType": "PlaybackStop",
            "ServerId": emu.server_id,
            "ItemId": emu.item_id(episode),
            "ItemType": "Episode",
            "Name": episode.title,
            "SeriesName": show.title,
            "SeriesId": emu.item_id(show),
            "SeasonNumber": str(episode.season),  # templated values come as text
            "EpisodeNumber": str(episode.number),
            "RunTimeTicks": str(runtime),
            "PlaybackPositionTicks": str(int(runtime * 0.95)),
            "PlayedToCompletion": "True",
            "DeviceId": "webhook-tv-2",
            "NotificationUsername": emu.username,
            "UserId": emu.user_id,
        }
        assert live.hook(body).status_code == 200
        wait_until(lambda: servers.plays(episode) == 1, what="the episode's play on Trakt")

    def test_webhook_rating_reaches_trakt(self, running: Live) -> None:
        live, servers = running, running.servers
        emu, movie = servers.jellyfin, servers.movie()
        key = key_of(emu, movie)
        mark = live.daemon.mark()
        saved = {"SaveReason": "UpdateUserRating", "Likes": False, "Rating": 6, "Played": False, "Favorite": False}
        assert live.hook(hook_payload(emu, "UserDataSaved", movie, **saved)).status_code == 200
        live.wait_forwarded(key, "rate", mark)
        wait_until(lambda: servers.rating(movie) == 6, what="the rating on Trakt")
        # a favourite toggled on the same title is the same reason with the rating unchanged
        assert live.hook(hook_payload(emu, "UserDataSaved", movie, **{**saved, "Favorite": True})).status_code == 200
        cleared = hook_payload(emu, "UserDataSaved", movie, **{**saved, "Rating": 0})  # the plugin writes none as 0
        assert live.hook(cleared).status_code == 200
        live.wait_forwarded(key, "unrate", mark)
        wait_until(lambda: servers.rating(movie) is None, what="the rating gone from Trakt")
        assert live.forwarded(key, mark) == [("rate", 6), ("unrate", None)]

    def test_a_play_seen_by_the_websocket_and_the_webhook_is_scrobbled_once(self, running: Live) -> None:
        live, servers = running, running.servers
        emu, movie = servers.jellyfin, servers.movie()
        key, runtime = key_of(emu, movie), emu.library.runtime_ticks(movie)
        assert runtime
        mark = live.daemon.mark()
        player = Player.on(emu, servers.urls["jellyfin"], movie)
        player.start()
        live.wait_forwarded(key, "start", mark)
        hooked = {"DeviceId": player.device, "IsPaused": False}
        assert (
            live.hook(hook_payload(emu, "PlaybackStart", movie, **hooked, PlaybackPositionTicks=0)).status_code == 200
        )
        player.stop(0.96)
        live.wait_forwarded(key, "stop", mark)
        stop = hook_payload(
            emu, "PlaybackStop", movie, **hooked, PlaybackPositionTicks=int(runtime * 0.96), PlayedToCompletion=True
        )
        assert live.hook(stop).status_code == 200
        live.settle("jellyfin")
        assert live.forwarded(key, mark) == [("start", 0.0), ("stop", 100.0)]
        assert servers.plays(movie) == 1

    def test_webhook_refusals(self, running: Live) -> None:
        live, servers = running, running.servers
        emu, movie = servers.jellyfin, servers.movie()
        key = key_of(emu, movie)
        mark = live.daemon.mark()
        body = hook_payload(emu, "PlaybackStart", movie, DeviceId="webhook-tv-3", PlaybackPositionTicks=0)
        assert live.hook(body, secret="guessed").status_code == 403
        assert live.hook(body, secret=SECRET + "x").status_code == 403
        refused = live.daemon.wait_for("jellyfin.webhook_forbidden", after=mark)
        assert refused["source"] == "127.0.0.1"
        oversize = {**body, "Overview": "x" * 20_000}  # scrobble.webhook.max_body_kb = 16
        assert live.hook(oversize).status_code == 413
        assert live.hook(b"PlaybackStart for The Matrix").status_code == 400
        assert live.hook(b"[1, 2]").status_code == 400
        live.settle("jellyfin")
        assert live.forwarded(key, mark) == []
        assert live.hook(body).status_code == 200  # the route still works
        live.wait_forwarded(key, "start", mark)


# -- in process -----------------------------------------------------------------------------------


class Recorder:
    """A bus view that keeps what is emitted."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def emit(self, event: Any) -> bool:
        self.events.append(event)
        return True

    def plays(self) -> list[tuple[str, float, bool | None]]:
        return [(e.state, e.progress, e.owner) for e in self.events if isinstance(e, PlaybackObserved)]


def load(folder: Path, table: dict[str, Any]) -> tuple[Config, Any]:
    (folder / "config.toml").write_text(tomli_w.dumps(table))
    host = plugin_host(folder)
    return load_config(folder, host.sections()), host


@dataclass
class InProcess:
    emu: MediaServerEmulator
    url: str
    kind: ServerKind
    config: Config
    link: Link
    listener: live.Listener
    recorder: Recorder


async def in_process(folder: Path, emu: MediaServerEmulator, url: str, user: str | None = None) -> InProcess:
    """A listener of a profile signed in as ``user`` (default: the administrator), emitting to a recorder."""
    kind = EMBY if emu.flavour.name == "emby" else JELLYFIN
    account = emu.accounts.by_name(user) if user else emu.accounts.admin
    assert account is not None
    table = {
        "daemon": {"listen": ""},
        kind.section: {"url": url, "user": account.name},
        "scrobble": {"watcher": {"enabled": True, "ratings": True}},
    }
    config, host = load(folder, table)
    state = StateDir(folder)
    state.ensure()
    token = emu.sign_in(account.name, device_id="crosswatch-in-process")
    sign_in = SignIn(
        method="password", url=url, user_id=account.id, user_name=account.name, access_token=token, device_id="x"
    )
    save_sign_in(state, kind, "default", sign_in)
    recorder = Recorder()
    ctx = ServiceContext("jellyfin", recorder, state, host.providers, lambda: config)  # type: ignore[arg-type]
    link = Link(kind, "default", config.sections[kind.section].profiles["default"], state)
    return InProcess(emu, url, kind, config, link, live.Listener(ctx, link, live.mode(config)), recorder)


async def report(url: str, token: str, device: str, path: str, body: dict[str, Any]) -> None:
    auth = f'MediaBrowser Client="TV", Device="tv", DeviceId="{device}", Version="1.0", Token="{token}"'
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": auth}) as client:
        assert (await client.post(path, json=body)).status_code == 204


@pytest.mark.anyio
async def test_a_user_who_is_no_administrator_is_followed_by_polling_their_sessions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The servers send ``Sessions`` to administrators only: another user's listener asks ``GET /Sessions``."""
    monkeypatch.setattr(live, "POLL_S", 0.05)
    emu = make_emulator()
    user = emu.accounts.users[1]
    movie = next(m for m in emu.catalog.movies if emu.library.style[m] == FULL)
    runtime = emu.library.runtime_ticks(movie)
    assert runtime
    async with serve_app(emu) as url:
        rig = await in_process(tmp_path, emu, url, user.name)
        token = emu.sign_in(user.name, device_id="phone")
        body = {"ItemId": emu.item_id(movie), "PositionTicks": 0}
        async with anyio.create_task_group() as tg:
            tg.start_soon(rig.listener.run)
            await conditions.wait_until(lambda: rig.listener.connects == 1)
            await report(url, token, "phone", "/Sessions/Playing", body)
            await conditions.wait_until(lambda: rig.recorder.plays())
            await report(url, token, "phone", "/Sessions/Playing/Stopped", {**body, "PositionTicks": runtime // 2})
            await conditions.wait_until(lambda: len(rig.recorder.plays()) == 2)
            tg.cancel_scope.cancel()
        await rig.link.aclose()
    assert rig.recorder.plays() == [("playing", 0.0, True), ("stopped", 50.0, True)]
    assert rig.recorder.events[0].user == user.name


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", ["jellyfin", "emby"])
async def test_messages_that_are_not_what_the_servers_send_are_counted_and_skipped(
    tmp_path: Path, flavour: str
) -> None:
    emu = make_emulator(EMBY_FLAVOUR if flavour == "emby" else None)
    movie = next(m for m in emu.catalog.movies if emu.library.style[m] == FULL)
    async with serve_app(emu) as url:
        rig = await in_process(tmp_path, emu, url)
        sent: list[tuple[str, Any]] = []

        async def send(kind: str, data: Any = None) -> None:
            sent.append((kind, data))

        garbage = [
            "",
            "not json",
            "[]",
            "null",
            '"text"',
            "{}",
            '{"MessageType": 5}',
            '{"MessageType": "Sessions", "Data": 5}',
            '{"MessageType": "Sessions", "Data": [5, "x", {"NoId": 1}]}',
            '{"MessageType": "UserDataChanged", "Data": {"UserDataList": 3}}',
            '{"MessageType": "PlaybackStopped", "Data": []}',
            "[" * 100_000,
        ]
        for text in garbage:
            await rig.listener.handle(text, send)  # type: ignore[arg-type]
        assert rig.recorder.events == [] and sent == []
        # each message is skipped: nine that are no message, five sessions or changes that are not the servers'
        assert (rig.listener.garbage, rig.listener.tracker.unknown) == (9, 5)
        await rig.listener.handle('{"MessageType": "ForceKeepAlive", "Data": 60}', send)  # type: ignore[arg-type]
        assert sent == [("KeepAlive", None)] and rig.listener.keepalive_s == 60
        now_playing = {
            "Id": "s1",
            "UserId": emu.user_id,
            "UserName": emu.username,
            "DeviceId": "tv-9",
            "PlayState": {"PositionTicks": 0, "IsPaused": False},
            "NowPlayingItem": {"Id": emu.item_id(movie), "Type": "Movie"},  # no ProviderIds: looked up
        }
        await rig.listener.handle(json.dumps({"MessageType": "Sessions", "Data": [now_playing]}), send)  # type: ignore[arg-type]
        await rig.listener.handle(json.dumps({"MessageType": "Sessions", "Data": []}), send)  # type: ignore[arg-type]
        await rig.link.aclose()
    assert [(e.state, e.item.ids.get("imdb"), e.session) for e in rig.recorder.events] == [
        ("playing", movie.imdb, f"tv-9:{emu.item_id(movie)}"),
        ("stopped", movie.imdb, f"tv-9:{emu.item_id(movie)}"),
    ]


# -- the webhook route in process ------------------------------------------------------------------


def webhook_app(folder: Path, **webhook: Any) -> tuple[Webhook, WebApp, Recorder]:
    table = {"enabled": True, "ratings": True, "secret": SECRET, **webhook}
    config, _ = load(folder, {"daemon": {"listen": ""}, "scrobble": {"webhook": table}})
    hook = Webhook()
    recorder = Recorder()
    hook.config, hook.bus = config, recorder
    app = WebApp(lambda: {"status": "ok"})
    app.set_routes(live.routes())
    live.LIVE.config, live.LIVE.bus, live.LIVE.webhook = config, recorder, hook  # type: ignore[assignment]
    return hook, app, recorder


@pytest.mark.anyio
async def test_webhook_payload_forms_without_a_jellyfin_profile(tmp_path: Path) -> None:
    """Templated text values, dashed Guids, the older ``Username`` key; no profile: ``owner`` unknown."""
    hook, app, recorder = webhook_app(tmp_path)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as http:
        guid = "0f3c1d7e-2b4a-4c5d-8e9f-a1b2c3d4e5f6"
        body = {
            "NotificationType": "PlaybackProgress",
            "ItemId": guid,
            "ItemType": "Movie",
            "Name": "Small Glacier",
            "Year": "2025",
            "Provider_imdb": "tt0266798",
            "Provider_tmdb": "7711",
            "RunTimeTicks": "60000000000",
            "PlaybackPositionTicks": "15000000000",
            "IsPaused": "True",
            "DeviceId": "tv-1",
            "Username": "ann",
            "UserId": "5b2f0c4a-0000-4000-8000-000000000001",
        }
        reply = await http.post(
            f"/webhook/jellyfin/{SECRET}", content=json.dumps(body), headers={"Content-Type": "text/plain"}
        )
        assert reply.status_code == 200
        ignored = {**body, "NotificationType": "ItemAdded"}
        assert (await http.post(f"/webhook/jellyfin/{SECRET}", json=ignored)).status_code == 200
        music = {**body, "ItemType": "Audio"}
        assert (await http.post(f"/webhook/jellyfin/{SECRET}", json=music)).status_code == 200
        nested = b'{"a":' * 5000 + b"1" + b"}" * 5000
        assert (await http.post(f"/webhook/jellyfin/{SECRET}", content=nested)).status_code == 400
    (event,) = recorder.events
    assert isinstance(event, PlaybackObserved)
    assert (event.provider, event.profile, event.state, event.progress) == ("JELLYFIN", "default", "paused", 25.0)
    assert event.item.ids == {"imdb": "tt0266798", "tmdb": "7711"} and event.item.year == 2025
    assert (event.user, event.owner, event.source) == ("ann", None, "webhook")
    assert event.session == "tv-1:" + guid.replace("-", "")
    assert hook.received == 3


@pytest.mark.anyio
async def test_webhook_off_or_a_rating_of_another_user(tmp_path: Path) -> None:
    hook, app, recorder = webhook_app(tmp_path)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    body = {
        "NotificationType": "UserDataSaved",
        "SaveReason": "UpdateUserRating",
        "ItemId": "123",
        "ItemType": "Movie",
        "Provider_imdb": "tt0266798",
        "Rating": 8,
        "NotificationUsername": "kai",
        "UserId": "42",
    }
    async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as http:
        url = f"/webhook/jellyfin/{SECRET}"
        assert (await http.post(url, json=body)).status_code == 200
        assert (await http.post(url, json=body)).status_code == 200  # the same rating again: no change
        assert (await http.post(url, json={**body, "SaveReason": "PlaybackProgress", "Rating": 9})).status_code == 200
        assert (await http.post(url, json={**body, "Rating": 0})).status_code == 200
        hook.config = load(tmp_path, {"scrobble": {"webhook": {"enabled": False, "secret": SECRET}}})[0]
        live.LIVE.config = hook.config
        assert (await http.post(url, json=body)).status_code == 404
    ratings = [(e.rating, e.user, e.owner) for e in recorder.events if isinstance(e, RatingObserved)]
    assert ratings == [(8, "kai", None), (None, "kai", None)]
