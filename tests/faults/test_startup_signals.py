"""A signal right at start never kills the daemon: its handlers are in place before READY, and before.

Seen: the daemon sent ``READY=1`` before its signal handlers were installed, so a SIGTERM (or a
SIGHUP: a reload) right after start killed it (exit -15). systemd acts on READY; so do these
tests: the signal goes the moment READY arrives on the notify socket.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from crosswatch.crashpoints import AT, SIGNAL
from tests.daemon_proc import DaemonProcess

pytestmark = pytest.mark.slow

CONFIG = '[daemon]\nlisten = "127.0.0.1:0"\n\n[[captures.schedules]]\nprovider = "trakt"\nfeature = "all"\ncron = "0 3 * * *"\n'


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def start_and_signal_on_ready(folder: Path, backend: str, signum: int) -> DaemonProcess:
    """Start the daemon; send ``signum`` as soon as it says READY=1 (from the notify socket's reader)."""
    notify = folder / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(notify))
    server.settimeout(60)
    try:
        daemon = DaemonProcess(folder, backend, env={"NOTIFY_SOCKET": str(notify)})
        while True:
            message = server.recv(4096).decode()
            if message.startswith("READY=1"):
                daemon.signal(signum)
                return daemon
    finally:
        server.close()


def test_sigterm_the_moment_the_daemon_is_ready_stops_it_cleanly(tmp_path: Path, backend: str) -> None:
    (tmp_path / "config.toml").write_text(CONFIG)
    daemon = start_and_signal_on_ready(tmp_path, backend, signal.SIGTERM)
    assert daemon.proc.wait(timeout=30) == 0, "".join(daemon.raw[-20:])
    daemon.wait_for("daemon.stopped")


def test_sighup_the_moment_the_daemon_is_ready_reloads_it(tmp_path: Path, backend: str) -> None:
    (tmp_path / "config.toml").write_text(CONFIG)
    daemon = start_and_signal_on_ready(tmp_path, backend, signal.SIGHUP)
    try:
        daemon.wait_for("config.unchanged", timeout=30)
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop(timeout=30) == 0


def test_sigterm_during_start_up_stops_it_cleanly(tmp_path: Path, backend: str) -> None:
    """Stopped at its first write (daemon.json), before READY: a clean stop, nothing left behind."""
    (tmp_path / "config.toml").write_text(CONFIG)
    daemon = DaemonProcess(tmp_path, backend, env={AT: "file.write.before", SIGNAL: "TERM"})
    try:
        code = daemon.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.proc.kill()
        raise
    assert code == 0, "".join(daemon.raw[-20:])
    assert not (tmp_path / ".cw_state" / "daemon.json").exists()
