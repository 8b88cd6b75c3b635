"""Sync engine benchmark: a Plex -> Trakt one-way pair against both emulators (each its own process).

Run: ``python -m tests.bench.bench_sync [--size 2200] [--plays 50000] [--ratings 2000]
[--watchlist 300] [--trakt-keep 10] [--latency-ms 20] [--profile DIR]``; prints JSON. Targets,
with 20 ms latency on both emulators, a Plex library of about 20,000 movies and episodes with
50,000 plays, 2,000 ratings and 300 watchlist items, and an empty-ish Trakt account (a few
seeded watchlist entries and ratings, no history):

1. the first full run (watchlist, ratings, history) <= 90 s; it is bounded by Trakt's one
   write a second, so the writes made are set against the floor, ceil(items / batch) per
   feature, with ``trakt.batch_size = 1000`` (the maximum) and the default
   ``write_interval_s = 1.0``;
2. a second run with nothing changed <= 2 s and <= 12 requests in all (both emulators,
   counted by each emulator's ``/_emulator/stats``).

Where the time goes: ``phases`` are the engine's own progress lines (``ctx.say``) and, by
wrapping the engine's functions for the run, baseline loads and saves, planning and the
safety capture, each with the time until the next one. ``--profile DIR`` also runs each sync
under cProfile (client side, the event loop's thread) and writes ``run1.prof`` and
``run2.prof`` there, with the top functions in the JSON (times are then inflated).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import os
import pstats
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import anyio
import msgspec
import tomli_w

from crosswatch import logging as cw_logging
from crosswatch.commands.common import plugin_host
from crosswatch.config import load_config
from crosswatch.jobs import JobContext
from crosswatch.state import StateDir
from crosswatch.sync import baseline, engine
from crosswatch.sync.engine import Options, run_pair
from crosswatch.sync.pairs import find_pair
from crosswatch.sync.report import SyncReport, summary_rows
from crosswatch_plex.identity import PlexAccount, PlexIdentity
from crosswatch_trakt.tokens import Tokens, TokenStore
from tests.bench.bench_core import machine
from tests.bench.emulator_process import EmulatorProcess

PAIR = "plex-to-trakt"
FEATURES = ["watchlist", "ratings", "history"]
SEED = 11
BASE = 1_600_000_000  # epoch seconds of the first seeded play


def start_emulators(args: argparse.Namespace) -> tuple[EmulatorProcess, EmulatorProcess]:
    """Both emulators, started side by side (each reads its catalogue at start)."""
    common = ["--seed", str(SEED), "--size", str(args.size), "--latency-ms", str(args.latency_ms)]
    with ThreadPoolExecutor(2) as pool:
        starting = [
            pool.submit(EmulatorProcess, "crosswatch_plex.emulator", "plex", "metadata_url", *common),
            pool.submit(
                EmulatorProcess, "crosswatch_trakt.emulator", "trakt", "auth_url", *common, "--plays", "0", "--vip"
            ),
        ]
    failed = [f.exception() for f in starting if f.exception() is not None]
    if failed:
        for started in (f.result() for f in starting if f.exception() is None):
            started.stop()
        raise failed[0]
    return starting[0].result(), starting[1].result()


def seed_plex(emu: EmulatorProcess, plays: int, ratings: int, watchlist: int) -> dict[str, Any]:
    """The owner's plays (spread as bench_plex's ``_set_plays`` does), ratings and watchlist, in one post."""
    state = emu.control("GET", "/state")
    catalog = emu.control("GET", "/catalog")
    owner = state["users"]["1"]
    keys = sorted(
        {p["ratingKey"] for u in state["users"].values() for p in u["plays"]}
        | {w["ratingKey"] for w in owner["watched"]}
    )
    owner["plays"] = [{"ratingKey": keys[n % len(keys)], "viewedAt": BASE + 97 * n} for n in range(plays)]
    owner["watched"] = []
    owner["marked_watched"] = []
    # ratings over every kind, by share: movies half, shows, seasons and episodes the rest
    movies = catalog["movies"]
    shows = catalog["shows"]
    seasons = [s for show in shows for s in show["seasons"]]
    episodes = [e for s in seasons for e in s["episodes"]]
    wanted = {"movie": ratings // 2, "show": ratings // 6, "season": ratings // 12}
    wanted["episode"] = ratings - sum(wanted.values())
    rated: list[str] = []
    for kind, pool in (("movie", movies), ("show", shows), ("season", seasons), ("episode", episodes)):
        step = max(1, len(pool) // max(1, wanted[kind]))
        rated += [e["ratingKey"] for e in pool[::step][: wanted[kind]]]
    owner["ratings"] = [
        {"ratingKey": key, "rating": float(1 + n % 10), "ratedAt": BASE + 3600 * n} for n, key in enumerate(rated)
    ]
    titles = movies + shows  # movies and shows, evenly over both
    listed = titles[:: max(1, len(titles) // max(1, watchlist))][:watchlist]
    owner["watchlist"] = [{"discover": t["discover"], "watchlistedAt": BASE + 600 * n} for n, t in enumerate(listed)]
    emu.control("POST", "/state", state)
    return {
        "movies_and_episodes": len(movies) + len(episodes),
        "titles_played": len(keys),
        "plays": plays,
        "ratings": len(rated),
        "watchlist": len(owner["watchlist"]),
    }


def seed_trakt(emu: EmulatorProcess, keep: int) -> dict[str, int]:
    """Empty-ish: ``keep`` of the seeded watchlist entries and ratings, no history, nothing else."""
    state = emu.control("GET", "/state")
    small = {"watchlist": state["watchlist"][:keep], "ratings": state["ratings"][:keep]}
    emu.control("POST", "/state", small)
    return {"watchlist": len(small["watchlist"]), "ratings": len(small["ratings"]), "history": 0}


def make_config(folder: Path, plex: EmulatorProcess, trakt: EmulatorProcess, batch: int) -> None:
    token = re.search(r"token for tests: (\S+)", plex.block)
    assert token, plex.block
    config = {
        "daemon": {"listen": ""},
        "plex": plex.config,
        "trakt": {**trakt.config, "batch_size": batch},  # write_interval_s: the default, 1.0
        "pairs": [{"name": PAIR, "source": "plex", "target": "trakt", "mode": "one-way", "features": FEATURES}],
    }
    (folder / "config.toml").write_text(tomli_w.dumps(config))
    state = StateDir(folder)
    state.ensure()
    PlexIdentity(state).save(PlexAccount(token=token[1], client_id="crosswatch-bench"))
    issued = trakt.control("POST", "/tokens", {})
    TokenStore(state, "trakt").save(msgspec.convert({**issued, "client_id": trakt.config["client_id"]}, Tokens))


class Stamps:
    """The engine's progress lines with the time each came: the phases of a run.

    Each phase has its wall time and the CPU time of this process (every thread) in it: a
    phase with far less CPU than wall time waited (on the network, the disk or a busy machine).
    """

    def __init__(self) -> None:
        self.lines: list[tuple[float, float, str]] = []

    def say(self, text: str) -> None:
        self.lines.append((time.monotonic(), time.process_time(), text))

    def phases(self, began: tuple[float, float], ended: tuple[float, float]) -> list[dict[str, Any]]:
        marks = [(*began, "open and sign in"), *self.lines, (*ended, "")]
        return [
            {"phase": text.rstrip("."), "seconds": round(nxt - at, 2), "cpu_seconds": round(nxt_cpu - cpu, 2)}
            for (at, cpu, text), (nxt, nxt_cpu, _) in pairwise(marks)
        ]


@contextmanager
def stamped(stamps: Stamps) -> Iterator[None]:
    """Also stamp baseline loads (with the frozen lists after them), saves, planning and the safety capture."""
    real = (engine.make_plans, engine._safety, baseline.load, baseline.save)
    make_plans, safety, load, save = real

    def plans(*args: Any, **kwargs: Any) -> Any:
        stamps.say("planning")
        return make_plans(*args, **kwargs)

    async def capture(*args: Any, **kwargs: Any) -> Any:
        stamps.say("safety capture")
        return await safety(*args, **kwargs)

    def loaded(state: Any, pair: str, feature: str) -> Any:
        stamps.say(f"loading the {feature} baseline and frozen lists")
        return load(state, pair, feature)

    def record(state: Any, pair: str, feature: str, base: Any) -> None:
        stamps.say(f"saving the {feature} baseline")
        save(state, pair, feature, base)

    engine.make_plans, engine._safety, baseline.load, baseline.save = plans, capture, loaded, record
    try:
        yield
    finally:
        engine.make_plans, engine._safety, baseline.load, baseline.save = real


class GcTimer:
    """Time spent in the cyclic garbage collector, per generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._began
            self.count[info["generation"]] += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def figures(self) -> dict[str, Any]:
        return {
            "seconds": round(sum(self.seconds), 3),
            "by_generation": [
                {"collections": n, "seconds": round(t, 3)} for n, t in zip(self.count, self.seconds, strict=True)
            ],
        }


def endpoints(stats: dict[str, Any]) -> dict[str, int]:
    """Requests per ``METHOD path``, ids and id lists in the path folded to ``{id}``."""
    out: Counter[str] = Counter()
    for name, count in stats["requests"].items():
        method, _, path = name.partition(" ")
        parts = ["{id}" if len(seg) >= 4 and re.fullmatch(r"[0-9a-f,]+", seg) else seg for seg in path.split("/")]
        out[f"{method} {'/'.join(parts)}"] += count
    return dict(sorted(out.items()))


def _writes(stats: dict[str, Any]) -> int:
    return sum(n for name, n in stats["requests"].items() if name.startswith(("POST /sync", "DELETE /sync")))


def _top(profile: cProfile.Profile, order: str, count: int) -> list[str]:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(order).print_stats(count)
    lines = out.getvalue().splitlines()
    start = next((n for n, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return [
        re.sub(r"\S*/(site-packages|crosswatch|plugins|python3\.\d+)/", r"\1/", line.rstrip())
        for line in lines[start:]
        if line.strip()
    ]


async def one_run(
    folder: Path, plex: EmulatorProcess, trakt: EmulatorProcess, profile_to: Path | None
) -> tuple[SyncReport, dict[str, Any]]:
    host = plugin_host(folder)
    config = load_config(folder, host.sections())
    stamps = Stamps()
    ctx = JobContext(config, host, say=stamps.say)
    pair = find_pair(config, host.providers, PAIR)
    for emu in (plex, trakt):
        emu.control("POST", "/stats/reset")
    profiler = cProfile.Profile() if profile_to else None
    began, began_cpu = time.monotonic(), time.process_time()
    if profiler:
        profiler.enable()
    try:
        with stamped(stamps), GcTimer() as gc_time:
            report = await run_pair(ctx, pair, Options())
    finally:
        if profiler:
            profiler.disable()
    ended, ended_cpu = time.monotonic(), time.process_time()
    plex_stats, trakt_stats = plex.control("GET", "/stats"), trakt.control("GET", "/stats")
    figures: dict[str, Any] = {
        "seconds": round(ended - began, 2),
        "cpu_seconds": round(ended_cpu - began_cpu, 2),
        "engine_seconds": report.seconds,
        "engine_requests": report.requests,
        "requests": plex_stats["total"] + trakt_stats["total"],
        "plex_requests": plex_stats["total"],
        "trakt_requests": trakt_stats["total"],
        "trakt_writes": _writes(trakt_stats),
        "trakt_throttled": trakt_stats.get("throttled", 0),
        "plan": [
            {
                "feature": p.feature.value,
                "read": p.counts,
                **{a: len(getattr(c, a)) for c in p.changes for a in ("add", "update", "remove")},
                "refused": p.refused,
            }
            for p in report.plans
        ],
        "summary": summary_rows(report),
        "ok": report.ok,
        "phases": stamps.phases((began, began_cpu), (ended, ended_cpu)),
        "gc": gc_time.figures(),
        "plex_by_endpoint": endpoints(plex_stats),
        "trakt_by_endpoint": endpoints(trakt_stats),
    }
    times = [w["at"] for w in trakt_stats["writes"] if w["path"].startswith("/sync")]
    if len(times) > 1:
        gaps = [b - a for a, b in pairwise(times)]
        figures["trakt_write_gap_s"] = {"min": round(min(gaps), 3), "mean": round(sum(gaps) / len(gaps), 3)}
    if profiler and profile_to:
        profiler.dump_stats(str(profile_to))
        figures["profile"] = {
            "file": str(profile_to),
            "note": "the event loop's thread only (file and baseline I/O run in worker threads)",
            "top_cumulative": _top(profiler, "cumulative", 30),
            "top_tottime": _top(profiler, "tottime", 15),
        }
    return report, figures


def first_run_figures(figures: dict[str, Any], batch: int, interval: float) -> dict[str, Any]:
    """Writes made against the floor: ceil(items / batch) per feature, one a second."""
    added: Counter[tuple[str, str]] = Counter()
    unresolved: Counter[str] = Counter()
    for row in figures["summary"]:
        added[(row["feature"], row["type"])] += row["added"]
        unresolved[row["feature"]] += row["unresolved"]
    expected = sum(math.ceil((p["add"] + p["update"]) / batch) for p in figures["plan"])
    # the engine sends a feature's adds and its updates in calls of their own
    by_call = sum(math.ceil(p["add"] / batch) + math.ceil(p["update"] / batch) for p in figures["plan"])
    figures["added"] = {f"{feature} {kind}": n for (feature, kind), n in sorted(added.items())}
    figures["added_total"] = sum(added.values())
    figures["unresolved"] = dict(unresolved)
    figures["expected_writes"] = expected
    figures["expected_writes_by_call"] = by_call
    figures["floor_seconds"] = max(0, expected - 1) * interval
    figures["over_floor_seconds"] = round(figures["seconds"] - figures["floor_seconds"], 2)
    return figures


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "sync",
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "latency_ms": args.latency_ms,
        "batch": args.batch,
    }
    plex, trakt = start_emulators(args)
    try:
        result["plex_seeded"] = seed_plex(plex, args.plays, args.ratings, args.watchlist)
        result["trakt_seeded"] = seed_trakt(trakt, args.trakt_keep)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            make_config(folder, plex, trakt, args.batch)
            profiles = Path(args.profile) if args.profile else None
            if profiles:
                profiles.mkdir(parents=True, exist_ok=True)
            _, first = await one_run(folder, plex, trakt, profiles / "run1.prof" if profiles else None)
            result["first_run"] = first_run_figures(first, args.batch, 1.0)
            after = trakt.control("GET", "/state")
            # what Trakt holds against what the run reported: the seeded entries and the adds that took
            result["trakt_after"] = {
                feature: {
                    "held": len(after[feature]),
                    "reported": result["trakt_seeded"][feature]
                    + sum(n for key, n in first["added"].items() if key.startswith(feature + " ")),
                }
                for feature in FEATURES
            }
            _, second = await one_run(folder, plex, trakt, profiles / "run2.prof" if profiles else None)
            result["second_run"] = second
    finally:
        plex.stop()
        trakt.stop()
    first, second = result["first_run"], result["second_run"]
    result["targets"] = {
        "first_run_s<=90": first["seconds"] <= 90,
        "first_run_writes_at_floor": first["trakt_writes"] == first["expected_writes"],
        "second_run_s<=2": second["seconds"] <= 2,
        "second_run_requests<=12": second["requests"] <= 12,
    }
    result["load_average_after"] = list(os.getloadavg())
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--size", type=int, default=2200, help="catalogue titles (2,200 make about 20,000 movies and episodes)"
    )
    parser.add_argument("--plays", type=int, default=50_000)
    parser.add_argument("--ratings", type=int, default=2_000)
    parser.add_argument("--watchlist", type=int, default=300)
    parser.add_argument("--trakt-keep", type=int, default=10, help="seeded watchlist entries and ratings kept on Trakt")
    parser.add_argument("--batch", type=int, default=1000, help="trakt.batch_size (1,000 is the maximum)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--profile", metavar="DIR", help="run under cProfile; write run1.prof and run2.prof here")
    args = parser.parse_args(argv)
    cw_logging.configure("console", "warning")
    result = anyio.run(run, args)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
