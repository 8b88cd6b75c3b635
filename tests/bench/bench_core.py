"""Core daemon benchmark: start-up to READY, ``--help`` time, idle RSS and CPU, reload latency.

Run: ``python -m tests.bench.bench_core [--idle-seconds 60] [--repeat 5]``; prints JSON.
Targets (issue 2): ready <= 1.5 s, --help <= 0.3 s, idle RSS <= 80 MB, idle CPU <= 0.5 %,
reload <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))
CONFIG = """
[daemon]
listen = "127.0.0.1:0"
[[pairs]]
name = "bench"
source = "plex"
target = "trakt"
schedule = "{cron}"
[[captures.schedules]]
provider = "trakt"
cron = "0 3 * * *"
"""


class Notify:
    """A NOTIFY_SOCKET the daemon reports READY/RELOADING to, with arrival times."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))

    def wait(self, state: str, timeout: float = 30.0) -> float:
        """Monotonic time at which a message starting with ``state`` arrived."""
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                raise RuntimeError(f"no {state} within {timeout}s") from None
            if data.split("\n")[0] == state:
                return time.monotonic()

    def close(self) -> None:
        self.sock.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start(folder: Path, backend: str, notify: Notify) -> tuple[subprocess.Popen, float]:
    began = time.monotonic()
    proc = subprocess.Popen(
        [CROSSWATCH, "--config-dir", str(folder), "--log-format", "json", "run", "--backend", backend],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NOTIFY_SOCKET": str(notify.path)},
    )
    ready = notify.wait("READY=1")
    return proc, ready - began


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(10)


def bench_backend(backend: str, repeat: int, idle_seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "config.toml"
        config.write_text(CONFIG.format(cron="0 4 * * *"))
        notify = Notify(folder)
        try:
            startups = []
            for _ in range(repeat):
                proc, took = _start(folder, backend, notify)
                startups.append(took)
                _stop(proc)
            proc, _ = _start(folder, backend, notify)
            try:
                time.sleep(1.0)  # let start-up work settle before measuring idle
                cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
                time.sleep(idle_seconds)
                cpu1, t1 = _cpu_seconds(proc.pid), time.monotonic()
                rss = _rss_mb(proc.pid)
                reloads = []
                for i in range(repeat):
                    tmp_file = folder / "config.toml.new"
                    tmp_file.write_text(CONFIG.format(cron=f"{i} 5 * * *"))
                    written = time.monotonic()
                    os.replace(tmp_file, config)
                    notify.wait("RELOADING=1")
                    reloads.append(notify.wait("READY=1") - written)
            finally:
                _stop(proc)
        finally:
            notify.close()
    return {
        "startup_to_ready_s": {"median": round(statistics.median(startups), 3), "max": round(max(startups), 3)},
        "idle_rss_mb": round(rss, 1),
        "idle_cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 3),
        "idle_seconds": idle_seconds,
        "reload_latency_s": {"median": round(statistics.median(reloads), 3), "max": round(max(reloads), 3)},
    }


def bench_help(repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        began = time.monotonic()
        subprocess.run([CROSSWATCH, "--help"], stdout=subprocess.DEVNULL, check=True)
        times.append(time.monotonic() - began)
    return {"median": round(statistics.median(times), 3), "max": round(max(times), 3)}


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(), "python": platform.python_version()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    args = parser.parse_args(argv)
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    result = {
        "benchmark": "core",
        "machine": machine(),
        "help_s": bench_help(args.repeat),
        "backends": {b: bench_backend(b, args.repeat, args.idle_seconds) for b in backends},
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
