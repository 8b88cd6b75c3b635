"""A signed-in Plex + Trakt emulator pair, and fresh config directories pointed at them.

For end-to-end tests that drive the command line (in-process, through ``crosswatch.cli.main``)
against both emulators over real HTTP on loopback::

    from tests.capture_env import CwEnv, cw_env, emulators  # noqa: F401  (pytest fixtures)

    def test_something(cw_env: CwEnv) -> None:
        code, out, err = cw_env.cli("capture", "create", "--provider", "plex", "--feature", "all")
        rows = cw_env.json("capture", "list", "--json")

``emulators`` (module scope) starts one pair and signs in once, with the real PIN and
device-code flows (``crosswatch auth plex|trakt``). ``cw_env`` (per test) puts both emulators
back to their seeded state and gives a new config directory holding copies of the sign-in
tokens, Trakt writes unpaced and no daemon guard (``[daemon] listen = ""``).
"""

from __future__ import annotations

import json
import shutil
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import tomli_w

from crosswatch.captures.store import CaptureStore
from crosswatch.cli import main
from crosswatch.emulation.server import serve_in_thread
from crosswatch_plex.emulator import EmulatorSettings as PlexSettings
from crosswatch_plex.emulator import PlexEmulator
from crosswatch_trakt.emulator import EmulatorSettings as TraktSettings
from crosswatch_trakt.emulator import TraktEmulator

SEED = 3
SIZE = 120
OWNER = "1"  # the Plex owner's PMS account id in ``PlexEmulator.state_json()["users"]``


@dataclass
class Emulators:
    """Both emulators, served, and the ``.cw_state`` folder of a signed-in config directory."""

    plex: PlexEmulator
    trakt: TraktEmulator
    plex_url: str
    trakt_url: str
    signed_in: Path  # a .cw_state folder with the tokens of both sign-ins

    def reset(self) -> None:
        """Both back to their seeded user state (tokens and settings stay)."""
        self.plex.reset_state()
        self.trakt.reset_state()

    def config(self) -> dict[str, Any]:
        """config.toml as a dict: both providers, Trakt writes unpaced, no daemon to guard."""
        plex = tomllib.loads(self.plex.config_toml(self.plex_url))
        trakt = tomllib.loads(self.trakt.config_toml(self.trakt_url))
        trakt["trakt"]["write_interval_s"] = 0
        return {**plex, **trakt, "daemon": {"listen": ""}}


class Result(NamedTuple):
    code: int
    out: str
    err: str


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, tables recursively."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class CwEnv:
    """One config directory pointed at the signed-in emulators, and the CLI run in it."""

    folder: Path
    emu: Emulators
    capsys: pytest.CaptureFixture[str]

    @property
    def plex(self) -> PlexEmulator:
        return self.emu.plex

    @property
    def trakt(self) -> TraktEmulator:
        return self.emu.trakt

    def configure(self, extra: dict[str, Any] | None = None) -> None:
        """(Re)write config.toml: the emulators' blocks with ``extra`` merged in."""
        (self.folder / "config.toml").write_text(tomli_w.dumps(merged(self.emu.config(), extra or {})))

    def cli(self, *args: str) -> Result:
        """``crosswatch --config-dir FOLDER args...`` in this process: exit code, stdout, stderr."""
        self.capsys.readouterr()
        code = main(["--config-dir", str(self.folder), *args])
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    def json(self, *args: str) -> Any:
        """The parsed stdout of a command that must succeed (pass ``--json`` yourself)."""
        code, out, err = self.cli(*args)
        assert code == 0, f"crosswatch {' '.join(args)} exited {code}: {err}"
        return json.loads(out)

    @property
    def store(self) -> CaptureStore:
        return CaptureStore(self.folder)

    def captures(self) -> set[str]:
        """Every capture file, by the name commands show (relative to ``snapshots/``)."""
        return {self.store.rel(p) for p in self.store.files()}

    def plex_user(self, account: str = OWNER) -> dict[str, Any]:
        """One Plex account's state (watchlist, ratings, plays, watched, marked_watched, progress)."""
        return self.plex.state_json()["users"][account]

    def trakt_state(self) -> dict[str, Any]:
        """The Trakt user's state (watchlist, ratings, history, playback, collection)."""
        return self.trakt.state_json()


@pytest.fixture(scope="module")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    plex = PlexEmulator(seed=SEED, size=SIZE, settings=PlexSettings(approve_after_polls=0))
    trakt = TraktEmulator(
        seed=SEED, size=SIZE, settings=TraktSettings(interval=0, approve_after_polls=0, post_limit=0, get_limit=0)
    )
    with serve_in_thread(plex) as plex_url, serve_in_thread(trakt) as trakt_url:
        folder = tmp_path_factory.mktemp("signed-in")
        emu = Emulators(plex, trakt, plex_url, trakt_url, folder / ".cw_state")
        (folder / "config.toml").write_text(tomli_w.dumps(emu.config()))
        for provider in ("plex", "trakt"):
            code = main(["--config-dir", str(folder), "auth", provider])
            assert code == 0, f"crosswatch auth {provider} failed against its emulator"
        yield emu


@pytest.fixture
def cw_env(emulators: Emulators, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> CwEnv:
    emulators.reset()
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copytree(emulators.signed_in, folder / ".cw_state")
    env = CwEnv(folder, emulators, capsys)
    env.configure()
    return env
