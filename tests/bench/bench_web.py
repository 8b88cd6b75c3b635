"""Web dashboard benchmark: page times of a real daemon over a large store, and its idle RSS.

Run: ``python -m tests.bench.bench_web [--captures 1000] [--runs 10000] [--size 100000]``; prints
JSON. A real ``crosswatch run`` serves a config directory holding ``--captures`` capture files
(``bench_captures.fill_store``), ``--runs`` recorded runs (``bench_runs.fill``), one ``--size``-item
capture and two ``--size``-item ratings captures to compare. Times are of whole requests over
loopback (an upper bound on the server's time), the median of ``--repeat``. Targets (issue 14):
overview <= 100 ms, capture list <= 200 ms, a ``--size``-item capture's first page <= 200 ms,
compare of two ``--size``-item captures <= 1.5x ``crosswatch capture compare --json`` (in-process,
without the interpreter's start), daemon idle RSS with the dashboard loaded <= 80 MB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from crosswatch import logging as cw_logging
from crosswatch.captures.store import CaptureStore
from crosswatch.runs import RunHistory
from crosswatch.state import StateDir
from tests.bench.bench_captures import _compare_files, _quiet, _timed, _write, fill_store, rated_titles
from tests.bench.bench_core import _rss_mb, machine
from tests.bench.bench_runs import fill
from tests.daemon_proc import DaemonProcess

CONFIG = """
[daemon]
listen = "127.0.0.1:0"

[trakt]
client_id = "bench"
"""
TARGETS = {"overview_ms": 100, "captures_ms": 200, "capture_first_page_ms": 200, "compare_vs_cli": 1.5, "rss_mb": 80}


def _get_ms(client: httpx.Client, path: str, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        reply = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])
    return {"median": round(statistics.median(times), 1), "max": round(max(times), 1)}


def prepare(folder: Path, captures: int, runs: int, size: int) -> dict[str, Any]:
    """Fill ``folder``: captures, runs, a big capture, a pair to compare; what was made."""
    (folder / "config.toml").write_text(CONFIG)
    store = CaptureStore(folder)
    made = fill_store(store, captures, size)
    big = _write(store, "TRAKT", "ratings", rated_titles(size, seed=11), datetime(2026, 1, 2, 3, tzinfo=UTC))
    changes, cases = _compare_files(store, size)
    _, a, b, _, expected = cases["ratings"]
    fill(RunHistory(StateDir(folder)), runs)
    return {**made, "big": big, "a": a, "b": b, "changes": changes, "expected": expected}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captures", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=100_000, help="items of the big and the compared captures")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=3.0, help="idle time before RSS is read")
    args = parser.parse_args(argv)
    cw_logging.configure("console", "warning")
    from crosswatch.cli import main as cli_main

    result: dict[str, Any] = {"benchmark": "web", "machine": machine(), "targets": TARGETS}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        made = prepare(folder, args.captures, args.runs, args.size)
        result["store"] = {k: made[k] for k in ("files", "bundles", "manual")} | {
            "runs": RunHistory(StateDir(folder)).count(),
            "big_items": args.size,
        }
        daemon = DaemonProcess(folder)
        try:
            ready = daemon.wait_for("daemon.ready", timeout=60)
            base = f"http://{ready['listen']}"
            time.sleep(args.idle_seconds)  # a benchmark's idle period, not a wait for a condition
            result["idle_rss_mb"] = round(_rss_mb(daemon.proc.pid), 1)
            with httpx.Client(base_url=base, timeout=120) as client:
                client.get("/")  # the first request builds the session cookie and warms the templates
                result["overview_ms"] = _get_ms(client, "/", args.repeat)
                result["captures_ms"] = _get_ms(client, "/captures", args.repeat)
                result["captures_filtered_ms"] = _get_ms(client, "/captures?provider=trakt&q=nightly", args.repeat)
                result["capture_first_page_ms"] = _get_ms(client, "/captures/" + quote(made["big"]), args.repeat)
                result["capture_search_ms"] = _get_ms(
                    client, "/captures/" + quote(made["big"]) + "?q=tt00", args.repeat
                )
                compare = "/compare?" + urlencode({"a": made["a"], "b": made["b"]})
                result["compare_ms"] = _get_ms(client, compare, args.repeat)
                page = client.get(compare).text
                _, removed, updated = made["expected"]
                assert f'<td class="updated">{updated}' in page and f'<td class="removed">{removed}' in page
            result["rss_after_pages_mb"] = round(_rss_mb(daemon.proc.pid), 1)
        finally:
            daemon.stop()
        cli = ["--config-dir", str(folder), "capture", "compare", made["a"], made["b"], "--json"]
        figures, _, _ = _timed(lambda: _quiet(cli_main, cli), args.repeat, False)
        result["compare_cli_ms"] = {
            "median": round(figures["median"] * 1000, 1),
            "max": round(figures["max"] * 1000, 1),
        }
    result["compare_vs_cli"] = round(result["compare_ms"]["median"] / result["compare_cli_ms"]["median"], 2)
    result["met"] = {
        "overview_ms": result["overview_ms"]["median"] <= TARGETS["overview_ms"],
        "captures_ms": result["captures_ms"]["median"] <= TARGETS["captures_ms"],
        "capture_first_page_ms": result["capture_first_page_ms"]["median"] <= TARGETS["capture_first_page_ms"],
        "compare_vs_cli": result["compare_vs_cli"] <= TARGETS["compare_vs_cli"],
        "rss_mb": result["idle_rss_mb"] <= TARGETS["rss_mb"],
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
