"""The command line as a person uses it: help, config check, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from crosswatch.cli import main

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))
EXAMPLE = Path(__file__).resolve().parents[1] / "etc" / "crosswatch.toml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CROSSWATCH, *args], capture_output=True, text=True, timeout=60)


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("run", "config", "plugins"):
        assert command in result.stdout


def test_help_does_not_import_the_daemon() -> None:
    code = "import sys; from crosswatch import cli; print(sorted(m for m in sys.modules if m.startswith(('hypercorn','starlette','trio','watchfiles','crosswatch.daemon'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_usage_error_exits_2() -> None:
    assert run("no-such-command").returncode == 2


def test_the_global_verbose_flag_survives_a_command_that_has_its_own() -> None:
    """``-v`` (debug logging) and ``--verbose`` of sync run / capture restore (list items) are two things."""
    from crosswatch.cli import build_parser

    parser = build_parser()
    for command in (["sync", "run", "p"], ["capture", "restore", "c.json", "--mode", "merge"]):
        args = parser.parse_args(["-v", *command])
        assert (args.verbose, args.list_items) == (True, False), command
        args = parser.parse_args([*command, "--verbose"])
        assert (args.verbose, args.list_items) == (False, True), command


def test_config_check_ok_on_the_example(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(EXAMPLE.read_text())
    result = run("--config-dir", str(tmp_path), "config", "check")
    assert result.returncode == 0, result.stderr
    assert "config OK" in result.stdout
    assert result.stderr == ""


def test_config_check_names_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[daemon]\nlisten = "127.0.0.1:8787"\n\n[sync]\nmax_remove_ratio = 5\n')
    result = run("--config-dir", str(tmp_path), "config", "check")
    assert result.returncode == 1
    assert f"{tmp_path / 'config.toml'}:5: sync.max_remove_ratio" in result.stderr


def test_config_check_json(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[daemon]\ncolour = "blue"\n')
    result = run("--config-dir", str(tmp_path), "config", "check", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert any("daemon.colour" in w and ":2:" in w for w in data["warnings"])
    (tmp_path / "config.toml").write_text("[daemon\n")
    result = run("--config-dir", str(tmp_path), "config", "check", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["ok"] is False


def test_config_check_missing_dir(tmp_path: Path) -> None:
    result = run("--config-dir", str(tmp_path / "absent"), "config", "check")
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_config_dir_from_environment(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "config.toml").write_text("[sync]\nmax_remove_ratio = 2\n")
    monkeypatch.setenv("CROSSWATCH_CONFIG_DIR", str(tmp_path))
    assert main(["config", "check"]) == 1
    assert "sync.max_remove_ratio" in capsys.readouterr().err
