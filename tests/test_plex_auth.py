"""``crosswatch auth plex``: the plex.tv PIN sign-in against the Plex emulator, without a person."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import msgspec
import pytest

from crosswatch.emulation.server import serve_app, serve_in_thread
from crosswatch.provider import AuthContext
from crosswatch.state import StateDir
from crosswatch_plex.auth import PlexAuthError, sign_in
from crosswatch_plex.config import PlexSettings
from crosswatch_plex.emulator import EmulatorSettings, PlexEmulator

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))


def _settings(url: str) -> PlexSettings:
    return msgspec.convert(
        {k: url for k in ("url", "plextv_url", "clients_url", "discover_url", "metadata_url")}, PlexSettings
    )


@pytest.mark.anyio
async def test_pin_sign_in_saves_a_working_token(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=4, size=30, settings=EmulatorSettings(approve_after_polls=2))
    said: list[str] = []
    state = StateDir(tmp_path)
    state.ensure()
    async with serve_app(emu) as url:
        account = await sign_in(AuthContext("default", _settings(url), state, said.append), poll_interval=0.01)
        async with httpx.AsyncClient(
            base_url=url, headers={"Accept": "application/json", "X-Plex-Token": account.token}
        ) as client:
            user = await client.get("/api/v2/user")
            identity = await client.get("/identity")
            server_side = await client.get("/library/sections", headers={"X-Plex-Token": account.server_token})
    assert user.status_code == 200 and identity.status_code == 200 and server_side.status_code == 200
    assert "app.plex.tv/auth#?clientID=crosswatch-" in said[0] and "code=" in said[0]
    saved = tmp_path / ".cw_state" / "plex.tokens.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    data = json.loads(saved.read_text())
    assert data["token"] == account.token and data["username"] == account.username != ""
    assert data["server_name"] and data["server_token"] and data["server_uri"] == url
    # the client identifier is kept: Plex lists it as one device
    client_id = json.loads((tmp_path / ".cw_state" / "plex.client.json").read_text())["client_id"]
    assert data["client_id"] == client_id


@pytest.mark.anyio
async def test_an_expired_pin_is_a_clear_error(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=4, size=30, settings=EmulatorSettings(approve_after_polls=1000, pin_ttl=1))
    state = StateDir(tmp_path)
    state.ensure()
    async with serve_app(emu) as url:
        with pytest.raises(PlexAuthError, match="crosswatch auth plex"):
            await sign_in(AuthContext("default", _settings(url), state, lambda _: None), poll_interval=0.2)
    assert not (tmp_path / ".cw_state" / "plex.tokens.json").exists()


@pytest.mark.slow
def test_auth_plex_command_completes_without_a_person(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=4, size=30, settings=EmulatorSettings(approve_after_polls=1))
    with serve_in_thread(emu) as url:
        (tmp_path / "config.toml").write_text(emu.config_toml(url))
        result = subprocess.run(
            [CROSSWATCH, "--config-dir", str(tmp_path), "auth", "plex"], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 0, result.stderr
    assert "Signed in to Plex" in result.stdout
    assert (tmp_path / ".cw_state" / "plex.tokens.json").exists()


def test_pick_server_prefers_the_configured_url_then_local_then_relay() -> None:
    from crosswatch_plex.auth import pick_server

    def server(name: str, owned: bool, *connections: tuple[str, bool, bool]) -> dict:
        conns = [{"uri": u, "local": local, "relay": relay} for u, local, relay in connections]
        return {
            "name": name,
            "provides": "server",
            "owned": owned,
            "clientIdentifier": name,
            "accessToken": f"tok-{name}",
            "connections": conns,
        }

    player = {"name": "TV", "provides": "player", "connections": []}
    home = server(
        "home",
        True,
        ("https://relay:443", False, True),
        ("https://remote:32400", False, False),
        ("http://10.0.0.2:32400", True, False),
    )
    friend = server("friend", False, ("http://friend:32400", False, False))
    picked = pick_server([player, friend, home], "http://127.0.0.1:32400")
    assert (picked["server_name"], picked["server_uri"], picked["server_token"]) == (
        "home",
        "http://10.0.0.2:32400",
        "tok-home",
    )
    assert pick_server([player, home, friend], "http://friend:32400")["server_name"] == "friend"
    assert pick_server([player], "http://x") == {} and pick_server("junk", "http://x") == {}
