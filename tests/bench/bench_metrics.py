"""``GET /metrics`` benchmark: scrape time with a large run history and many captures.

Run: ``python -m tests.bench.bench_metrics [--runs 10000] [--captures 1000] [--repeat 200]``;
prints JSON. Target (issue 13): a scrape <= 20 ms with 10,000 runs recorded and 1,000 captures.

Two set-ups on one config directory holding ``--runs`` rows in ``.cw_state/runs.sqlite3`` and
``--captures`` capture files under ``snapshots/`` (10 a day):

- ``daemon``: the real ``crosswatch run`` process, scraped over HTTP on loopback as Prometheus
  does (the run history and the captures are read; its job counters are empty).
- ``in_process`` (per anyio backend): the daemon's metrics whose job counters have also seen
  every run (all label sets filled), served by the daemon's web app on loopback; plus the
  scrapes that miss a cache: after a new capture (the listing is counted again) and after a
  new run in the history (the last-success query runs again).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx

from crosswatch import logging as cw_logging
from crosswatch.captures.format import Capture
from crosswatch.captures.store import CaptureStore
from crosswatch.http import policy_for
from crosswatch.metrics import DaemonMetrics
from crosswatch.runs import Run, RunHistory
from crosswatch.state import StateDir
from crosswatch.web import WebApp, bind_socket, serve
from tests.bench.bench_core import machine

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))
PAIRS = [f"pair-{i}" for i in range(10)]
KINDS = ("sync", "sync", "sync", "capture", "prune", "restore", "clear")
RESULTS = ("ok", "ok", "ok", "ok", "failed", "refused", "interrupted")
TARGET_MS = 20.0


def fill_history(folder: Path, runs: int, rng: random.Random) -> list[Run]:
    """``runs`` finished rows, the newest now, one every few minutes before; returns them as Runs."""
    history = RunHistory(StateDir(folder))
    history.finish(history.start("sync:seed", "sync", "command"), "ok")  # makes the file and its schema
    now = time.time()
    rows: list[Run] = []
    for i in range(runs):
        kind = rng.choice(KINDS)
        pair = rng.choice(PAIRS) if kind == "sync" else None
        job = f"sync:{pair}" if pair else f"{kind}:job-{i % 7}"
        started = now - (runs - i) * 300.0
        summary = []
        if kind == "sync":
            summary = [
                {"feature": f, "target": t, "type": "movie", "added": rng.randint(0, 50), "failed": rng.randint(0, 2)}
                for f in ("watchlist", "ratings", "history")
                for t in ("PLEX", "TRAKT")
            ]
        rows.append(
            Run(
                i + 1,
                job,
                kind,
                "schedule",
                started,
                rng.choice(RESULTS),
                pair=pair,
                provider=None if pair else "TRAKT",
                feature=None if pair else "watchlist",
                ended=started + rng.uniform(0.2, 900),
                counts={"added": rng.randint(0, 100)},
                summary=summary,
            )
        )
    db = sqlite3.connect(history.path)
    with db:
        db.executemany(
            "INSERT INTO runs (job, kind, trigger, pair, provider, feature, started, ended, result, counts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (r.job, r.kind, r.trigger, r.pair, r.provider, r.feature, r.started, r.ended, r.result, "{}")
                for r in rows
            ],
        )
    db.close()
    return rows


def fill_captures(folder: Path, captures: int) -> CaptureStore:
    store = CaptureStore(folder)
    first = datetime(2026, 1, 1, 3, tzinfo=UTC)
    for i in range(captures):
        created = first + timedelta(days=i // 10, seconds=i % 10)
        provider, feature = ("TRAKT", "PLEX")[i % 2], ("watchlist", "ratings", "history", "progress", "all")[i % 5]
        stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        store.write(Capture(provider=provider, feature=feature, created=stamp, label="bench"), created)
    return store


def figures(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    return {
        "median": round(statistics.median(ms), 2),
        "p95": round(ms[int(len(ms) * 0.95) - 1], 2),
        "max": round(ms[-1], 2),
    }


async def timed_get(client: httpx.AsyncClient, url: str) -> tuple[float, httpx.Response]:
    began = time.perf_counter()
    reply = await client.get(url)
    took = time.perf_counter() - began
    assert reply.status_code == 200, reply.text[:200]
    return took, reply


def timed(client: httpx.Client) -> float:
    began = time.perf_counter()
    reply = client.get("/metrics")
    took = time.perf_counter() - began
    assert reply.status_code == 200, reply.text[:200]
    return took


def bench_daemon(folder: Path, repeat: int) -> dict[str, Any]:
    """The real daemon process, scraped over HTTP."""
    pairs = "".join(f'[[pairs]]\nname = "{p}"\nsource = "plex"\ntarget = "trakt"\n' for p in PAIRS)
    (folder / "config.toml").write_text(f'[daemon]\nlisten = "127.0.0.1:0"\n{pairs}')
    proc = subprocess.Popen(
        [CROSSWATCH, "--config-dir", str(folder), "--log-format", "json", "run"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        listen = None
        for line in proc.stderr:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "daemon.ready":
                listen = event["listen"]
                break
        assert listen, "the daemon did not start"
        with httpx.Client(base_url=f"http://{listen}", timeout=10) as client:
            began = time.perf_counter()
            first = client.get("/metrics")
            cold = time.perf_counter() - began
            assert first.status_code == 200, first.text[:200]
            times = [timed(client) for _ in range(repeat)]
            reply = client.get("/metrics")
            # what a command run in a shell meanwhile does: a new capture, a new run in the history
            store, history = CaptureStore(folder), RunHistory(StateDir(folder))
            new_capture, new_run = [], []
            for i in range(min(repeat, 20)):
                created = datetime(2026, 7, 1, tzinfo=UTC) + timedelta(seconds=i)
                stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
                store.write(Capture(provider="TRAKT", feature="watchlist", created=stamp), created)
                new_capture.append(timed(client))
                history.finish(history.start(f"sync:{PAIRS[1]}", "sync", "command", pair=PAIRS[1]), "ok")
                new_run.append(timed(client))
        pairs_seen = reply.text.count("crosswatch_last_success_timestamp_seconds{")
        return {
            "first_scrape_ms": round(cold * 1000, 2),
            "scrape_ms": figures(times),
            "after_new_capture_ms": figures(new_capture),
            "after_new_run_ms": figures(new_run),
            "body_bytes": len(reply.content),
            "pairs_with_last_success": pairs_seen,
        }
    finally:
        proc.terminate()
        proc.wait(30)


async def bench_in_process(folder: Path, runs: list[Run], store: CaptureStore, repeat: int) -> dict[str, Any]:
    metrics = DaemonMetrics(folder, pairs=lambda: PAIRS)
    try:
        began = time.perf_counter()
        for run in runs:
            metrics.observe(run)
        observe_s = time.perf_counter() - began
        trakt = policy_for("TRAKT:http://bench:1:bench-client:default", read_limit=1000, read_period=300.0)
        for _ in range(400):
            await trakt.reads.wait()
        policy_for("PLEX:http://bench:2:default").stats.answered("200")
        app = WebApp(lambda: {"status": "ok"}, core=[metrics.route()])
        sock = bind_socket("127.0.0.1:0")
        stop = anyio.Event()
        result: dict[str, Any] = {"observe_per_run_us": round(observe_s / len(runs) * 1e6, 2) if runs else 0}
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve, app, sock, stop.wait)
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/metrics"
            async with httpx.AsyncClient(timeout=10) as client:
                deadline = time.monotonic() + 10
                while True:  # the server is up once it answers
                    try:
                        cold, reply = await timed_get(client, url)
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline, "the web app did not start"
                        await anyio.sleep(0.01)
                result["first_scrape_ms"] = round(cold * 1000, 2)
                times = [(await timed_get(client, url))[0] for _ in range(repeat)]
                result["scrape_ms"] = figures(times)
                result["body_bytes"] = len(reply.content)
                result["series"] = sum(1 for line in reply.text.splitlines() if line and not line.startswith("#"))
                new_capture, new_run = [], []
                history = RunHistory(StateDir(folder))
                for i in range(min(repeat, 20)):
                    created = datetime(2026, 6, 1, tzinfo=UTC) + timedelta(seconds=i)
                    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
                    store.write(Capture(provider="TRAKT", feature="watchlist", created=stamp), created)
                    new_capture.append((await timed_get(client, url))[0])
                    history.finish(history.start(f"sync:{PAIRS[0]}", "sync", "schedule", pair=PAIRS[0]), "ok")
                    new_run.append((await timed_get(client, url))[0])
                result["after_new_capture_ms"] = figures(new_capture)
                result["after_new_run_ms"] = figures(new_run)
            stop.set()
        sock.close()
        return result
    finally:
        metrics.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000, help="rows in the run history")
    parser.add_argument("--captures", type=int, default=1000, help="capture files under snapshots/")
    parser.add_argument("--repeat", type=int, default=200, help="scrapes timed per figure")
    parser.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    args = parser.parse_args(argv)
    cw_logging.configure("console", "warning")
    rng = random.Random(13)
    result: dict[str, Any] = {
        "benchmark": "metrics",
        "machine": machine(),
        "runs": args.runs,
        "captures": args.captures,
        "target_ms": TARGET_MS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        runs = fill_history(folder, args.runs, rng)
        store = fill_captures(folder, args.captures)
        result["setup_s"] = round(time.perf_counter() - began, 2)
        result["daemon"] = bench_daemon(folder, args.repeat)
        backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
        result["in_process"] = {
            b: anyio.run(bench_in_process, folder, runs, store, args.repeat, backend=b) for b in backends
        }
    worst = max(
        [result["daemon"]["scrape_ms"]["median"]] + [r["scrape_ms"]["median"] for r in result["in_process"].values()]
    )
    result["met"] = worst <= TARGET_MS
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
