"""Plex adapter benchmark against the Plex emulator (a separate process) with real latency.

Run: ``python -m tests.bench.bench_plex [--size 2200] [--plays 50000] [--rate 5000] [--latency-ms 20]``;
prints JSON. Targets (issue 4), with 20 ms latency: reading ratings and history of a
20,000-item library with 50,000 plays <= 15 s with requests <= items / page size + shows;
rating 5,000 items with 12 workers <= 12 s; and the request count of an unchanged re-read.
"""

from __future__ import annotations

import argparse
import json
import re
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
from crosswatch_plex.adapter import PlexProvider
from crosswatch_plex.config import PlexSettings
from crosswatch_plex.identity import PlexAccount, PlexIdentity
from tests.bench.bench_core import machine
from tests.bench.emulator_process import EmulatorProcess


def _provider(emu: EmulatorProcess, folder: Path, **overrides: Any) -> PlexProvider:
    state = StateDir(folder)
    state.ensure()
    token = re.search(r"token for tests: (\S+)", emu.block)
    assert token, emu.block
    PlexIdentity(state).save(PlexAccount(token=token[1], client_id="crosswatch-bench"))
    settings = msgspec.convert({**emu.config, **overrides}, PlexSettings)
    return PlexProvider(ProviderContext("PLEX", "default", settings, state))


def _set_plays(emu: EmulatorProcess, plays: int) -> int:
    """Give the owner exactly ``plays`` plays spread over the library's movies and episodes."""
    state = emu.control("GET", "/state")
    owner = state["users"]["1"]
    keys = sorted(
        {p["ratingKey"] for u in state["users"].values() for p in u["plays"]}
        | {w["ratingKey"] for w in owner["watched"]}
    )
    base = 1_600_000_000
    owner["plays"] = [{"ratingKey": keys[n % len(keys)], "viewedAt": base + 97 * n} for n in range(plays)]
    owner["watched"] = []
    emu.control("POST", "/state", state)
    return len(keys)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "plex", "machine": machine(), "latency_ms": args.latency_ms}
    emu = EmulatorProcess(
        "crosswatch_plex.emulator",
        "plex",
        "metadata_url",
        "--seed",
        "11",
        "--size",
        str(args.size),
        "--latency-ms",
        str(args.latency_ms),
    )
    try:
        result["titles_played"] = _set_plays(emu, args.plays)
        with tempfile.TemporaryDirectory() as tmp:
            plex = _provider(emu, Path(tmp))
            emu.control("POST", "/stats/reset")
            began = time.monotonic()
            ratings = await plex.read(Feature.RATINGS)
            history = await plex.read(Feature.HISTORY)
            took = time.monotonic() - began
            first = emu.control("GET", "/stats")["total"]
            index = await plex._index(Feature.RATINGS)
            result["library_items"] = len(index.items)
            result["read"] = {
                "ratings": len(ratings),
                "plays": len(history),
                "seconds": round(took, 2),
                "requests": first,
            }
            emu.control("POST", "/stats/reset")
            began = time.monotonic()
            await plex.read(Feature.RATINGS)
            await plex.read(Feature.HISTORY)
            result["unchanged_reread"] = {
                "seconds": round(time.monotonic() - began, 2),
                "requests": emu.control("GET", "/stats")["total"],
            }
            targets = [
                i
                for i in index.items.values()
                if i.type in (MediaType.MOVIE, MediaType.EPISODE)
                and (i.ids.get("imdb") or i.ids.get("tmdb") or i.ids.get("tvdb"))
            ]
            items = [
                Item(
                    type=i.type,
                    ids={k: v for k, v in i.ids.items() if k != "plex"},
                    show_ids=i.show_ids,
                    season=i.season,
                    episode=i.episode,
                    rating=1 + n % 10,
                )
                for n, i in enumerate(targets[: args.rate])
            ]
            emu.control("POST", "/stats/reset")
            began = time.monotonic()
            written = await plex.add(Feature.RATINGS, items)
            took = time.monotonic() - began
            result["rate"] = {
                "items": len(items),
                "ok": len(written.ok),
                "failed": len(written.failed),
                "workers": plex.settings.rating_workers,
                "seconds": round(took, 2),
                "requests": emu.control("GET", "/stats")["total"],
            }
            await plex.aclose()
    finally:
        emu.stop()
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--size", type=int, default=2200, help="catalogue titles (2,200 make about 20,000 library items)"
    )
    parser.add_argument("--plays", type=int, default=50_000)
    parser.add_argument("--rate", type=int, default=5_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    cw_logging.configure("console", "warning")
    result = anyio.run(run, args)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
