"""The Plex webhook route at its edges, through the real daemon process.

``POST /webhook/plex/<secret>`` takes whatever reaches the daemon's port: a payload nested
thousands deep (under the size limit) is a 400 saying so, not a 500; a client that hangs up
halfway through its body is one info line, not an error with a traceback per request.
"""

# ruff: noqa: F811  (the emulators fixture imported from tests.capture_env is an argument here)
from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import tomli_w

from tests.capture_env import Emulators, emulators, merged  # noqa: F401  (pytest fixture)
from tests.daemon_proc import DaemonProcess

pytestmark = pytest.mark.slow

SECRET = "edge-hook-secret"
DEEP = 5_000  # levels of nesting: ~10 KB, far under the 1 MB body limit


@dataclass
class Hooked:
    daemon: DaemonProcess
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/webhook/plex/{SECRET}"

    def trouble(self, after: int) -> list[dict[str, Any]]:
        """Log lines at warning or above since ``after``."""
        return [e for e in self.daemon.lines[after:] if e.get("level") in ("warning", "error", "critical")]

    def tracebacks(self, after_raw: int) -> list[str]:
        return [line for line in self.daemon.raw[after_raw:] if "Traceback" in line]


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def hooked(
    request: pytest.FixtureRequest, emulators: Emulators, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hooked]:
    """A daemon with Plex webhooks on (the websocket watcher off), on either backend."""
    folder = tmp_path_factory.mktemp("hooked") / "config"
    folder.mkdir()
    shutil.copytree(emulators.signed_in, folder / ".cw_state")
    scrobble = {"watcher": {"enabled": False}, "webhook": {"enabled": True, "secret": SECRET}}
    config = merged(emulators.config(), {"daemon": {"listen": "127.0.0.1:0"}, "scrobble": scrobble})
    (folder / "config.toml").write_text(tomli_w.dumps(config))
    daemon = DaemonProcess(folder, request.param)
    try:
        ready = daemon.wait_for("daemon.ready", timeout=20)
        host, _, port = ready["listen"].rpartition(":")
        yield Hooked(daemon, host, int(port))
    finally:
        assert daemon.stop() == 0


def deep_payload() -> bytes:
    """A Plex-shaped payload whose Metadata holds a list nested ``DEEP`` levels (built as text)."""
    return b'{"event":"media.play","Metadata":{"guid":' + b"[" * DEEP + b"]" * DEEP + b"}}"


@pytest.mark.parametrize("as_form", [True, False], ids=["multipart", "json"])
def test_a_payload_nested_too_deeply_is_a_400_saying_so(hooked: Hooked, as_form: bool) -> None:
    mark, raw = hooked.daemon.mark(), len(hooked.daemon.raw)
    body = deep_payload()
    if as_form:
        reply = httpx.post(hooked.url, files={"payload": (None, body, "application/json")}, timeout=10)
    else:
        reply = httpx.post(hooked.url, content=body, headers={"content-type": "application/json"}, timeout=10)
    assert reply.status_code == 400, reply.text
    assert "nested too deeply" in reply.json()["error"]
    # the daemon still answers, and said nothing alarming about it
    ok = httpx.post(hooked.url, json={"event": "media.play", "Metadata": {"type": "clip"}}, timeout=10)
    assert ok.status_code == 200, ok.text
    assert hooked.trouble(mark) == [] and hooked.tracebacks(raw) == []


def hang_up_mid_body(hooked: Hooked) -> None:
    """Send the headers and half of a multipart body, then close the connection."""
    payload = json.dumps({"event": "media.play", "Metadata": {"type": "movie", "title": "Half"}}).encode()
    body = b'--b\r\nContent-Disposition: form-data; name="payload"\r\n\r\n' + payload + b"\r\n--b--\r\n"
    head = (
        f"POST /webhook/plex/{SECRET} HTTP/1.1\r\nHost: {hooked.host}:{hooked.port}\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((hooked.host, hooked.port), timeout=10) as sock:
        sock.sendall(head + body[: len(body) // 2])


def test_a_client_that_hangs_up_mid_body_is_one_info_line(hooked: Hooked) -> None:
    mark, raw = hooked.daemon.mark(), len(hooked.daemon.raw)
    hang_up_mid_body(hooked)
    line = hooked.daemon.wait_for("plex.webhook_incomplete", after=mark)
    assert line["level"] == "info"
    assert line["received"] < line["expected"]
    # a later request is served (so the hang-up was handled before it), and nothing alarming was said
    ok = httpx.post(hooked.url, json={"event": "media.play", "Metadata": {"type": "clip"}}, timeout=10)
    assert ok.status_code == 200, ok.text
    assert [e for e in hooked.daemon.lines[mark:] if e.get("event") == "plex.webhook_incomplete"] == [line]
    assert hooked.trouble(mark) == [] and hooked.tracebacks(raw) == []
