"""Jellyfin and Emby through the real command line (in-process ``crosswatch.cli.main``), against
the emulators served on loopback: ``plugins list``, ``config check``, ``auth``, ``status`` and
``capture create``, whose captures follow the library whitelists.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from crosswatch.cli import main
from crosswatch.emulation.server import serve_in_thread
from crosswatch_jellyfin.emulator import EMBY, JELLYFIN, MediaServerEmulator
from crosswatch_jellyfin.emulator.library import leaves
from tests.test_jellyfin_env import kind_of, make_emulator, password_env


@dataclass
class Cli:
    folder: Path
    capsys: pytest.CaptureFixture[str]

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--config-dir", str(self.folder), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> Any:
        code, out, err = self.run(*args)
        assert code == 0, f"crosswatch {' '.join(args)} exited {code}: {err}"
        return json.loads(out)

    def configure(self, config: dict[str, Any]) -> None:
        (self.folder / "config.toml").write_text(tomli_w.dumps({"daemon": {"listen": ""}, **config}))


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    folder = tmp_path / "config"
    folder.mkdir()
    return Cli(folder, capsys)


@pytest.fixture(scope="module")
def jellyfin() -> Iterator[tuple[MediaServerEmulator, str]]:
    emu = make_emulator(JELLYFIN)
    with serve_in_thread(emu) as url:
        yield emu, url


def played(emu: MediaServerEmulator, kinds: tuple[str, ...] = ("movie", "episode")) -> int:
    """How many movies and episodes the administrator has played with a date (a capture keeps those)."""
    lib = emu.library
    return sum(
        1
        for i, d in emu.state.data[emu.user_id].items()
        if d.played
        and d.last_played is not None
        and lib.media[i].kind in kinds
        and lib.media[i] in leaves(lib.media[i])
    )


def test_plugins_list_shows_both_providers_and_their_notes(cli: Cli) -> None:
    rows = cli.json("plugins", "list", "--json")
    [row] = [r for r in rows if r["name"] == "jellyfin"]
    assert row["status"] == "loaded" and row["providers"] == ["EMBY", "JELLYFIN"]
    assert sorted(row["sections"]) == ["emby", "jellyfin"]
    history = row["provider_features"]["JELLYFIN"]["history"]
    assert history["keeps_watched_at"] is False and "LastPlayedDate" in history["note"]
    assert set(row["provider_features"]["EMBY"]) == {"watchlist", "ratings", "history", "progress"}


def test_config_check_accepts_jellyfin_and_emby_sections_with_profiles(cli: Cli) -> None:
    cli.configure(
        {
            "jellyfin": {
                "url": "http://192.168.1.10:8096",
                "user": "ann",
                "workers": 4,
                "history": {"libraries": ["Movies"]},
                "watchlist": {"mode": "playlist", "playlist": "Later"},
                "profiles": {"kids": {"user": "kai", "watchlist": {"mode": "favorites"}}},
            },
            "emby": {"url": "http://192.168.1.11:8096/emby", "api_key": "a" * 32, "user_id": "b" * 32},
        }
    )
    code, out, err = cli.run("config", "check")
    assert code == 0, err
    assert "unknown" not in out + err
    cli.configure({"jellyfin": {"url": "http://h:8096", "workers": 0, "watchlist": {"mode": "list"}}})
    code, out, err = cli.run("config", "check")
    assert code == 1 and "jellyfin.workers" in err


def test_auth_status_and_capture_of_jellyfin(cli: Cli, jellyfin: tuple[MediaServerEmulator, str]) -> None:
    emu, url = jellyfin
    emu.reset_state()
    cli.configure({"jellyfin": {"url": url, "user": emu.username, "history": {"libraries": ["Movies"]}}})
    with password_env(kind_of(JELLYFIN), emu.password):
        code, out, err = cli.run("auth", "jellyfin")
    assert code == 0, err
    assert out.startswith(f"Signed in to {emu.server_name} (Jellyfin 10.11.8) as {emu.username} by password")
    token = json.loads((cli.folder / ".cw_state" / "jellyfin.signin.json").read_text())["access_token"]
    assert token in emu.accounts.devices and token not in out + err

    status = cli.json("status", "--json")
    [sign_in] = [s for s in status["sign_ins"] if s["provider"] == "jellyfin"]
    assert sign_in["signed_in"] is True and sign_in["detail"] == f"{emu.username} on {emu.server_name}, by password"

    rows = cli.json("capture", "create", "--provider", "jellyfin", "--feature", "all", "--json")
    children = {r["feature"]: r for r in rows[1:]}
    assert rows[0]["feature"] == "all" and set(children) == {"watchlist", "ratings", "history", "progress"}
    # history follows its whitelist: the played movies only (a play without a date is not captured)
    assert children["history"]["count"] == played(emu, ("movie",)) and children["history"]["by_type"] == {
        "movie": played(emu, ("movie",))
    }
    store = emu.state.data[emu.user_id]
    assert children["ratings"]["count"] == sum(1 for d in store.values() if d.rating is not None)
    assert children["progress"]["count"] == sum(1 for d in store.values() if d.position > 0)
    captured = json.loads((cli.folder / "snapshots" / children["history"]["path"]).read_text())
    assert captured["provider"] == "JELLYFIN" and token not in json.dumps(captured)

    # without the whitelist, the episodes come too
    cli.configure({"jellyfin": {"url": url, "user": emu.username}})
    [history] = cli.json("capture", "create", "--provider", "jellyfin", "--feature", "history", "--json")
    assert history["count"] == played(emu) > children["history"]["count"]


def test_auth_and_capture_of_emby_with_the_emulators_own_block(cli: Cli) -> None:
    emu = make_emulator(EMBY)
    with serve_in_thread(emu) as url:
        block = tomllib.loads(emu.config_toml(url))  # names the administrator and the API key
        cli.configure(block)
        code, out, err = cli.run("auth", "emby")
        assert code == 0, err
        assert out.rstrip().endswith("with the API key; kept in .cw_state/emby.signin.json")
        assert emu.api_key not in (cli.folder / ".cw_state" / "emby.signin.json").read_text()
        [ratings] = cli.json("capture", "create", "--provider", "emby", "--feature", "ratings", "--json")
        store = emu.state.data[emu.user_id]
        assert ratings["count"] == sum(1 for d in store.values() if d.rating is not None) > 0

        # a profile that never signed in: one line saying what to run
        cli.configure({"emby": {"url": url, "user": emu.username, "profiles": {"kids": {}}}})
        code, out, err = cli.run("capture", "create", "--provider", "emby.kids", "--feature", "ratings")
        assert code == 1
        assert "Emby (profile kids): not signed in: run `crosswatch auth emby --profile kids`" in err
        assert "Traceback" not in err


def test_clear_restore_and_compare_round_trip(cli: Cli, jellyfin: tuple[MediaServerEmulator, str]) -> None:
    """Every feature captured, cleared with the clear tool, restored: a new capture is the same,
    the plays keep their dates, and the unidentified items (no ProviderIds) come back too."""
    emu, url = jellyfin
    emu.reset_state()
    cli.configure({"jellyfin": {"url": url, "user": emu.username}})
    with password_env(kind_of(JELLYFIN), emu.password):
        assert cli.run("auth", "jellyfin")[0] == 0
    before = cli.json("capture", "create", "--provider", "jellyfin", "--feature", "all", "--label", "before", "--json")
    for feature in ("watchlist", "ratings", "history", "progress"):
        code, out, err = cli.run("tools", "clear", "--provider", "jellyfin", "--feature", feature, "--yes")
        assert code == 0 and out.rstrip().endswith("cleared"), err + out
    store = emu.state.data[emu.user_id]
    assert not [d for d in store.values() if d.played or d.favorite or d.rating is not None or d.position]

    code, out, err = cli.run("capture", "restore", before[0]["path"], "--mode", "merge", "--yes")
    assert code == 0 and "failed 0; unresolved 0" in out, err + out
    after = cli.json("capture", "create", "--provider", "jellyfin", "--feature", "all", "--label", "after", "--json")
    diff = cli.json("capture", "compare", before[0]["path"], after[0]["path"], "--json")
    assert diff["same"], json.dumps(diff)[:2000]

    def plays(row: dict[str, Any]) -> list[tuple[str, str]]:
        capture = json.loads((cli.folder / "snapshots" / row["path"]).read_text())
        return sorted((i.get("title") or "", i["watched_at"]) for i in capture["items"])

    [was] = [r for r in before if r["feature"] == "history"]
    [now] = [r for r in after if r["feature"] == "history"]
    assert plays(was) == plays(now) and len(plays(now)) == was["count"] > 0


def test_an_api_key_in_the_config_is_a_sign_in_without_auth(
    cli: Cli, jellyfin: tuple[MediaServerEmulator, str]
) -> None:
    emu, url = jellyfin
    emu.reset_state()
    cli.configure({"jellyfin": {"url": url, "user": emu.username, "api_key": emu.accounts.seeded_api_key}})
    # no `crosswatch auth jellyfin` was run: the key in config.toml is the sign-in
    [sign_in] = [s for s in cli.json("status", "--json")["sign_ins"] if s["provider"] == "jellyfin"]
    assert sign_in["signed_in"] is True and "API key" in sign_in["detail"]
    assert emu.accounts.seeded_api_key not in json.dumps(sign_in)
    # and it works: a capture reads the server with it
    [history] = cli.json("capture", "create", "--provider", "jellyfin", "--feature", "history", "--json")
    assert history["count"] == played(emu)
