"""A server with a self-signed certificate: refused by default, reached with ``verify_ssl = false``.

Many home servers (Jellyfin, Emby, Plex behind a proxy) answer HTTPS with a certificate of
their own. The providers take their TLS context from ``crosswatch.http.tls_context`` (one
per process): the setting must still decide whether the certificate is checked.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crosswatch.http import HttpError, tls_context
from tests.test_jellyfin_env import read_refused

pytestmark = pytest.mark.anyio


class _Users(BaseHTTPRequestHandler):
    """Answers every GET with a list of one user, "dana"."""

    def do_GET(self) -> None:
        body = json.dumps([{"Id": "u1", "Name": "dana"}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Counted(ThreadingHTTPServer):
    """Counts the connections it accepts (a failed handshake too)."""

    connections = 0

    def get_request(self) -> tuple[socket.socket, Any]:
        type(self).connections += 1
        return super().get_request()


@contextmanager
def self_signed_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on loopback whose certificate nobody signed; yields its URL."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    _Counted.connections = 0
    server = _Counted(("127.0.0.1", 0), _Users)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_one_context_per_setting_and_the_setting_decides() -> None:
    assert tls_context(True) is tls_context(True) and tls_context(False) is tls_context(False)
    assert tls_context(True).verify_mode == ssl.CERT_REQUIRED and tls_context(True).check_hostname
    assert tls_context(False).verify_mode == ssl.CERT_NONE and not tls_context(False).check_hostname


@pytest.mark.parametrize("verify", [True, False], ids=["checked", "verify_ssl-false"])
async def test_a_self_signed_jellyfin_is_reached_only_when_the_user_says_so(verify: bool, tmp_path: Path) -> None:
    with self_signed_server(tmp_path) as url:
        # retries as configured
        refused = await read_refused({"url": url, "user": "kim", "api_key": "k", "verify_ssl": verify}, tmp_path)
    message = str(refused)
    if verify:  # the handshake fails, at once: why, and the setting that lets it through
        assert isinstance(refused, HttpError)
        assert "GET /Users: the server's certificate is not trusted" in message
        assert "self-signed certificate" in message and "set verify_ssl = false" in message
        assert _Counted.connections == 1  # not tried again: no retry makes it trusted
    else:  # the server answered: its users were read (and kim is not among them)
        assert "has no user 'kim' (its users: dana)" in message
    assert "\n" not in message
