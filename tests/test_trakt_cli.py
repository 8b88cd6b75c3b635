"""The Trakt commands as a person runs them: auth (device code), emulator, unresolved."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from crosswatch.emulation.server import serve_in_thread
from crosswatch.model import Item, MediaType
from crosswatch.state import StateDir
from crosswatch.unresolved import UnresolvedStore
from crosswatch_trakt.emulator import EmulatorSettings, TraktEmulator

pytestmark = pytest.mark.slow

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CROSSWATCH, *args], capture_output=True, text=True, timeout=60, input=stdin)


def test_auth_trakt_device_flow_saves_0600_tokens(tmp_path: Path) -> None:
    emu = TraktEmulator(seed=5, size=50, settings=EmulatorSettings(interval=0, approve_after_polls=2, post_limit=0))
    with serve_in_thread(emu) as url:
        (tmp_path / "config.toml").write_text(emu.config_toml(url))
        result = run("--config-dir", str(tmp_path), "auth", "trakt")
        assert result.returncode == 0, result.stderr
        assert "enter the code" in result.stdout and "Signed in to Trakt" in result.stdout
        tokens = tmp_path / ".cw_state" / "trakt.tokens.json"
        assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
        saved = json.loads(tokens.read_text())
        assert saved["client_id"] == emu.client_id and saved["access_token"]
        # the token works against the API
        reply = httpx.get(
            url + "/users/settings",
            headers={
                "trakt-api-key": emu.client_id,
                "trakt-api-version": "2",
                "Authorization": "Bearer " + saved["access_token"],
            },
        )
        assert reply.status_code == 200
        # a denied sign-in ends in a clear message and exit 1, leaving the saved tokens alone
        emu.settings.deny = True
        denied = run("--config-dir", str(tmp_path), "auth", "trakt")
        assert denied.returncode == 1 and "denied" in denied.stderr
        assert json.loads(tokens.read_text()) == saved


def test_auth_without_an_app_configured(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[trakt]\n")
    result = run("--config-dir", str(tmp_path), "auth", "trakt")
    assert result.returncode == 1 and "client_id" in result.stderr
    assert run("--config-dir", str(tmp_path), "auth", "nosuch").returncode == 1


def test_emulator_command_prints_the_config_block_first(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [CROSSWATCH, "emulator", "trakt", "--port", "0", "--seed", "3", "--size", "40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        block = ""
        while "auth_url" not in block:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            block += line
        trakt = tomllib.loads(block)["trakt"]
        assert trakt["api_url"] == trakt["auth_url"] and trakt["client_id"] and trakt["client_secret"]
        # the block is a working config.toml
        (tmp_path / "config.toml").write_text(block)
        assert run("--config-dir", str(tmp_path), "config", "check").returncode == 0
        assert httpx.get(trakt["api_url"] + "/_emulator/state").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_unresolved_list_and_clear(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    store = UnresolvedStore(state, "trakt")
    store.freeze(
        "watchlist", [(Item(type=MediaType.MOVIE, ids={"imdb": "tt0000001"}, title="Lost"), "not found on Trakt")]
    )
    listed = run("--config-dir", str(tmp_path), "unresolved", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["provider"], r["feature"], r["reason"]) for r in rows] == [("trakt", "watchlist", "not found on Trakt")]
    assert "Lost" in run("--config-dir", str(tmp_path), "unresolved", "list").stdout
    refused = run("--config-dir", str(tmp_path), "unresolved", "clear", "--provider", "trakt", "--feature", "watchlist")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert len(store.load("watchlist")) == 1
    cleared = run(
        "--config-dir", str(tmp_path), "unresolved", "clear", "--provider", "trakt", "--feature", "watchlist", "--yes"
    )
    assert cleared.returncode == 0 and "released 1" in cleared.stdout
    assert store.load("watchlist") == {}
