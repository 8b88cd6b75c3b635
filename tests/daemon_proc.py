"""Run ``crosswatch run`` as a real subprocess and follow its JSON log lines."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))


class DaemonProcess:
    """A daemon subprocess whose stderr JSON lines are collected as they come."""

    def __init__(self, config_dir: Path, backend: str = "asyncio", env: dict[str, str] | None = None) -> None:
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        full_env = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen(
            [CROSSWATCH, "--config-dir", str(config_dir), "--log-format", "json", "run", "--backend", backend],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=full_env,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.raw.append(line)
                with contextlib.suppress(json.JSONDecodeError):
                    self.lines.append(json.loads(line))
                self._cond.notify_all()

    def wait_for(
        self, event: str, timeout: float = 30.0, where: Callable[[dict], bool] | None = None, after: int = 0
    ) -> dict[str, Any]:
        """The first log line (from index ``after``) with this event name; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[after:]:
                    if line.get("event") == event and (where is None or where(line)):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no {event!r} log line within {timeout}s; log:\n" + "".join(self.raw[-40:]))
                self._cond.wait(min(left, 0.1))

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def events(self, name: str) -> list[dict[str, Any]]:
        with self._cond:
            return [line for line in self.lines if line.get("event") == name]

    def health(self) -> dict[str, Any]:
        ready = self.wait_for("daemon.ready")
        return httpx.get(f"http://{ready['listen']}/healthz", timeout=5).json()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code (kills and fails if it hangs)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"daemon did not exit within {timeout}s of SIGTERM") from None
        finally:
            self._reader.join(2)


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll ``condition`` until it is true; fails after ``timeout`` (generous: a loaded machine is slow)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}")
        time.sleep(0.02)


def write_atomically(path: Path, text: str) -> None:
    """Save the way editors do: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".swp")
    tmp.write_text(text)
    os.replace(tmp, path)
