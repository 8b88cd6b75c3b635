"""systemd/crosswatch.service: verified by systemd-analyze, no warnings, hardened."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "crosswatch.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
INSTALLED = Path(sys.executable).with_name("crosswatch")


def _unit_copy(tmp_path: Path, extra: str = "") -> Path:
    """The unit with ExecStart pointed at this environment's console script.

    verify checks that ExecStart's binary exists; the unit names the usual install path.
    """
    text = UNIT.read_text().replace("/opt/crosswatch/bin/crosswatch", str(INSTALLED)) + extra
    path = tmp_path / "crosswatch.service"
    path.write_text(text)
    return path


class _Keys(dict):
    """A unit section: the last value of each key, and every value of repeatable keys."""

    def __init__(self) -> None:
        super().__init__()
        self.all: dict[str, list[str]] = {}

    def getall(self, key: str) -> list[str]:
        return self.all.get(key, [])


def _section(text: str, name: str) -> _Keys:
    keys, current = _Keys(), None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif current == name and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            keys[key] = value
            keys.all.setdefault(key, []).append(value)
    return keys


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, "verify", str(path)], capture_output=True, text=True, timeout=60)


@needs_analyze
def test_unit_verifies_without_any_warning(tmp_path: Path) -> None:
    result = _verify(_unit_copy(tmp_path))
    # systemd-analyze exits 0 on warnings: stderr is what tells
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


@needs_analyze
def test_the_warning_check_catches_a_bad_key(tmp_path: Path) -> None:
    result = _verify(_unit_copy(tmp_path, "\n[Service]\nNoSuchSetting=1\n"))
    assert "NoSuchSetting" in result.stderr


@needs_analyze
def test_exposure_is_low(tmp_path: Path) -> None:
    result = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(_unit_copy(tmp_path))], capture_output=True, text=True, timeout=60
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    if result.returncode != 0 and match is None:
        pytest.skip("this systemd-analyze has no offline security check")
    assert match is not None
    assert float(match[1]) <= 2.0


def test_unit_has_notify_watchdog_reload_and_hardening() -> None:
    service = _section(UNIT.read_text(), "Service")
    assert service["Type"] == "notify"
    assert service["WatchdogSec"]
    assert "-HUP" in service["ExecReload"] and "$MAINPID" in service["ExecReload"]
    assert service["StateDirectory"] == "crosswatch"
    assert "CROSSWATCH_CONFIG_DIR=/var/lib/crosswatch" in service.getall("Environment")
    for key, value in {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "UMask": "0077",
    }.items():
        assert service[key] == value, key
    assert service["ExecStart"].split()[-1] == "run"
