"""Jellyfin provider benchmark: reads, an unchanged re-read, played marks, and a Plex -> Jellyfin pair,
against the Jellyfin and Plex emulators (each its own process) with real latency.

Run: ``python -m tests.bench.bench_jellyfin [--size 2200] [--plays 50000] [--marks 5000]
[--latency-ms 20] [--workers 12]``; prints JSON. Targets, with 20 ms latency on both emulators
and a library of about 20,000 movies and episodes (``--size 2200`` titles) holding 50,000 plays
across its users:

1. reading all four features (watchlist, ratings, history, progress) <= 5 s (``read.cold``:
   a first read, which also indexes each library; ``read.warm``: a later process's read);
2. an unchanged re-read costs <= 1 request per library and feature (``reread``);
3. 5,000 played marks written (``jellyfin.workers`` at a time) <= 15 s (``marks``);
4. a Plex -> Jellyfin one-way pair of every feature: its first run, whose writes all go to
   Jellyfin, is bounded by Jellyfin's write pace (``floor_seconds``: the writes over the
   workers, one latency each), reported per side (requests, seconds by phase); its second
   run <= 2 s and <= 12 requests (``third_run``: the run after that, whose features are settled).

The emulator starts with two users (an administrator and an ordinary user); the benchmark
makes ``--users`` in all with ``POST /Users/New``, as an administrator would. The server
keeps one record per user and title, as Jellyfin does (``Played``, ``PlayCount``,
``LastPlayedDate``): the 50,000 plays are the PlayCounts summed over every user's records
(``jellyfin_seeded`` says how many records hold them). crosswatch reads the administrator's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import tomli_w

import crosswatch_jellyfin
from crosswatch import logging as cw_logging
from crosswatch.commands.common import plugin_host
from crosswatch.config import load_config
from crosswatch.jobs import JobContext
from crosswatch.model import Feature, Item, MediaType
from crosswatch.provider import AuthContext, Provider, ProviderContext, ProviderSpec
from crosswatch.state import StateDir
from crosswatch.sync.engine import Options, run_pair
from crosswatch.sync.pairs import find_pair
from crosswatch.sync.report import summary_rows
from crosswatch_jellyfin.config import MediaServerSettings
from crosswatch_plex.identity import PlexAccount, PlexIdentity
from tests.bench.bench_core import machine
from tests.bench.bench_sync import Stamps, endpoints, seed_plex, stamped
from tests.bench.emulator_process import EmulatorProcess

SEED = 11
PAIR = "plex-to-jellyfin"
FEATURES = [Feature.WATCHLIST, Feature.RATINGS, Feature.HISTORY, Feature.PROGRESS]
PASSWORD_ENV = "CROSSWATCH_JELLYFIN_PASSWORD"
BASE = 1_600_000_000  # epoch seconds of the first seeded play
TICKS = 10_000_000
#: shares of the movies and episodes each user has played (the others' drawn each on their own)
ADMIN_SHARE, OTHER_SHARE = 0.6, 0.3


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the emulators ---------------------------------------------------------------------------------


def start_emulators(args: argparse.Namespace) -> tuple[EmulatorProcess, EmulatorProcess]:
    """Jellyfin and Plex of one seeded catalogue, started side by side."""
    common = ["--seed", str(SEED), "--size", str(args.size), "--latency-ms", str(args.latency_ms)]
    with ThreadPoolExecutor(2) as pool:
        starting = [
            pool.submit(EmulatorProcess, "crosswatch_jellyfin.emulator", "jellyfin", "api_key", *common),
            pool.submit(EmulatorProcess, "crosswatch_plex.emulator", "plex", "metadata_url", *common),
        ]
    failed = [e for e in (f.exception() for f in starting) if e is not None]
    if failed:
        for started in (f.result() for f in starting if f.exception() is None):
            started.stop()
        raise failed[0]
    return starting[0].result(), starting[1].result()


def seed_jellyfin(emu: EmulatorProcess, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both users' records (``args.plays`` PlayCounts in all), the administrator's ratings,
    favourites and resume positions; the posted state and what it holds."""
    items = emu.control("GET", "/catalog")["items"]
    make_users(emu, args.users)
    users = emu.control("GET", "/state")["users"]
    admin = next(u for u in users if u["admin"])
    others = [u for u in users if not u["admin"]]
    leaves = [i for i in items if i["type"] in ("movie", "episode")]
    rng = random.Random(f"bench-jellyfin:{SEED}")
    records = [(admin, i) for i in rng.sample(leaves, int(len(leaves) * ADMIN_SHARE))]
    for other in others:
        records += [(other, i) for i in rng.sample(leaves, int(len(leaves) * OTHER_SHARE))]
    if args.plays < len(records):  # every record holds at least one play
        records = records[: args.plays]
    each, extra = divmod(args.plays, max(1, len(records)))
    data: dict[str, dict[str, dict[str, Any]]] = {u["id"]: {} for u in users}
    for n, (user, item) in enumerate(records):
        data[user["id"]][item["id"]] = {
            "item": item["id"],
            "played": True,
            "play_count": each + (1 if n < extra else 0),
            "last_played": iso(BASE + 97 * n),
        }
    mine = data[admin["id"]]
    unplayed = [i for i in leaves if i["id"] not in mine]
    rated = rng.sample(items, min(len(items), args.ratings))
    for n, item in enumerate(rated):
        mine.setdefault(item["id"], {"item": item["id"]})["rating"] = float(1 + n % 10)
    titles = [i for i in items if i["type"] in ("movie", "show")]
    for item in rng.sample(titles, min(len(titles), args.watchlist)):
        mine.setdefault(item["id"], {"item": item["id"]})["favorite"] = True
    for n, item in enumerate(unplayed[: args.progress]):
        mine.setdefault(item["id"], {"item": item["id"]})["position_ticks"] = (600 + n) * TICKS
    state = {
        "users": [{"id": uid, "data": list(rows.values())} for uid, rows in data.items()],
        "playlists": [],
    }
    emu.control("POST", "/state", state)
    held = [r for rows in data.values() for r in rows.values()]
    return state, {
        "library_items": Counter(i["type"] for i in items),
        "movies_and_episodes": len(leaves),
        "users": len(users),
        "played_records": sum(1 for r in held if r.get("played")),
        "plays": sum(r.get("play_count", 0) for r in held),
        "administrator": {
            "played": sum(1 for r in mine.values() if r.get("played")),
            "plays": sum(r.get("play_count", 0) for r in mine.values()),
            "ratings": sum(1 for r in mine.values() if r.get("rating") is not None),
            "favourites": sum(1 for r in mine.values() if r.get("favorite")),
            "resume_positions": sum(1 for r in mine.values() if r.get("position_ticks")),
        },
    }


def make_users(emu: EmulatorProcess, total: int) -> None:
    """Users until the server has ``total``, made as an administrator makes them (``POST /Users/New``)."""
    headers = {"X-Emby-Token": emu.config["api_key"]}
    have = len(emu.control("GET", "/state")["users"])
    for n in range(have, total):
        body = {"Name": f"viewer{n}", "Password": f"bench-password-{n}"}
        httpx.post(emu.url + "/Users/New", json=body, headers=headers, timeout=30).raise_for_status()


def password(block: str, user: str) -> str:
    """The user's password, from the comments of the emulator's config block."""
    found = re.search(rf"^# user {re.escape(user)} \(administrator\) password (\S+)", block, re.MULTILINE)
    assert found, block
    return found[1]


# -- the provider ----------------------------------------------------------------------------------


def spec() -> ProviderSpec:
    found: list[ProviderSpec] = []
    crosswatch_jellyfin.crosswatch_register_providers(found.append)
    return next(s for s in found if s.id == "JELLYFIN")


def section(emu: EmulatorProcess, workers: int) -> dict[str, Any]:
    return {"url": emu.config["url"], "user": emu.config["user"], "workers": workers}


async def sign_in(emu: EmulatorProcess, folder: Path, workers: int) -> MediaServerSettings:
    """The plugin's own sign-in, by password from the environment (as ``crosswatch auth jellyfin``)."""
    settings = msgspec.convert(section(emu, workers), MediaServerSettings)
    state = StateDir(folder)
    state.ensure()
    os.environ[PASSWORD_ENV] = password(emu.block, emu.config["user"])
    try:
        await crosswatch_jellyfin.crosswatch_auth_flows()["jellyfin"](
            AuthContext("default", settings, state, lambda _: None)
        )
    finally:
        os.environ.pop(PASSWORD_ENV, None)
    return settings


def provider(folder: Path, settings: MediaServerSettings) -> Provider:
    found = spec()
    return found.factory(ProviderContext(found.id, "default", settings, StateDir(folder)))


def libraries(folder: Path) -> int:
    """How many libraries the provider's index holds (the movie and show libraries it reads)."""
    index = json.loads((folder / ".cw_state" / "jellyfin_library.json").read_text())
    return len(index["libraries"])


async def timed(emu: EmulatorProcess, work: Callable[[], Any]) -> tuple[Any, float, dict[str, Any]]:
    """``work()``'s result, its wall time, and the emulator's counts (with ``cpu_seconds`` of this process)."""
    emu.control("POST", "/stats/reset")
    began, cpu = time.monotonic(), time.process_time()
    result = await work()
    took = time.monotonic() - began
    return result, took, {**emu.control("GET", "/stats"), "cpu_seconds": round(time.process_time() - cpu, 2)}


async def read_all(jf: Provider) -> dict[str, int]:
    return {str(f): len(await jf.read(f)) for f in FEATURES}


async def bench_reads(emu: EmulatorProcess, folder: Path, settings: MediaServerSettings) -> dict[str, Any]:
    """A first read of every feature (the index built), a later process's, and an unchanged re-read by feature."""
    out: dict[str, Any] = {}
    for name in ("cold", "warm"):
        jf = provider(folder, settings)
        try:
            counts, took, stats = await timed(emu, lambda: read_all(jf))  # noqa: B023
        finally:
            await jf.aclose()
        out[name] = {
            "seconds": round(took, 2),
            "cpu_seconds": stats["cpu_seconds"],
            "requests": stats["total"],
            "items": counts,
        }
    views = libraries(folder)
    per_feature: dict[str, Any] = {}
    jf = provider(folder, settings)
    try:
        for feature in FEATURES:
            _, took, stats = await timed(emu, lambda: jf.read(feature))  # noqa: B023
            per_feature[str(feature)] = {
                "requests": stats["total"],
                "per_library": round(stats["total"] / views, 2),
                "seconds": round(took, 2),
            }
    finally:
        await jf.aclose()
    out["reread"] = {"libraries": views, "features": per_feature}
    return out


async def bench_marks(emu: EmulatorProcess, folder: Path, settings: MediaServerSettings, marks: int) -> dict[str, Any]:
    """``marks`` played marks, each a title the administrator has not played, named as another provider would."""
    items = emu.control("GET", "/catalog")["items"]
    state = emu.control("GET", "/state")
    admin = next(u for u in state["users"] if u["admin"])
    played = {r["item"] for r in admin["data"] if r["played"]}
    todo = [i for i in items if i["type"] in ("movie", "episode") and i["style"] == "full" and i["id"] not in played][
        :marks
    ]
    plays = [
        Item(
            type=MediaType(i["type"]),
            ids={k: str(v) for k, v in i["ids"].items() if k in ("imdb", "tmdb", "tvdb")},
            title=i["name"],
            watched_at=iso(BASE + 3 * 10**7 + 61 * n),
        )
        for n, i in enumerate(todo)
    ]
    jf = provider(folder, settings)
    try:
        result, took, stats = await timed(emu, lambda: jf.add(Feature.HISTORY, plays))
    finally:
        await jf.aclose()
    after = emu.control("GET", "/state")
    now_played = {r["item"] for u in after["users"] if u["admin"] for r in u["data"] if r["played"]}
    return {
        "marks": len(plays),
        "ok": len(result.ok),
        "failed": len(result.failed),
        "unresolved": len(result.unresolved),
        "landed": len(now_played - played),
        "workers": settings.workers,
        "seconds": round(took, 2),
        "cpu_seconds": stats["cpu_seconds"],
        "marks_per_s": round(len(plays) / took, 1) if took else None,
        "requests": stats["total"],
        "writes": len(stats["writes"]),
        "floor_seconds": round(math.ceil(len(plays) / settings.workers) * emu_latency(emu), 2),
        "by_endpoint": endpoints(stats),
    }


def emu_latency(emu: EmulatorProcess) -> float:
    return float(emu.control("GET", "/settings")["latency_ms"]) / 1000


# -- the pair --------------------------------------------------------------------------------------


def make_config(folder: Path, plex: EmulatorProcess, jf: EmulatorProcess, workers: int, features: list[str]) -> None:
    token = re.search(r"token for tests: (\S+)", plex.block)
    assert token, plex.block
    config = {
        "daemon": {"listen": ""},
        "plex": plex.config,
        "jellyfin": section(jf, workers),
        "pairs": [{"name": PAIR, "source": "plex", "target": "jellyfin", "mode": "one-way", "features": features}],
    }
    (folder / "config.toml").write_text(tomli_w.dumps(config))
    state = StateDir(folder)
    state.ensure()
    PlexIdentity(state).save(PlexAccount(token=token[1], client_id="crosswatch-bench"))


def _side_seconds(phases: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds of the run spent reading each side and writing Jellyfin, from its phases."""
    out: Counter[str] = Counter()
    for phase in phases:
        name = phase["phase"]
        if name.startswith("reading PLEX"):
            out["plex_reading"] += phase["seconds"]
        elif name.startswith("reading JELLYFIN"):
            out["jellyfin_reading"] += phase["seconds"]
        elif name.startswith("JELLYFIN ") and ": writing" in name:
            out["jellyfin_writing"] += phase["seconds"]
        else:
            out["other"] += phase["seconds"]
    return {k: round(v, 2) for k, v in sorted(out.items())}


async def sync_run(folder: Path, plex: EmulatorProcess, jf: EmulatorProcess) -> dict[str, Any]:
    host = plugin_host(folder)
    config = load_config(folder, host.sections())
    stamps = Stamps()
    ctx = JobContext(config, host, say=stamps.say)
    pair = find_pair(config, host.providers, PAIR)
    for emu in (plex, jf):
        emu.control("POST", "/stats/reset")
    began, began_cpu = time.monotonic(), time.process_time()
    with stamped(stamps):
        report = await run_pair(ctx, pair, Options())
    ended, ended_cpu = time.monotonic(), time.process_time()
    plex_stats, jf_stats = plex.control("GET", "/stats"), jf.control("GET", "/stats")
    phases = stamps.phases((began, began_cpu), (ended, ended_cpu))
    summary = summary_rows(report)
    return {
        "ok": report.ok,
        "seconds": round(ended - began, 2),
        "cpu_seconds": round(ended_cpu - began_cpu, 2),
        "requests": plex_stats["total"] + jf_stats["total"],
        "plex": {"requests": plex_stats["total"], "writes": len(plex_stats["writes"])},
        "jellyfin": {"requests": jf_stats["total"], "writes": len(jf_stats["writes"])},
        "side_seconds": _side_seconds(phases),
        "plan": [
            {
                "feature": p.feature.value,
                "read": p.counts,
                **{a: sum(len(getattr(c, a)) for c in p.changes) for a in ("add", "update", "remove")},
                "refused": p.refused,
            }
            for p in report.plans
        ],
        "summary": summary,
        "settled": [p.feature.value for p in report.plans if p.settled],  # read, not planned
        "totals": {a: sum(r[a] for r in summary) for a in ("added", "updated", "removed", "failed", "unresolved")},
        "phases": phases,
        "plex_by_endpoint": endpoints(plex_stats),
        "jellyfin_by_endpoint": endpoints(jf_stats),
    }


async def bench_pair(
    plex: EmulatorProcess, jf: EmulatorProcess, seeded: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    jf.control("POST", "/state", seeded)  # the library as seeded (the marks are gone)
    out: dict[str, Any] = {
        "features": args.features,
        "plex_seeded": seed_plex(plex, args.plays, args.ratings, args.watchlist),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_config(folder, plex, jf, args.workers, args.features)
        await sign_in(jf, folder, args.workers)
        first = await sync_run(folder, plex, jf)
        latency = emu_latency(jf)
        first["jellyfin"]["floor_seconds"] = round(math.ceil(first["jellyfin"]["writes"] / args.workers) * latency, 2)
        writing = first["side_seconds"].get("jellyfin_writing", 0.0)
        first["jellyfin"]["writes_per_s"] = round(first["jellyfin"]["writes"] / writing, 1) if writing else None
        out["first_run"] = first
        out["second_run"] = await sync_run(folder, plex, jf)
        # the run after a run that wrote nothing: its features are settled (read, but not planned again)
        out["third_run"] = await sync_run(folder, plex, jf)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "jellyfin",
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "latency_ms": args.latency_ms,
        "workers": args.workers,
    }
    jf, plex = start_emulators(args)
    try:
        seeded, result["jellyfin_seeded"] = seed_jellyfin(jf, args)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            settings = await sign_in(jf, folder, args.workers)
            result["read"] = await bench_reads(jf, folder, settings)
            result["marks"] = await bench_marks(jf, folder, settings, args.marks)
        result["pair"] = await bench_pair(plex, jf, seeded, args)
    finally:
        jf.stop()
        plex.stop()
    read, marks, pair = result["read"], result["marks"], result["pair"]
    reread = read["reread"]["features"].values()
    result["targets"] = {
        "read_all_cold_s<=5": read["cold"]["seconds"] <= 5,
        "read_all_warm_s<=5": read["warm"]["seconds"] <= 5,
        "reread_requests_per_library<=1": all(f["per_library"] <= 1 for f in reread),
        "marks_s<=15": marks["seconds"] <= 15,
        "marks_all_landed": marks["landed"] == marks["ok"] == marks["marks"],
        "pair_first_run_ok": pair["first_run"]["ok"] or pair["first_run"]["totals"]["failed"] == 0,
        "pair_second_run_s<=2": pair["second_run"]["seconds"] <= 2,
        "pair_second_run_requests<=12": pair["second_run"]["requests"] <= 12,
        "pair_second_run_writes==0": pair["second_run"]["jellyfin"]["writes"] == 0,
        "pair_third_run_s<=2": pair["third_run"]["seconds"] <= 2,
        "pair_third_run_requests<=12": pair["third_run"]["requests"] <= 12,
    }
    result["load_average_after"] = list(os.getloadavg())
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--size", type=int, default=2200, help="catalogue titles (2,200 make about 20,000 movies and episodes)"
    )
    parser.add_argument("--plays", type=int, default=50_000, help="plays across the users (PlayCounts summed)")
    parser.add_argument("--users", type=int, default=5, help="users on the server (the administrator's read)")
    parser.add_argument("--ratings", type=int, default=2_000)
    parser.add_argument("--watchlist", type=int, default=300)
    parser.add_argument("--progress", type=int, default=200, help="resume positions of the administrator")
    parser.add_argument("--marks", type=int, default=5_000, help="played marks written")
    parser.add_argument(
        "--workers", type=int, default=MediaServerSettings().workers, help="jellyfin.workers (default: its default)"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument(
        "--features",
        type=lambda text: [str(Feature(f.strip())) for f in text.split(",")],
        default=[str(f) for f in FEATURES],
        help="the pair's features, comma-separated (default: all four)",
    )
    args = parser.parse_args(argv)
    cw_logging.configure("console", "warning")
    result = anyio.run(run, args)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
