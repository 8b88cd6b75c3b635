"""Trakt adapter benchmark against the emulator (a separate process) with real latency.

Run: ``python -m tests.bench.bench_trakt [--plays 100000] [--write-plays 10000] [--latency-ms 50]``;
prints JSON. Targets (issue 3), with 50 ms latency: reading a 100,000-play history <= 10 s and
<= 410 requests; writing 10,000 plays in ceil(N / batch) writes with no 429 caused by our pace
and a wall time within 10 % of the one-write-per-second floor; a no-change read of all four
features <= 4 requests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import msgspec

from crosswatch import logging as cw_logging
from crosswatch.model import Feature, Item, MediaType
from crosswatch.provider import ProviderContext
from crosswatch.state import StateDir
from crosswatch_trakt.adapter import TraktProvider
from crosswatch_trakt.config import TraktSettings
from crosswatch_trakt.tokens import Tokens, TokenStore
from tests.bench.bench_core import machine
from tests.bench.emulator_process import EmulatorProcess


def _provider(emu: EmulatorProcess, folder: Path, **overrides: Any) -> TraktProvider:
    state = StateDir(folder)
    if not (state.path / "trakt.tokens.json").exists():
        token = emu.control("POST", "/tokens", {})
        TokenStore(state, "trakt").save(msgspec.convert({**token, "client_id": emu.config["client_id"]}, Tokens))
    settings = msgspec.convert({**emu.config, **overrides}, TraktSettings)
    return TraktProvider(ProviderContext("TRAKT", "default", settings, state))


def _writes(stats: dict[str, Any]) -> int:
    return sum(n for name, n in stats["requests"].items() if name.startswith(("POST /sync", "DELETE /sync")))


async def bench_read(emu: EmulatorProcess, folder: Path, plays: int) -> dict[str, Any]:
    emu.control("POST", "/stats/reset")
    trakt = _provider(emu, folder)
    began = time.monotonic()
    items = await trakt.read(Feature.HISTORY)
    took = time.monotonic() - began
    await trakt.aclose()
    stats = emu.control("GET", "/stats")
    assert len(items) == plays, (len(items), plays)
    return {"plays": len(items), "seconds": round(took, 2), "requests": stats["total"], "throttled": stats["throttled"]}


async def bench_no_change(emu: EmulatorProcess, folder: Path) -> dict[str, Any]:
    warm = _provider(emu, folder)
    for feature in Feature:
        await warm.read(feature)
    await warm.aclose()
    emu.control("POST", "/stats/reset")
    trakt = _provider(emu, folder)
    began = time.monotonic()
    counts = {f.value: len(await trakt.read(f)) for f in Feature}
    took = time.monotonic() - began
    await trakt.aclose()
    stats = emu.control("GET", "/stats")
    return {"items": counts, "seconds": round(took, 3), "requests": stats["total"], "by_endpoint": stats["requests"]}


async def bench_write(emu: EmulatorProcess, folder: Path, count: int, batch: int) -> dict[str, Any]:
    movies = emu.control("GET", "/catalog")["movies"]
    base = 1_500_000_000  # plays an hour apart, far from the seeded history
    plays = [
        Item(
            type=MediaType.MOVIE,
            ids={"trakt": str(movies[n % len(movies)]["ids"]["trakt"])},
            watched_at=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(base + 3600 * n)),
        )
        for n in range(count)
    ]
    emu.control("POST", "/stats/reset")
    trakt = _provider(emu, folder, batch_size=batch)
    began = time.monotonic()
    result = await trakt.add(Feature.HISTORY, plays)
    took = time.monotonic() - began
    await trakt.aclose()
    stats = emu.control("GET", "/stats")
    writes = _writes(stats)
    floor = max(0, math.ceil(count / batch) - 1) * 1.0
    return {
        "plays": count,
        "batch": batch,
        "added": len(result.ok),
        "failed": len(result.failed),
        "writes": writes,
        "expected_writes": math.ceil(count / batch),
        "reads": stats["total"] - writes,
        "throttled": stats["throttled"],
        "seconds": round(took, 2),
        "floor_seconds": floor,
        "over_floor_percent": round(100 * (took - floor) / floor, 1) if floor else None,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "trakt", "machine": machine(), "latency_ms": args.latency_ms}
    with tempfile.TemporaryDirectory() as tmp:
        emu = EmulatorProcess(
            "crosswatch_trakt.emulator",
            "trakt",
            "auth_url",
            "--seed",
            "11",
            "--size",
            str(args.size),
            "--plays",
            str(args.plays),
            "--latency-ms",
            str(args.latency_ms),
            "--vip",
        )
        try:
            result["history_read"] = await bench_read(emu, Path(tmp) / "read", args.plays)
            result["no_change_read"] = await bench_no_change(emu, Path(tmp) / "read")
            if args.write_plays:
                result["history_write"] = await bench_write(emu, Path(tmp) / "write", args.write_plays, args.batch)
        finally:
            emu.stop()
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plays", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=5_000)
    parser.add_argument("--write-plays", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    cw_logging.configure("console", "warning")
    result = anyio.run(run, args)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
