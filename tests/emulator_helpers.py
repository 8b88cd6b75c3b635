"""Shared pieces of the emulator tests: a busy port, and an emulator's command line in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crosswatch.web import bind_socket

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def busy_port() -> Iterator[int]:
    """A loopback port that is taken while the block runs."""
    busy = bind_socket("127.0.0.1:0")
    try:
        yield busy.getsockname()[1]
    finally:
        busy.close()


@contextmanager
def emulator_cli(module: str, last_key: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``python -m module args...`` with its stdout read up to the TOML line that starts with ``last_key``.

    Yields the process and the lines read; the process is killed (if it still runs) and its
    pipes closed when the block ends.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any(line.startswith(last_key) for line in lines):
            line = proc.stdout.readline()
            assert line, "the emulator exited before printing its TOML block"
            lines.append(line)
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
