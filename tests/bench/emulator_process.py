"""An emulator in its own process, for the benchmarks: started, read until its config block, stopped."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from typing import Any

import httpx


class EmulatorProcess:
    """``python -m <module>`` of an emulator; the TOML block it prints first says where it is."""

    def __init__(self, module: str, section: str, last_key: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.block = ""
        while last_key not in self.block:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{module} exited before printing its config block")
            self.block += line
        self.config: dict[str, Any] = tomllib.loads(self.block)[section]

    @property
    def url(self) -> str:
        return self.config.get("api_url") or self.config["url"]

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, self.url + "/_emulator" + path, json=body, timeout=120)
        response.raise_for_status()
        return response.json() if response.content else None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
