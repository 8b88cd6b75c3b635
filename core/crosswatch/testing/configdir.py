"""A throwaway config directory for plugin tests, and the ``crosswatch`` command line run in it.

::

    from crosswatch.testing import ConfigDir, config_dir  # noqa: F401  (config_dir: a pytest fixture)

    def test_my_plugin_is_listed(config_dir: ConfigDir) -> None:
        config_dir.drop_in(Path(__file__).parent / "myprov.py")        # plugins.d/myprov.py
        config_dir.write_config({"myprov": {"url": "http://127.0.0.1:9"}})
        result = config_dir.cli("plugins", "list", "--json")
        assert result.code == 0, result.err
        assert "myprov" in {p["name"] for p in result.json()}
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import structlog
import tomli_w

from crosswatch.state import StateDir
from crosswatch.unresolved import list_unresolved

CONFIG_FILE = "config.toml"
DROPIN_DIR = "plugins.d"


class CliResult(NamedTuple):
    """What one ``crosswatch`` command did: its exit code and everything it printed."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON (pass ``--json`` to the command); fails the test if the command failed."""
        if self.code != 0:
            pytest.fail(f"crosswatch exited {self.code}: {self.err.strip()}")
        return json.loads(self.out)


@dataclass(frozen=True)
class ConfigDir:
    """One config directory: ``config.toml``, ``plugins.d/``, ``.cw_state/``; commands run against it."""

    path: Path

    @property
    def state(self) -> StateDir:
        """Its state folder (``.cw_state``, created 0700): build providers on it, read their files."""
        state = StateDir(self.path)
        state.ensure()
        return state

    def write_config(self, config: str | Mapping[str, Any]) -> Path:
        """Write ``config.toml`` from TOML text or a dict (tables as dicts); returns its path."""
        text = config if isinstance(config, str) else tomli_w.dumps(dict(config))
        path = self.path / CONFIG_FILE
        path.write_text(text, encoding="utf-8")
        return path

    def drop_in(self, plugin: Path) -> Path:
        """Copy a one-file plugin into ``plugins.d/``, where crosswatch loads drop-ins from."""
        folder = self.path / DROPIN_DIR
        folder.mkdir(exist_ok=True)
        return Path(shutil.copy2(plugin, folder / plugin.name))

    def unresolved(self) -> list[dict[str, Any]]:
        """Every frozen item of every provider, as ``crosswatch unresolved list --json`` shows them."""
        return list_unresolved(StateDir(self.path))

    def cli(self, *args: str) -> CliResult:
        """``crosswatch --config-dir DIR args...`` in this process (fast; sees this process's plugins).

        Call it from synchronous code (a command runs its own event loop), e.g.
        ``await anyio.to_thread.run_sync(config_dir.cli, "status")`` in an async test.
        """
        from crosswatch.cli import main

        out, err = io.StringIO(), io.StringIO()
        with _restored_logging(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(["--config-dir", str(self.path), *args])
            except SystemExit as exc:  # argparse: --help, a usage error
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
        return CliResult(code, out.getvalue(), err.getvalue())

    def run(self, *args: str, timeout: float = 120.0, env: Mapping[str, str] | None = None) -> CliResult:
        """``crosswatch --config-dir DIR args...`` as a child process of this Python, like a person runs it.

        ``env`` is added to this process's environment; the child's plugins are those installed
        (entry points) plus the drop-ins of this directory.
        """
        command = [sys.executable, "-m", "crosswatch", "--config-dir", str(self.path), *args]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)


def make_config_dir(folder: Path) -> ConfigDir:
    """A ``ConfigDir`` at ``folder`` (created, with an empty ``.cw_state``)."""
    folder.mkdir(parents=True, exist_ok=True)
    made = ConfigDir(folder)
    made.state.ensure()
    return made


@pytest.fixture
def config_dir(tmp_path: Path) -> ConfigDir:
    """A fresh config directory for one test (no config.toml yet)."""
    return make_config_dir(tmp_path / "config")


@contextlib.contextmanager
def _restored_logging() -> Iterator[None]:
    """A command sets up logging to the stream it was given: put back what was there before."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)
