"""``crosswatch init`` as a new user runs it, and files written as root beside the service's own."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.capture_env import CwEnv, cw_env, emulators  # noqa: F401  (pytest fixtures)

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))
EXAMPLE = Path(__file__).resolve().parents[1] / "etc" / "crosswatch.toml"
KEY_LINE = re.compile(r"^[A-Za-z0-9_-]+\s*=")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (files owned by another user)")
NOBODY = 65534


def _settings(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every value set in a parsed TOML document, by dotted key (tables are not settings)."""
    found: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            found |= _settings(value, f"{prefix}{key}.")
        else:
            found[prefix + key] = value
    return found


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CROSSWATCH, *args], capture_output=True, text=True, timeout=60, env=env)


def test_init_writes_a_commented_starter_that_checks_ok(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "crosswatch"
    result = run("--config-dir", str(folder), "init")
    assert result.returncode == 0, result.stderr
    config = folder / "config.toml"
    text = config.read_text()
    # every key of the example is there, at its default, commented out
    keys = [line for line in EXAMPLE.read_text().splitlines() if KEY_LINE.match(line)]
    assert keys
    for line in keys:
        assert f"# {line}" in text.splitlines(), line
    assert not [line for line in text.splitlines() if KEY_LINE.match(line)]
    assert _settings(tomllib.loads(text)) == {}
    # it holds secrets once edited: the folder and the file are the user's alone
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    check = run("--config-dir", str(folder), "config", "check")
    assert check.returncode == 0, check.stderr
    assert check.stderr == ""
    assert "config OK (0 pairs" in check.stdout


def test_init_says_what_to_do_next(tmp_path: Path) -> None:
    result = run("--config-dir", str(tmp_path), "init")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert str(tmp_path / "config.toml") in out
    for step in ("auth plex", "auth trakt", "config check", "sync plan", "run"):
        assert f"crosswatch --config-dir {tmp_path} {step}" in out, step
    unit = re.search(r"systemd unit: (\S+)", out)
    assert unit is not None, out
    assert Path(unit[1]).is_file()
    assert "ExecStart=" in Path(unit[1]).read_text()


def test_init_without_config_dir_uses_the_environment(tmp_path: Path) -> None:
    env = {**os.environ, "CROSSWATCH_CONFIG_DIR": str(tmp_path / "cfg")}
    result = run("init", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cfg" / "config.toml").is_file()
    assert "crosswatch config check" in result.stdout  # the variable carries over: no --config-dir needed


@pytest.mark.parametrize("existing", ["[daemon]\nlisten = ''\n", ""])
def test_init_never_overwrites_a_config(tmp_path: Path, existing: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(existing)
    result = run("--config-dir", str(tmp_path), "init")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"crosswatch: {config} exists already; crosswatch init never overwrites it (edit it, or move it away to start over)"
    ]
    assert config.read_text() == existing
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temp file left behind


def test_init_on_a_file_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    result = run("--config-dir", str(target), "init")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"crosswatch: {target}: is not a directory"]


def test_init_in_the_container_image_listens_on_every_address(tmp_path: Path) -> None:
    """The image sets CROSSWATCH_INIT_LISTEN: in a container only the published port reaches the daemon."""
    env = {**os.environ, "CROSSWATCH_INIT_LISTEN": "0.0.0.0:8787"}
    result = run("--config-dir", str(tmp_path), "init", env=env)
    assert result.returncode == 0, result.stderr
    assert "daemon.listen = 0.0.0.0:8787" in result.stdout
    config = tomllib.loads((tmp_path / "config.toml").read_text())
    assert _settings(config) == {"daemon.listen": "0.0.0.0:8787"}
    check = run("--config-dir", str(tmp_path), "config", "check")
    assert check.returncode == 0 and check.stderr == "", check.stderr


def test_init_refuses_a_listen_that_is_not_host_port(tmp_path: Path) -> None:
    env = {**os.environ, "CROSSWATCH_INIT_LISTEN": '0.0.0.0:8787"\nx = "'}
    result = run("--config-dir", str(tmp_path), "init", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("crosswatch: CROSSWATCH_INIT_LISTEN=") and "not HOST:PORT" in result.stderr
    assert not (tmp_path / "config.toml").exists()


def test_config_check_counts_in_words(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[[pairs]]\nname = "p"\nsource = "plex"\ntarget = "trakt"\nschedule = "@daily"\n\n'
        '[[captures.schedules]]\nprovider = "trakt"\nfeature = "all"\ncron = "0 3 * * *"\n'
    )
    result = run("--config-dir", str(tmp_path), "config", "check")
    assert result.returncode == 0, result.stderr
    assert "config OK (1 pair, 1 capture schedule, 2 scheduled jobs;" in result.stdout


# -- root beside the service's files ---------------------------------------------------------------


@needs_root
def test_root_does_not_write_into_another_users_state(tmp_path: Path) -> None:
    """``sudo crosswatch ...`` on the service's folder would leave root's 0600 files the service cannot read."""
    folder = tmp_path / "svc"
    (folder / ".cw_state").mkdir(parents=True)
    frozen = folder / ".cw_state" / "trakt_history.unresolved.json"
    frozen.write_text(
        json.dumps(
            {
                "movie:imdb:tt1": {
                    "item": {"type": "movie", "ids": {"imdb": "tt1"}},
                    "reason": "unknown",
                    "since": "2026-01-01T00:00:00Z",
                }
            }
        )
    )
    for path in (folder, folder / ".cw_state", frozen):
        os.chown(path, NOBODY, NOBODY)
    result = run(
        "--config-dir", str(folder), "unresolved", "clear", "--provider", "trakt", "--feature", "history", "--yes"
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"crosswatch: {folder / '.cw_state'} belongs to ")
    assert "run the command as that user: sudo -u " in lines[0]
    assert not [p for p in folder.rglob("*") if p.stat().st_uid == 0]


@needs_root
def test_root_does_not_create_state_in_another_users_folder(tmp_path: Path) -> None:
    folder = tmp_path / "svc"
    folder.mkdir()
    (folder / "config.toml").write_text('[plex]\nplextv_url = "http://127.0.0.1:9"\n')  # nothing listens there
    os.chown(folder, NOBODY, NOBODY)
    result = run("--config-dir", str(folder), "auth", "plex")
    assert result.returncode == 1
    assert f"crosswatch: {folder} belongs to " in result.stderr
    assert not (folder / ".cw_state").exists()


@needs_root
def test_root_init_refuses_another_users_folder(tmp_path: Path) -> None:
    os.chown(tmp_path, NOBODY, NOBODY)
    result = run("--config-dir", str(tmp_path), "init")
    assert result.returncode == 1
    assert f"crosswatch: {tmp_path} belongs to " in result.stderr
    assert not (tmp_path / "config.toml").exists()


def _give_away(folder: Path) -> None:
    """``folder`` and everything in it to ``nobody``, as the service's own files are."""
    for path in (folder, *folder.rglob("*")):
        os.chown(path, NOBODY, NOBODY)


@needs_root
def test_root_capture_create_refuses_before_reading(cw_env: CwEnv) -> None:  # noqa: F811
    """A capture root wrote (0600) in the service's snapshots/ could never be restored by the service."""
    _give_away(cw_env.folder)
    code, _, err = cw_env.cli("capture", "create", "--provider", "trakt", "--feature", "watchlist")
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1, err  # refused before "reading TRAKT watchlist..."
    assert lines[0].startswith(f"crosswatch: {cw_env.folder} belongs to ")
    assert "sudo -u nobody crosswatch" in lines[0]
    assert not (cw_env.folder / "snapshots").exists()
    assert not [p for p in cw_env.folder.rglob("*") if p.stat().st_uid == 0]


@needs_root
def test_root_capture_schedule_add_refuses(cw_env: CwEnv) -> None:  # noqa: F811
    _give_away(cw_env.folder)
    code, _, err = cw_env.cli(
        "capture", "schedule", "add", "--provider", "trakt", "--feature", "all", "--cron", "0 3 * * *"
    )
    assert code == 1
    assert err.startswith(f"crosswatch: {cw_env.folder} belongs to "), err
    assert not (cw_env.folder / "schedules.toml").exists()


@needs_root
def test_the_owner_itself_may_write(tmp_path: Path) -> None:
    """The same command as the folder's owner (``sudo -u``) goes ahead."""
    folder = tmp_path / "svc"
    folder.mkdir()
    os.chown(folder, NOBODY, NOBODY)
    os.chmod(tmp_path, 0o755)
    if not os.access(sys.executable, os.X_OK, effective_ids=False) or not _reachable_by(NOBODY, Path(sys.executable)):
        pytest.skip(f"user {NOBODY} cannot run this interpreter ({sys.executable})")
    result = subprocess.run(
        [CROSSWATCH, "--config-dir", str(folder), "init"],
        capture_output=True,
        text=True,
        timeout=60,
        user=NOBODY,
        group=NOBODY,
        env={**os.environ, "HOME": str(folder)},
    )
    assert result.returncode == 0, result.stderr
    assert (folder / "config.toml").stat().st_uid == NOBODY


def _reachable_by(uid: int, path: Path) -> bool:
    """Whether every folder above ``path`` lets ``uid`` (not their owner, in no group of theirs) through."""
    return all(p.stat().st_uid == uid or p.stat().st_mode & 0o001 for p in path.resolve().parents)
