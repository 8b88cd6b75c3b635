"""crosswatch as a person installs it: the sdist and wheel, the systemd unit's paths, the container image.

The build tests build both artefacts once (``python -m build``, which fetches hatchling into
an isolated environment) and look inside them; one runs a part of the suite from the
unpacked sdist, another runs ``crosswatch init`` from the installed wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_proc import wait_until

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "core" / "crosswatch" / "__init__.py").read_text())[1]  # type: ignore[index]
UNIT = ROOT / "systemd" / "crosswatch.service"
#: where the unit expects crosswatch (docs/install.md: a virtualenv in /opt/crosswatch)
PREFIX = "/opt/crosswatch"
#: package data in the wheel -> the file in the source tree it is built from
PACKAGE_DATA = {
    "crosswatch/data/crosswatch.toml": "etc/crosswatch.toml",
    "crosswatch/data/crosswatch.service": "systemd/crosswatch.service",
}
DOCS = {"share/doc/crosswatch/install.md": "docs/install.md", "share/doc/crosswatch/README.md": "README.md"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel built from it, as ``python -m build`` makes them."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("crosswatchd-*.whl")
    return wheel


def _sdist(dist: Path) -> Path:
    (sdist,) = dist.glob("crosswatchd-*.tar.gz")
    return sdist


@pytest.mark.slow
def test_wheel_carries_package_data_license_docs_and_entry_points(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as whl:
        names = set(whl.namelist())
        info = f"crosswatchd-{VERSION}.dist-info"
        data = f"crosswatchd-{VERSION}.data/data"
        for inside, source in PACKAGE_DATA.items():
            assert whl.read(inside) == (ROOT / source).read_bytes(), inside
        for inside, source in DOCS.items():
            assert whl.read(f"{data}/{inside}") == (ROOT / source).read_bytes(), inside
        assert whl.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
        metadata = whl.read(f"{info}/METADATA").decode()
    assert "crosswatch = crosswatch.cli:main" in entry_points
    assert "[crosswatch]" in entry_points and "plex = crosswatch_plex" in entry_points
    assert "trakt = crosswatch_trakt" in entry_points
    assert "crosswatch/commands/init.py" in names
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/")]
    assert "License-Expression: MIT" in metadata
    assert "License-File: LICENSE" in metadata
    assert "Classifier: Programming Language :: Python :: 3.11" in metadata
    assert "Classifier: Operating System :: POSIX :: Linux" in metadata


@pytest.mark.slow
def test_sdist_carries_tests_license_docs_and_nothing_stray(dist: Path) -> None:
    with tarfile.open(_sdist(dist)) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in (
        "LICENSE",
        "pyproject.toml",
        "README.md",
        "Makefile",
        "Dockerfile",
        ".dockerignore",
        "docs/install.md",
        "etc/crosswatch.toml",
        "systemd/crosswatch.service",
        "tests/conftest.py",
        "tests/test_cli.py",
        "tests/test_packaging.py",
        "core/crosswatch/commands/init.py",
        "plugins/crosswatch_plex/__init__.py",
    ):
        assert needed in names, needed
    stray = [n for n in names if n.startswith((".venv/", ".git/", ".ci/")) or "__pycache__" in n or n.endswith(".tmp")]
    assert stray == []


@pytest.mark.slow
def test_tests_run_from_the_unpacked_sdist(dist: Path, tmp_path: Path) -> None:
    """A part of the suite, from the sdist alone: its code, its tests; what needs ../shared skips and says so.

    (The whole suite was run from the sdist by hand; here test_cli.py and the two files whose
    fixtures live in ../shared.)
    """
    with tarfile.open(_sdist(dist)) as tar:
        tar.extractall(tmp_path, filter="data")
    (tree,) = tmp_path.iterdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "core"), str(tree / "plugins")])}
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import crosswatch, crosswatch_trakt; print(crosswatch.__file__, crosswatch_trakt.__file__)",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(tree) for p in where), where
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs"]
        + ["tests/test_cli.py", "tests/test_trakt_parsing.py", "tests/test_plex_parsing.py"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " failed" not in result.stdout
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skipped, result.stdout[-2000:]
    assert all("shared/fixtures is not beside the checkout" in line for line in skipped), skipped


@pytest.mark.slow
def test_installed_wheel_init_writes_from_its_own_package_data(dist: Path, tmp_path: Path) -> None:
    """``crosswatch init`` from the wheel reads the example the wheel carries, through importlib.resources."""
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(site)]
        + [str(_wheel(dist))],
        check=True,
        capture_output=True,
        timeout=300,
    )
    packaged = site / "crosswatch" / "data" / "crosswatch.toml"
    packaged.write_text(packaged.read_text() + "\n# marker: read from the installed wheel\n")
    folder = tmp_path / "cfg"
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-m", "crosswatch", "--config-dir", str(folder), "init"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "# marker: read from the installed wheel" in (folder / "config.toml").read_text()
    unit = re.search(r"systemd unit: (\S+)", result.stdout)
    assert unit is not None and Path(unit[1]) == site / "crosswatch" / "data" / "crosswatch.service", result.stdout


def test_unit_runs_the_documented_install_and_points_at_its_docs() -> None:
    """ExecStart and Documentation= name what docs/install.md installs; the service has a user to ``sudo -u``."""
    service = {}
    for line in UNIT.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            service.setdefault(key, value)
    assert service["ExecStart"].split()[0] == f"{PREFIX}/bin/crosswatch"
    docs = service["Documentation"].split()
    shared = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    for uri in docs:
        assert uri.startswith(f"file:{PREFIX}/"), uri
        installed = uri.removeprefix(f"file:{PREFIX}/")
        assert installed in shared.values(), f"{uri}: the wheel installs no such file"
    assert service["User"] == "crosswatch" and "DynamicUser" not in service
    install = (ROOT / "docs" / "install.md").read_text()
    assert f"python3 -m venv {PREFIX}" in install
    assert "sudo -u crosswatch" in install
    assert "useradd" in install


def test_dockerfile_runs_as_documented() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms and all("python:3.11-slim" in line for line in froms)
    assert "VOLUME /config" in lines
    assert "STOPSIGNAL SIGTERM" in lines
    assert any(line.startswith("USER ") and "root" not in line for line in lines)
    assert any(line.startswith("HEALTHCHECK ") for line in lines) and "/healthz" in text
    assert 'ENTRYPOINT ["crosswatch", "--config-dir", "/config"]' in lines
    assert 'CMD ["run"]' in lines
    grace = re.search(r"^TimeoutStopSec=(\d+)s$", UNIT.read_text(), re.M)
    assert grace is not None
    install = (ROOT / "docs" / "install.md").read_text()
    assert f"stop_grace_period: {grace[1]}s" in install
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


# -- the container image, where an engine runs -----------------------------------------------------


def _engine() -> str:
    """docker or podman, answering; else skip, saying what is missing."""
    found = [e for e in ("docker", "podman") if shutil.which(e)]
    if not found:
        pytest.skip("no container engine on this machine (neither docker nor podman is installed)")
    for engine in found:
        info = subprocess.run([engine, "info"], capture_output=True, text=True, timeout=60)
        if info.returncode == 0:
            return engine
    said = (info.stderr.strip().splitlines() or ["no answer"])[-1]
    pytest.skip(f"{' and '.join(found)} installed, but no container engine answers here ({said})")


@pytest.fixture
def image() -> Iterator[tuple[str, str]]:
    engine = _engine()
    tag = f"crosswatch-test:{uuid.uuid4().hex[:12]}"
    built = subprocess.run([engine, "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=1200)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    try:
        yield engine, tag
    finally:
        subprocess.run([engine, "rmi", "-f", tag], capture_output=True, timeout=120)


@pytest.mark.slow
def test_container_image_inits_runs_healthy_and_stops_cleanly(image: tuple[str, str], tmp_path: Path) -> None:
    engine, tag = image
    config = tmp_path / "config"
    config.mkdir()
    user: list[str] = []
    if os.geteuid() == 0:
        os.chown(config, 10001, 10001)  # the image's user
    else:
        user = ["--user", f"{os.getuid()}:{os.getgid()}"]
    volume = ["-v", f"{config}:/config"]
    init = subprocess.run(
        [engine, "run", "--rm", *user, *volume, tag, "init"], capture_output=True, text=True, timeout=120
    )
    assert init.returncode == 0, init.stderr
    assert tomllib.loads((config / "config.toml").read_text())["daemon"]["listen"] == "0.0.0.0:8787"
    name = f"crosswatch-test-{uuid.uuid4().hex[:8]}"
    started = subprocess.run(
        [engine, "run", "-d", "--name", name, *user, *volume, "-p", "127.0.0.1::8787"]
        + ["--health-interval", "1s", "--health-start-period", "60s", tag],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    try:

        def health() -> str:
            out = subprocess.run(
                [engine, "inspect", "--format", "{{json .State.Health.Status}}", name], capture_output=True, text=True
            )
            return json.loads(out.stdout or '""')

        wait_until(lambda: health() == "healthy", 120, "the container to be healthy")
        port = subprocess.run([engine, "port", name, "8787"], capture_output=True, text=True, check=True).stdout
        address = port.split()[0]
        with urllib.request.urlopen(f"http://{address}/healthz", timeout=10) as answer:
            assert json.load(answer)["version"] == VERSION
        stop = subprocess.run([engine, "stop", "-t", "10", name], capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0, stop.stderr
        code = subprocess.run(
            [engine, "inspect", "--format", "{{.State.ExitCode}}", name], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert code == "0", "SIGTERM did not stop it cleanly within the grace period"
    finally:
        subprocess.run([engine, "rm", "-f", name], capture_output=True, timeout=60)
