"""Captures benchmark: writing a 100,000-play capture, comparing two, listing 1,000.

Run: ``python -m tests.bench.bench_captures [--size 100000] [--captures 1000] [--repeat 3]``;
prints JSON. Targets (the captures issue), on a 2-core machine: creating a capture of 100,000 history
items beyond the provider read (``write_captures``: hooks, encode, fsync, the check read)
<= 1 s with a peak RSS <= 300 MB; comparing two 100,000-item captures <= 1 s; listing 1,000
captures (``CaptureStore.refs`` and ``crosswatch capture list --json``) <= 0.5 s.

The items are made the way the Trakt adapter makes them: Trakt API JSON, decoded and parsed
by ``crosswatch_trakt.mapping.parse_list``, so each play owns its dicts and strings. The
create figures come from fresh subprocesses (``--child-create``) whose peak RSS is reset
(``/proc/self/clear_refs``) once the items are built, so only what holds the items and what
the write adds counts, not the making of them. ``--profile`` adds cProfile's top functions.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import pstats
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import msgspec

from crosswatch import logging as cw_logging
from crosswatch.captures.format import ALL, Capture, ChildRef, decode, decode_header, encode, stats_of
from crosswatch.captures.store import CaptureStore, iso
from crosswatch.config import load_config
from crosswatch.jobs import JobContext
from crosswatch.model import Feature, Item
from crosswatch.plugins import PluginHost
from crosswatch.profiles import resolve_profile
from crosswatch_trakt.mapping import parse_list
from tests.bench.bench_core import CROSSWATCH, machine

ROOT = Path(__file__).resolve().parents[2]
_TITLE_WORDS = (
    "night city last dark river house lost star king road blue secret war love dead fire iron "
    "winter summer ghost storm black silent golden empire shadow heart wild stone glass hidden"
)
WORDS = _TITLE_WORDS.split()
BASE = 1_420_000_000  # 2015-01-01: plays spread over the years since


# -- realistic Trakt items -------------------------------------------------------------------


def _title(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(1, 4)))


def _slug(title: str, n: int) -> str:
    return f"{title.lower().replace(' ', '-')}-{n}"


def catalogue(rng: random.Random, movies: int, episodes: int, first: int = 0) -> list[dict[str, Any]]:
    """Trakt media objects: ``movies`` movies, then shows' episodes until ``episodes``; ids from ``first``."""
    out: list[dict[str, Any]] = []
    for n in range(first, first + movies):
        title = _title(rng)
        out.append(
            {
                "type": "movie",
                "movie": {
                    "title": title,
                    "year": rng.randint(1950, 2024),
                    "runtime": rng.randint(80, 180),
                    "ids": {
                        "trakt": 10_000 + n,
                        "slug": _slug(title, n),
                        "imdb": f"tt{1_000_000 + n:07d}",
                        "tmdb": 500 + n,
                    },
                },
            }
        )
    show_n = made = first
    while made < first + episodes:
        title = _title(rng)
        show = {
            "title": title,
            "year": rng.randint(1980, 2024),
            "ids": {
                "trakt": 900_000 + show_n,
                "slug": _slug(title, show_n),
                "imdb": f"tt{5_000_000 + show_n:07d}",
                "tmdb": 70_000 + show_n,
                "tvdb": 300_000 + show_n,
            },
        }
        show_n += 1
        for season in range(1, rng.randint(1, 8) + 1):
            for number in range(1, rng.randint(6, 22) + 1):
                if made == first + episodes:
                    break
                out.append(
                    {
                        "type": "episode",
                        "show": show,
                        "episode": {
                            "season": season,
                            "number": number,
                            "title": _title(rng),
                            "runtime": rng.randint(20, 60),
                            "ids": {
                                "trakt": 3_000_000 + made,
                                "imdb": f"tt{8_000_000 + made:07d}",
                                "tmdb": 1_000_000 + made,
                                "tvdb": 6_000_000 + made,
                            },
                        },
                    }
                )
                made += 1
    return out


def _stamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))


def _parsed(entries: list[dict[str, Any]]) -> list[Item]:
    """Entries through JSON and the Trakt adapter's parser, a page at a time (as a read does)."""
    items: list[Item] = []
    for start in range(0, len(entries), 1000):
        page, skipped = parse_list(msgspec.json.decode(msgspec.json.encode(entries[start : start + 1000])))
        assert not skipped
        items.extend(page)
    return items


def history_plays(size: int, seed: int = 7) -> list[Item]:
    """``size`` Trakt history plays: about a third movies, the rest episodes, rewatches included."""
    rng = random.Random(seed)
    titles = catalogue(rng, max(20, size // 25), max(40, size // 6))
    span = 10 * 365 * 86_400
    times = sorted(rng.randrange(BASE, BASE + span) for _ in range(size))
    movies = [t for t in titles if t["type"] == "movie"]
    episodes = [t for t in titles if t["type"] == "episode"]
    entries = []
    for n, when in enumerate(times):
        media = rng.choice(movies) if rng.random() < 0.35 else rng.choice(episodes)
        entries.append({"id": 1 + n, "watched_at": _stamp(when), "action": "watch", **media})
    return _parsed(entries)


def rated_titles(size: int, seed: int = 8, first: int = 0) -> list[Item]:
    """``size`` distinct rated titles (ratings 1-10), 30 % movies, ids from ``first``."""
    rng = random.Random(seed)
    titles = catalogue(rng, size * 3 // 10, size - size * 3 // 10, first)
    return _parsed(
        [
            {"rated_at": _stamp(BASE + rng.randrange(10 * 365 * 86_400)), "rating": rng.randint(1, 10), **t}
            for t in titles
        ]
    )


# -- context -----------------------------------------------------------------------------------


def make_context(folder: Path) -> JobContext:
    host = PluginHost(None)
    host.load()
    return JobContext(load_config(folder, host.sections()), host)


def _rss_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(match[1]) if match else 0


def _reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM and ru_maxrss) to its current RSS; False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _top(*profilers: cProfile.Profile, count: int = 15) -> list[dict[str, Any]]:
    """The functions with the most own time, over every thread's profiler given."""
    stats = pstats.Stats(*profilers)
    rows = []
    for (file, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = file if file.startswith("~") else f"{Path(file).name}:{line}"
        rows.append(
            {"function": f"{where}({name})", "calls": calls, "tottime": round(tottime, 3), "cumtime": round(cumtime, 3)}
        )
    rows = [r for r in rows if "select.epoll" not in r["function"]]  # the loop waiting on a worker thread
    return sorted(rows, key=lambda r: -r["tottime"])[:count]


# -- (1) create ------------------------------------------------------------------------------


class _ProfiledContext(JobContext):
    """A context whose store writes under a second profiler: ``store.write`` runs in a worker thread."""

    worker: cProfile.Profile | None = None

    @property
    def store(self) -> CaptureStore:
        return _ProfiledStore(self.config.config_dir, self.worker)


class _ProfiledStore(CaptureStore):
    def __init__(self, config_dir: Path, profiler: cProfile.Profile | None) -> None:
        super().__init__(config_dir)
        self.profiler = profiler

    def write(self, capture: Capture, created: datetime, n: int = 1) -> Any:
        if self.profiler is None:
            return super().write(capture, created, n)
        self.profiler.enable()
        try:
            return super().write(capture, created, n)
        finally:
            self.profiler.disable()


def child_create(size: int, profile: bool) -> dict[str, Any]:
    """In a fresh process: make ``size`` plays as a read would, then time ``write_captures``."""
    from crosswatch.captures.create import write_captures

    cw_logging.configure("console", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        host = PluginHost(None)
        host.load()
        ctx = _ProfiledContext(load_config(Path(tmp), host.sections()), host)
        target = resolve_profile(ctx.config, ctx.host.providers, "trakt")
        plays = history_plays(size)
        gc.collect()
        items_rss = _rss_kb("VmRSS")
        reset = _reset_peak()
        main_profiler = cProfile.Profile() if profile else None
        ctx.worker = cProfile.Profile() if profile else None

        async def timed() -> tuple[float, Path, int]:
            if main_profiler:
                main_profiler.enable()
            began = time.perf_counter()
            written = await write_captures(ctx, target, "history", {Feature.HISTORY: plays})
            took = time.perf_counter() - began
            if main_profiler:
                main_profiler.disable()
            assert written[0].header is not None
            return took, written[0].path, written[0].header.stats.count

        took, path, count = anyio.run(timed)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert count == size, (count, size)
        file_bytes = path.stat().st_size
        worker, ctx.worker = ctx.worker, None
        # as `crosswatch capture create` runs it: anyio.run returns the written CaptureRefs
        began = time.perf_counter()
        anyio.run(lambda: write_captures(ctx, target, "history", {Feature.HISTORY: plays}))
        as_command = time.perf_counter() - began
        capture = Capture(provider="TRAKT", feature="history", created=iso(datetime.now(UTC)), items=plays)
        data, _ = encode(capture)
        parts = {}
        for name, work in (
            ("encode", lambda: encode(capture)),
            ("decode_and_checksum", lambda: decode(data, "bench")),
            ("fsync_write", lambda: _fsync_write(Path(tmp) / "copy.json", data)),
        ):
            began = time.perf_counter()
            work()
            parts[name] = round(time.perf_counter() - began, 3)
    result: dict[str, Any] = {
        "items": size,
        "seconds": round(took, 3),
        "command_style_s": round(as_command, 3),
        "file_mb": round(file_bytes / 2**20, 1),
        "items_rss_mb": round(items_rss / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "write_adds_mb": round((peak - items_rss) / 1024, 1),
        "peak_reset_after_items": reset,
        "parts_s": parts,
    }
    if main_profiler and worker:
        result["profile"] = _top(main_profiler, worker)
    return result


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def bench_create(size: int, repeat: int, profile: bool) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        args = [sys.executable, "-m", "tests.bench.bench_captures", "--child-create", "--size", str(size)]
        out = subprocess.run(args + (["--profile"] if profile else []), cwd=ROOT, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"create child failed:\n{out.stderr}")
        runs.append(json.loads(out.stdout))

    def spread(key: str) -> dict[str, float]:
        values = [r[key] for r in runs]
        return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}

    result = {
        **{k: v for k, v in runs[0].items() if k not in ("seconds", "command_style_s", "peak_rss_mb", "profile")},
        "seconds": spread("seconds"),
        "command_style_s": spread("command_style_s"),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "parts_s": runs[-1]["parts_s"],
    }
    if profile:
        result["profile"] = runs[-1]["profile"]
    return result


# -- (2) compare -----------------------------------------------------------------------------


def _write(store: CaptureStore, provider: str, feature: str, items: list[Item], created: datetime) -> str:
    capture = Capture(provider=provider, feature=feature, created=iso(created), stats=stats_of(items), items=items)
    return store.write(capture, created).rel


def _timed(work: Any, repeat: int, profile: bool) -> tuple[dict[str, float], Any, Any]:
    times, result, profiler = [], None, None
    for n in range(repeat):
        if profile and n == repeat - 1:
            profiler = cProfile.Profile()
            profiler.enable()
        result = None  # the last result is not kept alive while the next run works
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
        if profiler:
            profiler.disable()
    return {"median": round(statistics.median(times), 3), "max": round(max(times), 3)}, result, profiler


def _compare_files(store: CaptureStore, size: int) -> tuple[dict[str, Any], dict[str, tuple]]:
    """Write the pairs of captures to compare; returns the changes made and, per case,
    (feature, a name, b name, b's item count, the expected (added, removed, updated) or None).
    """
    day = datetime(2025, 6, 1, 3, tzinfo=UTC)
    removed_n, added_n, changed_n = size // 50, size * 3 // 100, size * 3 // 100
    rng = random.Random(3)
    cases: dict[str, tuple] = {}

    plays = history_plays(size)
    gone = set(rng.sample(range(size), removed_n))
    kept = [p for n, p in enumerate(plays) if n not in gone]
    # the new plays, later than all others, are of titles already in the history (rewatches)
    after = BASE + 10 * 365 * 86_400
    fresh = [
        msgspec.structs.replace(
            plays[rng.randrange(size)],
            watched_at=_stamp(after + rng.randrange(30 * 86_400)),
            extra={"id": 10_000_000 + n, "action": "watch"},
        )
        for n in range(added_n)
    ]
    for name, provider, expected in (
        ("history", "TRAKT", (added_n, removed_n, 0)),  # Trakt keeps play times: plays compared by time
        ("history_plex_counts", "PLEX", None),  # Plex records "now": plays compared by count per title
    ):
        a = _write(store, provider, "history", plays, day)
        b = _write(store, provider, "history", kept + fresh, day + timedelta(days=1))
        cases[name] = ("history", a, b, len(kept) + len(fresh), expected)
    del plays, kept, fresh

    rated = rated_titles(size)
    changed = set(rng.sample(range(size), changed_n))
    dropped = set(rng.sample(sorted(set(range(size)) - changed), removed_n))
    rerated = [
        msgspec.structs.replace(r, rating=r.rating % 10 + 1) if n in changed else r
        for n, r in enumerate(rated)
        if n not in dropped
    ]
    rerated += rated_titles(added_n, seed=10, first=10 * size)  # titles rated since: ids unlike the others
    a = _write(store, "TRAKT", "ratings", rated, day)
    b = _write(store, "TRAKT", "ratings", rerated, day + timedelta(days=1))
    cases["ratings"] = ("ratings", a, b, len(rerated), (added_n, removed_n, changed_n))
    return {"added": added_n, "removed": removed_n, "rerated": changed_n}, cases


def bench_compare(ctx: JobContext, size: int, repeat: int, profile: bool) -> dict[str, Any]:
    from crosswatch.captures.compare import compare_captures, diff_items
    from crosswatch.cli import main as cli_main

    store = ctx.store
    changes, cases = _compare_files(store, size)
    gc.collect()  # the items made for the files are gone: time with what a compare holds
    out: dict[str, Any] = {"items": size, "changes": changes}
    for name, (feature, a, b, b_items, expected) in cases.items():
        figures, report, profiler = _timed(lambda a=a, b=b: compare_captures(ctx, a, b), repeat, profile)
        diff = report.features[0]
        got = (len(diff.added), len(diff.removed), len(diff.updated))
        del report, diff
        if expected is not None:
            assert got == expected, (name, got, expected)
        load, _, _ = _timed(lambda a=a: store.load(a), repeat, False)
        one, two = store.load(a), store.load(b)
        kind = Feature(feature)
        only, _, _ = _timed(
            lambda kind=kind, one=one, two=two: diff_items(ctx, kind, one.provider, one.items, two.items), repeat, False
        )
        del one, two
        out[name] = {
            "b_items": b_items,
            "seconds": figures,
            "load_one_s": load["median"],
            "diff_only_s": only["median"],
            "added": got[0],
            "removed": got[1],
            "updated": got[2],
        }
        if name == "history":
            args = ["--config-dir", str(ctx.config.config_dir), "capture", "compare", a, b, "--json", "--summary"]
            out[name]["command_summary_json_s"] = _timed(lambda args=args: _quiet(cli_main, args), repeat, False)[0]
        if profiler:
            out[name]["profile"] = _top(profiler)
    return out


def _quiet(func: Any, *args: Any) -> Any:
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        code = func(*args)
    assert code == 0, code
    return sink.getvalue()


# -- (3) list --------------------------------------------------------------------------------


def fill_store(store: CaptureStore, captures: int, size: int, seed: int = 5) -> dict[str, int]:
    """``captures`` files as a year of use leaves them: nightly ``all`` bundles (a bundle and
    four children each) and manual single-feature captures; history children hold thousands of plays.
    """
    rng = random.Random(seed)
    plays = history_plays(max(size // 20, 10))
    rated = rated_titles(max(size // 60, 10))
    pools = {
        Feature.WATCHLIST: [
            msgspec.structs.replace(r, rating=None, rated_at=None, listed_at=r.rated_at)
            for r in rated[: max(size // 300, 3)]
        ],
        Feature.RATINGS: rated,
        Feature.HISTORY: plays,
        Feature.PROGRESS: [
            msgspec.structs.replace(p, watched_at=None, progress=42.0, paused_at=p.watched_at)
            for p in plays[: max(size // 2500, 2)]
        ],
    }
    start = datetime(2025, 1, 1, tzinfo=UTC)
    files = manual = bundles = 0

    def put(capture: Capture, created: datetime) -> str:
        nonlocal files
        data, _ = encode(capture)
        path = store.name_for(capture, created)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files += 1
        header = decode_header(data.split(b"\n", 1)[0], path.name)
        assert header is not None
        return header.sha256

    day = 0
    while files < captures:
        created = start + timedelta(days=day, hours=3)
        if captures - files >= 5 and rng.random() < 0.8:
            refs = []
            for feature, pool in pools.items():
                items = pool[: rng.randint(len(pool) * 9 // 10, len(pool))]
                child = Capture(
                    provider="TRAKT",
                    feature=str(feature),
                    created=iso(created),
                    type="auto",
                    schedule="nightly",
                    stats=stats_of(items),
                    items=items,
                )
                sha = put(child, created)
                path = store.rel(store.name_for(child, created))
                refs.append(ChildRef(feature=str(feature), path=path, sha256=sha, count=len(items)))
            put(
                Capture(
                    provider="TRAKT",
                    feature=ALL,
                    created=iso(created),
                    type="auto",
                    schedule="nightly",
                    stats=stats_of([i for p in pools.values() for i in p]),
                    children=refs,
                ),
                created,
            )
            bundles += 1
        if files < captures and rng.random() < 0.6:
            feature = rng.choice(list(pools))
            items = pools[feature][: rng.randint(1, len(pools[feature]))]
            when = created + timedelta(hours=rng.randint(1, 20), seconds=rng.randint(0, 3599))
            put(
                Capture(
                    provider=rng.choice(["TRAKT", "PLEX"]),
                    feature=str(feature),
                    created=iso(when),
                    label=rng.choice(["", "", "before cleanup", "pre-restore", "test"]),
                    stats=stats_of(items),
                    items=items,
                ),
                when,
            )
            manual += 1
        day += 1
    return {"files": files, "bundles": bundles, "manual": manual, "days": day}


def bench_list(folder: Path, captures: int, size: int, repeat: int, profile: bool) -> dict[str, Any]:
    from crosswatch.cli import main as cli_main

    store = CaptureStore(folder)
    made = fill_store(store, captures, size)
    on_disk = sum(p.stat().st_size for p in store.root.rglob("*.json"))
    figures, refs, profiler = _timed(store.refs, repeat, profile)
    assert len(refs) == made["files"] and all(r.header is not None for r in refs)
    args = ["--config-dir", str(folder), "capture", "list", "--json"]
    command, text, _ = _timed(lambda: _quiet(cli_main, args), repeat, False)
    assert len(json.loads(text)) == made["bundles"] + made["manual"]
    process = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run([CROSSWATCH, *args], stdout=subprocess.DEVNULL, check=True)
        process.append(time.perf_counter() - began)
    out = {
        **made,
        "disk_mb": round(on_disk / 2**20, 1),
        "store_list_s": figures,
        "command_list_json_s": command,
        "process_list_json_s": {"median": round(statistics.median(process), 3), "max": round(max(process), 3)},
    }
    if profiler:
        out["profile"] = _top(profiler)
    return out


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000, help="items of the created and compared captures")
    parser.add_argument("--captures", type=int, default=1000, help="capture files to list")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="add cProfile's top functions per figure")
    parser.add_argument("--child-create", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_create:
        result = child_create(args.size, args.profile)
        print(json.dumps(result))
        return result
    cw_logging.configure("console", "warning")
    result: dict[str, Any] = {"benchmark": "captures", "machine": machine()}
    result["create"] = bench_create(args.size, args.repeat, args.profile)
    with tempfile.TemporaryDirectory() as tmp:
        result["compare"] = bench_compare(make_context(Path(tmp)), args.size, args.repeat, args.profile)
    with tempfile.TemporaryDirectory() as tmp:
        result["list"] = bench_list(Path(tmp), args.captures, args.size, args.repeat, args.profile)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
