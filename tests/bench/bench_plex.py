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
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec

from crosswatch import logging as cw_logging
from crosswatch.model import Feature, Item, MediaType
from crosswatch.provider import ProviderContext
from crosswatch.state import StateDir
from crosswatch_plex.adapter import PlexProvider
from crosswatch_plex.config import PlexSettings
from crosswatch_plex.identity import PlexAccount, PlexIdentity
from tests.bench.bench_core import machine


class PlexEmulatorProcess:
    """``python -m crosswatch_plex.emulator`` in its own process; its TOML block says where."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crosswatch_plex.emulator", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        block = ""
        while "metadata_url" not in block:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the emulator exited before printing its config block")
            block += line
        self.config = tomllib.loads(block)["plex"]
        self.url = self.config["url"]
        match = re.search(r"token for tests: (\S+)", block)
        assert match, block
        self.token = match[1]

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, self.url + "/_emulator" + path, json=body, timeout=120)
        response.raise_for_status()
        return response.json() if response.content else None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _provider(emu: PlexEmulatorProcess, folder: Path, **overrides: Any) -> PlexProvider:
    state = StateDir(folder)
    state.ensure()
    PlexIdentity(state).save(PlexAccount(token=emu.token, client_id="crosswatch-bench"))
    settings = msgspec.convert({**emu.config, **overrides}, PlexSettings)
    return PlexProvider(ProviderContext("PLEX", "default", settings, state))


def _set_plays(emu: PlexEmulatorProcess, plays: int) -> int:
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
    emu = PlexEmulatorProcess("--seed", "11", "--size", str(args.size), "--latency-ms", str(args.latency_ms))
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
            await plex.read(Feature.RATINGS)
            await plex.read(Feature.HISTORY)
            result["unchanged_reread_requests"] = emu.control("GET", "/stats")["total"]
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
