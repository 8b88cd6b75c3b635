"""The daemon as a real process: start, live reloads (valid, broken, fixed), SIGHUP, SIGTERM."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.daemon_proc import DaemonProcess, wait_until, write_atomically

pytestmark = pytest.mark.slow

CONFIG = """
[daemon]
listen = "127.0.0.1:0"

[trakt]
client_id = "abc"

[[pairs]]
name = "plex-to-trakt"
source = "plex"
target = "trakt"
schedule = "{cron}"
"""


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def test_live_reload_valid_broken_fixed_then_sigterm(tmp_path: Path, backend: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(cron="0 3 * * *"))
    daemon = DaemonProcess(tmp_path, backend)
    try:
        ready = daemon.wait_for("daemon.ready")
        assert ready["backend"] == backend
        nxt = daemon.wait_for("schedule.next")
        assert nxt["job"] == "sync:plex-to-trakt" and nxt["cron"] == "0 3 * * *"
        health = daemon.health()
        assert health["jobs"][0]["cron"] == "0 3 * * *"
        assert health["plugins"]["plex"] == "loaded"

        # 1. a valid change is applied
        mark = daemon.mark()
        write_atomically(config, CONFIG.format(cron="30 4 * * *"))
        reloaded = daemon.wait_for("config.reloaded", after=mark)
        assert "pairs" in reloaded["changed"]
        assert daemon.health()["jobs"][0]["cron"] == "30 4 * * *"

        # 2. broken TOML is rejected with file and line; the old config stays
        mark = daemon.mark()
        broken = CONFIG.format(cron="15 5 * * *").replace('client_id = "abc"', 'client_id = "abc')
        write_atomically(config, broken)
        rejected = daemon.wait_for("config.rejected", after=mark)
        line = broken.splitlines().index('client_id = "abc') + 1
        assert f"config.toml:{line}:" in rejected["issue"]
        assert daemon.proc.poll() is None
        assert daemon.health()["jobs"][0]["cron"] == "30 4 * * *"

        # 3. a wrong value is rejected naming the key
        mark = daemon.mark()
        write_atomically(config, CONFIG.format(cron="0 0 31 2 *"))
        rejected = daemon.wait_for("config.rejected", after=mark)
        assert "pairs[0].schedule" in rejected["issue"] and "config.toml:" in rejected["issue"]
        assert daemon.health()["rejected_reloads"] == 2

        # 4. fixed again: applied
        mark = daemon.mark()
        write_atomically(config, CONFIG.format(cron="45 6 * * *"))
        daemon.wait_for("config.reloaded", after=mark)
        assert daemon.health()["jobs"][0]["cron"] == "45 6 * * *"

        # 5. SIGHUP reloads too
        mark = daemon.mark()
        daemon.signal(signal.SIGHUP)
        daemon.wait_for("config.unchanged", after=mark, where=lambda e: e["reason"] == "SIGHUP")
        assert daemon.proc.poll() is None
    finally:
        began = time.monotonic()
        code = daemon.stop()
    assert code == 0
    assert time.monotonic() - began < 20  # prompt: a hang is caught, a loaded machine is not
    daemon.wait_for("daemon.stopped")
    assert not [line for line in daemon.raw if "Traceback" in line]


def test_sd_notify_ready_watchdog_reloading_stopping(tmp_path: Path, backend: str) -> None:
    (tmp_path / "config.toml").write_text(CONFIG.format(cron="0 3 * * *"))
    notify_path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(notify_path))
    server.settimeout(0.2)
    messages: list[str] = []
    done = threading.Event()

    def collect() -> None:
        while not done.is_set():
            try:
                messages.append(server.recv(4096).decode())
            except TimeoutError:
                continue

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()

    def heard() -> list[str]:
        return [m.split("\n")[0] for m in list(messages)]

    def ready_again() -> bool:
        states = heard()
        return "RELOADING=1" in states and "READY=1" in states[states.index("RELOADING=1") + 1 :]

    daemon = DaemonProcess(tmp_path, backend, env={"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "200000"})
    try:
        daemon.wait_for("daemon.ready")
        wait_until(lambda: heard().count("WATCHDOG=1") >= 3, what="three watchdog pings")
        daemon.signal(signal.SIGHUP)
        daemon.wait_for("config.unchanged")
        wait_until(ready_again, what="READY=1 after RELOADING=1")  # sent after the reload's log line
    finally:
        assert daemon.stop() == 0
        wait_until(lambda: "STOPPING=1" in heard(), what="STOPPING=1")  # the reader thread has it
        done.set()
        reader.join()
        server.close()
    states = heard()
    assert states[0] == "READY=1"
    assert states.count("WATCHDOG=1") >= 3  # every 0.1 s for half the 0.2 s watchdog
    reload_at = states.index("RELOADING=1")
    assert "READY=1" in states[reload_at + 1 :]
    assert any(m.startswith("MONOTONIC_USEC=") for m in messages[reload_at].split("\n")[1:])
    assert states[-1] == "STOPPING=1" or "STOPPING=1" in states


def test_invalid_config_at_start_exits_1_naming_the_fault(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[plex]\nrating_workers = "many"\n')
    daemon = DaemonProcess(tmp_path)
    assert daemon.proc.wait(60) == 1
    invalid = daemon.wait_for("config.invalid")
    assert "config.toml:2: plex.rating_workers" in invalid["issue"]


def test_missing_config_dir_exits_1(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "nope")
    assert daemon.proc.wait(60) == 1
    assert "does not exist" in daemon.wait_for("config.invalid")["issue"]


def test_port_in_use_exits_1(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    (tmp_path / "config.toml").write_text(f'[daemon]\nlisten = "127.0.0.1:{port}"\n')
    try:
        daemon = DaemonProcess(tmp_path)
        assert daemon.proc.wait(60) == 1
        failed = daemon.wait_for("daemon.listen_failed")
        assert str(port) in failed["error"]
    finally:
        busy.close()


def test_broken_dropin_plugin_does_not_stop_the_daemon_and_disabling_applies_live(tmp_path: Path) -> None:
    dropins = tmp_path / "plugins.d"
    dropins.mkdir()
    (dropins / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    (dropins / "extra.py").write_text(
        "import msgspec\n"
        "from crosswatch import hookimpl\n"
        "from crosswatch.config import ConfigSection\n"
        "class S(msgspec.Struct):\n    url: str = ''\n"
        "@hookimpl\ndef crosswatch_config_sections():\n    return [ConfigSection('extra', S)]\n"
    )
    config = tmp_path / "config.toml"
    config.write_text('[daemon]\nlisten = "127.0.0.1:0"\n[extra]\nurl = "x"\n')
    daemon = DaemonProcess(tmp_path)
    try:
        failed = daemon.wait_for("plugin.failed")
        assert failed["plugin"] == "broken" and "boom at import" in failed["error"]
        daemon.wait_for("daemon.ready")
        health = daemon.health()
        assert health["plugins"]["broken"] == "failed" and health["plugins"]["extra"] == "loaded"
        mark = daemon.mark()
        write_atomically(config, '[daemon]\nlisten = "127.0.0.1:0"\n[plugins]\ndisabled = ["extra"]\n')
        reloaded = daemon.wait_for("config.reloaded", after=mark)
        assert reloaded["plugins_disabled"] == ["extra"]
        assert daemon.health()["plugins"]["extra"] == "disabled"
    finally:
        assert daemon.stop() == 0


RUNTIME_PLUGIN = """
from pathlib import Path
import anyio
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from crosswatch import hookimpl
from crosswatch.events import ConfigReloaded

OUT = Path(__file__).resolve().parent.parent / "out"

async def heartbeat(ctx):
    while True:
        with open(OUT / "beats", "a") as fh:
            fh.write(ctx.plugin + "\\n")
        await anyio.sleep(0.05)

async def on_reload(event):
    with open(OUT / "reloads", "a") as fh:
        fh.write(",".join(event.changed) + "\\n")

async def ping(request):
    return PlainTextResponse("pong")

@hookimpl
def crosswatch_services(ctx):
    return [heartbeat]

@hookimpl
def crosswatch_subscribe(bus):
    bus.subscribe(ConfigReloaded, on_reload)

@hookimpl
def crosswatch_web_routes():
    return [Route("/runtime/ping", ping)]
"""


def test_plugin_services_subscriptions_and_routes_follow_the_config(tmp_path: Path, backend: str) -> None:
    (tmp_path / "plugins.d").mkdir()
    (tmp_path / "plugins.d" / "runtime.py").write_text(RUNTIME_PLUGIN)
    out = tmp_path / "out"
    out.mkdir()
    config = tmp_path / "config.toml"
    config.write_text('[daemon]\nlisten = "127.0.0.1:0"\n')
    daemon = DaemonProcess(tmp_path, backend)
    try:
        base = "http://" + daemon.wait_for("daemon.ready")["listen"]
        beats = out / "beats"
        # the file exists a moment before its first line is written
        wait_until(lambda: beats.exists() and beats.read_text(), what="the first heartbeat")
        assert beats.read_text().startswith("runtime\n")
        assert httpx.get(base + "/runtime/ping").text == "pong"

        mark = daemon.mark()
        write_atomically(config, '[daemon]\nlisten = "127.0.0.1:0"\n[sync]\nhistory_tolerance_s = 60\n')
        daemon.wait_for("config.reloaded", after=mark)
        reloads = out / "reloads"
        # ConfigReloaded is published after the log line
        wait_until(lambda: reloads.exists() and reloads.read_text(), what="the ConfigReloaded subscriber")
        assert reloads.read_text().splitlines() == ["sync"]

        mark = daemon.mark()
        write_atomically(config, '[daemon]\nlisten = "127.0.0.1:0"\n[plugins]\ndisabled = ["runtime"]\n')
        daemon.wait_for("config.reloaded", after=mark)
        time.sleep(0.3)
        beats = (out / "beats").read_text()
        time.sleep(0.3)
        assert (out / "beats").read_text() == beats  # its service was cancelled
        assert httpx.get(base + "/runtime/ping").status_code == 404
        assert (out / "reloads").read_text().splitlines() == ["sync"]  # unsubscribed before the event
    finally:
        assert daemon.stop() == 0


def test_a_save_right_after_start_is_applied(tmp_path: Path, backend: str) -> None:
    """A change saved before the watcher watches (just after READY) is caught up, never lost."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(cron="0 3 * * *"))
    daemon = DaemonProcess(tmp_path, backend)
    try:
        daemon.wait_for("daemon.ready")
        write_atomically(config, CONFIG.format(cron="15 5 * * *"))
        nxt = daemon.wait_for("schedule.next", where=lambda e: e["cron"] == "15 5 * * *", timeout=30)
        assert nxt["job"] == "sync:plex-to-trakt"
    finally:
        assert daemon.stop() == 0
