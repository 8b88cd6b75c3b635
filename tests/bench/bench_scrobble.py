"""Scrobble benchmark: the Plex webhook endpoint under load, and event-to-Trakt latency.

Run: ``python -m tests.bench.bench_scrobble [--concurrency 1,8,32] [--requests 3000]
[--events 20] [--profile DIR]``; prints JSON. Targets (issue 6):

1. ``POST /webhook/plex/<secret>`` on a real daemon (``crosswatch run``, JSON logs) on
   loopback: >= 500 requests/s with p99 <= 50 ms. The load generator is a process of its own
   (``--load-worker``, started by this one): N httpx ``AsyncClient`` connections (a client
   each; ``--shared-pool``: one client's pool of N, which costs the generator up to 3x the
   CPU), each sending its next request as soon as the answer came (closed loop: the mean
   latency is about N / throughput), over multipart bodies built the way the Plex emulator's
   webhooks are (``Webhooks.payload``; ``media.play``/``pause``/``resume``/``stop`` of many
   sessions, a ``thumb`` JPEG part on play and resume). The daemon's configuration is the
   real one (``scrobble.targets = ["trakt"]``, Trakt writes paced at the default 1 s), so a
   flood fills the router's queue and is dropped and counted by design (in the JSON). CPU of
   the daemon, the generator and everything else on the machine over each measured window
   is in the JSON too: on two cores they compete.
2. Event to Trakt <= 1 s: from ``POST /_emulator/play`` on the Plex emulator (websocket
   watcher path) and from a webhook POST (webhook path) to the Trakt emulator receiving
   ``/scrobble/start|pause|stop``, by timestamps (the Trakt emulator's ``/_emulator/stats``
   ``writes[].at``, the same wall clock). Each event is sent once the previous one reached
   Trakt, and ``--gap-s`` after the previous one at the earliest. An event reaches Trakt with
   the first write after the previous event's that Trakt accepted: a 429 (then retried by the
   daemon) is counted in ``throttled`` and its wait is part of the latency. Writes are paced
   by the daemon at Trakt's one per second, so events closer than that wait for their turn.
   Before this phase the load phase's Trakt writes (another daemon process, whose pace this
   one cannot know) are let out of Trakt's write window.

Both emulators run in their own processes; signing in is ``crosswatch auth plex|trakt``
against them. ``--profile DIR`` also runs one load level against a daemon under cProfile
(its event-loop thread) and puts the top functions in the JSON (times then inflated).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import tomli_w

from tests.bench.bench_core import CROSSWATCH, _cpu_seconds, _rss_mb, machine
from tests.bench.emulator_process import EmulatorProcess
from tests.daemon_proc import DaemonProcess

ROOT = Path(__file__).resolve().parents[2]
SECRET = "bench-webhook-secret"
SEED = 5
# the state sequence of each latency item, with its progress: the router sends start, pause, start, stop
SEQUENCE = [("playing", 0.05), ("paused", 0.40), ("playing", 0.41), ("stopped", 0.95)]
ACTION = {"playing": "start", "paused": "pause", "stopped": "stop"}
TRAKT_WRITE_INTERVAL_S = 1.0  # the daemon's default pace, which write_config keeps


# -- the load generator (its own process) ---------------------------------------------------


def _thumb(kb: float) -> bytes:
    """A JPEG of about ``kb`` KB: the emulator's 1x1 JPEG with a comment segment of filler."""
    from crosswatch_plex.emulator.webhooks import THUMB

    pad = max(0, int(kb * 1024) - len(THUMB) - 4)
    chunks = []
    while pad > 0:
        size = min(pad, 65_000)
        chunks.append(
            b"\xff\xfe" + (size + 2).to_bytes(2, "big") + bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        )
        pad -= size + 4
    return THUMB[:2] + b"".join(chunks) + THUMB[2:]


def _bodies(payloads: list[list[Any]], thumb_kb: float) -> list[tuple[str, bytes]]:
    """Each ``[payload JSON, with thumb]`` as the (content type, body) httpx would send for it."""
    thumb = _thumb(thumb_kb)
    out = []
    for payload, with_thumb in payloads:
        files: dict[str, Any] = {"payload": (None, payload.encode(), "application/json")}
        if with_thumb:
            files["thumb"] = ("thumb.jpg", thumb, "image/jpeg")
        request = httpx.Request("POST", "http://x/", files=files)
        out.append((request.headers["content-type"], request.read()))
    return out


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


async def _blast(
    clients: list[httpx.AsyncClient], url: str, bodies: list[tuple[str, bytes]], count: int
) -> tuple[list[float], Counter[int]]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    nxt = 0

    async def connection(client: httpx.AsyncClient) -> None:
        nonlocal nxt
        while nxt < count:
            kind, body = bodies[nxt % len(bodies)]
            nxt += 1
            began = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers={"content-type": kind})
                statuses[response.status_code] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1  # type: ignore[index]
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(connection(client) for client in clients))
    return latencies, statuses


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    bodies = _bodies(spec["payloads"], spec["thumb_kb"])
    concurrency = spec["concurrency"]
    pid = spec["daemon_pid"]
    if spec.get("shared_pool"):
        # one client, its pool holding the N connections
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        clients = [httpx.AsyncClient(limits=limits, timeout=30)]
        clients *= concurrency
    else:
        # a client per connection: httpx's pool costs the generator far more CPU per request when
        # many requests share it (about 3x at 32 connections), which on two cores starves the daemon
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        clients = [httpx.AsyncClient(limits=limits, timeout=30) for _ in range(concurrency)]
    try:
        await _blast(clients, spec["url"], bodies, spec["warmup"])
        busy0, total0 = _machine_jiffies()
        daemon0, own0 = _cpu_seconds(pid), time.process_time()
        began = time.perf_counter()
        latencies, statuses = await _blast(clients, spec["url"], bodies, spec["requests"])
        elapsed = time.perf_counter() - began
        daemon1, own1 = _cpu_seconds(pid), time.process_time()
        busy1, total1 = _machine_jiffies()
    finally:
        for client in set(clients):
            await client.aclose()
    cores = os.cpu_count() or 1
    machine_cpu = (busy1 - busy0) / max(1, total1 - total0) * 100 * cores  # percent of one core
    daemon_cpu = 100 * (daemon1 - daemon0) / elapsed
    own_cpu = 100 * (own1 - own0) / elapsed
    latencies.sort()
    n = len(latencies)
    return {
        "concurrency": concurrency,
        "clients": len(set(clients)),
        "requests": n,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(n / elapsed, 1),
        "latency_ms": {
            "p50": round(1000 * latencies[n // 2], 2),
            "p90": round(1000 * latencies[min(n - 1, math.ceil(0.90 * n) - 1)], 2),
            "p99": round(1000 * latencies[min(n - 1, math.ceil(0.99 * n) - 1)], 2),
            "max": round(1000 * latencies[-1], 2),
        },
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "body_bytes": {"min": min(len(b) for _, b in bodies), "max": max(len(b) for _, b in bodies)},
        # percents of one core over the measured window
        "daemon_cpu_percent": round(daemon_cpu, 1),
        "daemon_cpu_ms_per_request": round(1000 * (daemon1 - daemon0) / n, 3),
        # what the daemon could answer with a core of its own, at that cost per request
        "daemon_one_core_rps": round(n / max(daemon1 - daemon0, 1e-9), 0),
        "generator_cpu_ms_per_request": round(1000 * (own1 - own0) / n, 3),
        "generator_cpu_percent": round(own_cpu, 1),
        "machine_cpu_percent": round(machine_cpu, 1),
        "other_processes_cpu_percent": round(max(0.0, machine_cpu - daemon_cpu - own_cpu), 1),
    }


def load_worker(spec_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text())
    print(json.dumps(asyncio.run(_load(spec))), flush=True)


def run_load(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """One load level in a generator process of its own; its JSON result."""
    path = folder / f"load-{spec['concurrency']}.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_scrobble", "--load-worker", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- payloads ---------------------------------------------------------------------------------


class Payloads:
    """Webhook payloads of the emulator's catalogue, made by its own ``Webhooks.payload``.

    The emulator is built here (same seed and size as the served one, so the same
    ratingKeys and ids) but never served.
    """

    def __init__(self, size: int) -> None:
        from crosswatch_plex.emulator import PlexEmulator

        self.emu = PlexEmulator(seed=SEED, size=size)
        self.owner = self.emu.state.owner.id
        lib = self.emu.library
        # titles with external ids (the modern agent), which Trakt can resolve
        self.media = [m for m in lib.media if m.kind in ("movie", "episode") and lib.guids(m)]

    def rating_key(self, media: Any) -> str:
        return str(self.emu.library.rk(media))

    def payload(self, event: str, media: Any, progress: float, player: str) -> str:
        offset = int(progress * (self.emu.library.duration_ms(media) or 0))
        who = SimpleNamespace(product="Plex Web", client_id=player)
        return json.dumps(self.emu.webhooks.payload(event, self.owner, media, offset, who))

    def load_mix(self, sessions: int) -> list[list[Any]]:
        """play, pause, resume, stop of ``sessions`` sessions, interleaved; thumbs on play and resume."""
        steps = [("media.play", 0.02, True), ("media.pause", 0.3, False), ("media.resume", 0.3, True)]
        steps.append(("media.stop", 0.5, False))
        out = []
        for event, progress, thumb in steps:
            for n in range(sessions):
                media = self.media[n % len(self.media)]
                out.append([self.payload(event, media, progress, f"load-player-{n}"), thumb])
        return out


# -- set-up: emulators, sign-in, daemon -----------------------------------------------------------


def start_emulators(size: int, latency_ms: float) -> tuple[EmulatorProcess, EmulatorProcess]:
    common = ["--seed", str(SEED), "--size", str(size), "--latency-ms", str(latency_ms)]
    plex = EmulatorProcess("crosswatch_plex.emulator", "plex", "metadata_url", *common, "--approve-after-polls", "0")
    try:
        trakt = EmulatorProcess(
            "crosswatch_trakt.emulator",
            "trakt",
            "auth_url",
            *common,
            "--plays",
            "0",
            "--interval",
            "0",
            "--approve-after-polls",
            "0",
        )
    except BaseException:
        plex.stop()
        raise
    return plex, trakt


def sign_in(folder: Path, plex: EmulatorProcess, trakt: EmulatorProcess) -> dict[str, float]:
    """``crosswatch auth plex`` and ``auth trakt`` against the emulators (they approve by themselves)."""
    write_config(folder, plex, trakt, watcher=False)
    took = {}
    for provider in ("plex", "trakt"):
        began = time.monotonic()
        done = subprocess.run(
            [CROSSWATCH, "--config-dir", str(folder), "auth", provider], capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"crosswatch auth {provider} failed:\n{done.stdout}\n{done.stderr}")
        took[provider] = round(time.monotonic() - began, 2)
    return took


def write_config(folder: Path, plex: EmulatorProcess, trakt: EmulatorProcess, *, watcher: bool) -> None:
    config = {
        "daemon": {"listen": "127.0.0.1:0"},
        "log": {"format": "json"},
        "plex": plex.config,
        "trakt": trakt.config,  # write_interval_s: the default, 1.0
        "scrobble": {
            "targets": ["trakt"],
            "webhook": {"enabled": True, "secret": SECRET},
            "watcher": {"enabled": watcher},
        },
    }
    (folder / "config.toml").write_text(tomli_w.dumps(config))


# cProfile of the daemon's main thread on its CPU clock (a wall clock would charge the time the
# process waits for a core, on a busy two-core machine, to whatever C call it was in)
PROFILED = """
import cProfile, runpy, sys, time
out, sys.argv = sys.argv[1], sys.argv[2:]
profile = cProfile.Profile(time.thread_time)
try:
    profile.runcall(runpy.run_path, sys.argv[0], run_name="__main__")
except SystemExit:
    pass
finally:
    profile.dump_stats(out)
"""


class ProfiledDaemon(DaemonProcess):
    """A daemon whose main thread (the event loop) runs under cProfile, dumped at its clean exit."""

    def __init__(self, config_dir: Path, out: Path, backend: str = "asyncio") -> None:
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROFILED, str(out), CROSSWATCH]
            + ["--config-dir", str(config_dir), "--log-format", "json", "run", "--backend", backend],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


def _top(path: Path, order: str, count: int) -> list[str]:
    out = io.StringIO()
    pstats.Stats(str(path), stream=out).sort_stats(order).print_stats(count)
    lines = out.getvalue().splitlines()
    start = next((n for n, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return [
        re.sub(r"\S*/(site-packages|crosswatch|plugins|python3\.\d+)/", r"\1/", line.rstrip())
        for line in lines[start:]
        if line.strip()
    ]


# -- phase 1: the webhook endpoint under load ----------------------------------------------------


def bench_webhook(folder: Path, args: argparse.Namespace, payloads: Payloads) -> dict[str, Any]:
    mix = payloads.load_mix(args.sessions)
    levels = [int(c) for c in args.concurrency.split(",")]
    daemon = DaemonProcess(folder, args.backend)
    try:
        ready = daemon.wait_for("daemon.ready", timeout=30)
        url = f"http://{ready['listen']}/webhook/plex/{SECRET}"
        runs = []
        for concurrency in levels:
            spec = {
                "url": url,
                "payloads": mix,
                "thumb_kb": args.thumb_kb,
                "concurrency": concurrency,
                "requests": args.requests,
                "warmup": args.warmup,
                "daemon_pid": daemon.proc.pid,
                "shared_pool": args.shared_pool,
            }
            figures = run_load(spec, folder)
            figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            runs.append(figures)
        health = daemon.health()
        rss = _rss_mb(daemon.proc.pid)
    finally:
        daemon.stop(timeout=20)
    out: dict[str, Any] = {
        "url": "POST /webhook/plex/<secret>",
        "payload_events": sorted({json.loads(p)["event"] for p, _ in mix}),
        "distinct_bodies": len(mix),
        "thumb_kb": args.thumb_kb,
        "warmup_requests_per_level": args.warmup,
        "runs": runs,
        "daemon_rss_mb_after": round(rss, 1),
        "daemon_scrobble_stats": health.get("scrobble"),
        "daemon_bus": health.get("bus"),
    }
    if args.profile:
        out["profile"] = profile_webhook(folder, args, mix, Path(args.profile))
    return out


def profile_webhook(folder: Path, args: argparse.Namespace, mix: list[list[Any]], where: Path) -> dict[str, Any]:
    where.mkdir(parents=True, exist_ok=True)
    out = where / "webhook_daemon.prof"
    concurrency = int(args.concurrency.split(",")[-1])
    daemon = ProfiledDaemon(folder, out, args.backend)
    try:
        ready = daemon.wait_for("daemon.ready", timeout=60)
        spec = {
            "url": f"http://{ready['listen']}/webhook/plex/{SECRET}",
            "payloads": mix,
            "thumb_kb": args.thumb_kb,
            "concurrency": concurrency,
            "requests": args.requests,
            "warmup": args.warmup,
            "daemon_pid": daemon.proc.pid,
            "shared_pool": args.shared_pool,
        }
        figures = run_load(spec, folder)
    finally:
        daemon.stop(timeout=30)
    return {
        "file": str(out),
        "note": "daemon under cProfile on its main thread's CPU clock, start-up included; times are inflated",
        "run": figures,
        "top_cumulative": _top(out, "cumulative", 45),
        "top_tottime": _top(out, "tottime", 25),
    }


# -- phase 2: event to Trakt ---------------------------------------------------------------------


def _scrobbles(ctl: httpx.Client, trakt: EmulatorProcess) -> list[dict[str, Any]]:
    stats = ctl.get(trakt.url + "/_emulator/stats").raise_for_status().json()
    return [w for w in stats["writes"] if w["path"].startswith("/scrobble/")]


def _arrival(ctl: httpx.Client, trakt: EmulatorProcess, seen: int, timeout: float) -> tuple[int, dict[str, Any]] | None:
    """(index, write) of the first scrobble Trakt took from index ``seen`` on; None: none came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        writes = _scrobbles(ctl, trakt)
        for index in range(seen, len(writes)):
            if writes[index]["status"] != 429:  # a 429 is sent again by the daemon after Retry-After
                return index, writes[index]
        time.sleep(0.02)
    return None


def _let_writes_age_out(ctl: httpx.Client, trakt: EmulatorProcess, interval: float) -> None:
    """Wait until Trakt's write window no longer holds another process's last scrobble."""
    writes = _scrobbles(ctl, trakt)
    if writes:
        time.sleep(max(0.0, writes[-1]["at"] + interval + 0.1 - time.time()))


def _summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    got = [s["latency_ms"] for s in samples if s["latency_ms"] is not None]
    acks = [s["ack_ms"] for s in samples]
    by_action: dict[str, list[float]] = {}
    for s in samples:
        if s["latency_ms"] is not None:
            by_action.setdefault(s["expected"], []).append(s["latency_ms"])
    return {
        "events": len(samples),
        "arrived": len(got),
        "wrong_action": sum(1 for s in samples if s["path"] and not s["path"].endswith("/" + s["expected"])),
        "throttled": sum(s["throttled"] for s in samples),
        "latency_ms": {
            "p50": round(statistics.median(got), 1) if got else None,
            "max": round(max(got), 1) if got else None,
            "min": round(min(got), 1) if got else None,
        },
        "sender_answered_ms": {"p50": round(statistics.median(acks), 1), "max": round(max(acks), 1)},
        "by_action_ms": {
            a: {"p50": round(statistics.median(v), 1), "max": round(max(v), 1)} for a, v in by_action.items()
        },
        "trakt_statuses": dict(Counter(str(s["status"]) for s in samples)),
    }


def bench_latency(
    folder: Path, args: argparse.Namespace, payloads: Payloads, plex: EmulatorProcess, trakt: EmulatorProcess
) -> dict[str, Any]:
    per_item = len(SEQUENCE)
    items = math.ceil(args.events / per_item)
    pool = payloads.media
    if len(pool) < 2 * items:
        raise RuntimeError(f"the catalogue has {len(pool)} titles with ids; {2 * items} are needed (raise --size)")
    watcher_items, webhook_items = pool[-items:], pool[-2 * items : -items]  # load used the front of the list
    write_config(folder, plex, trakt, watcher=True)
    daemon = DaemonProcess(folder, args.backend)
    results: dict[str, Any] = {}
    # one client for the controls: a new one per call costs tens of ms (its TLS context) before sending
    ctl = httpx.Client(timeout=30)
    try:
        ready = daemon.wait_for("daemon.ready", timeout=60)
        daemon.wait_for("plex.watcher_connected", timeout=60)
        hook = f"http://{ready['listen']}/webhook/plex/{SECRET}"
        _let_writes_age_out(ctl, trakt, TRAKT_WRITE_INTERVAL_S)
        trakt.control("POST", "/stats/reset")
        ctl.get(plex.url + "/_emulator").raise_for_status()  # the connections are open before the first event
        seen = 0

        def measure(send: Any, samples: list[dict[str, Any]], expected: str) -> None:
            nonlocal seen
            began = time.monotonic()
            sent = time.time()
            send()
            answered = time.time()
            found = _arrival(ctl, trakt, seen, args.timeout_s)
            index, write = found if found is not None else (seen, None)
            throttled, seen = index - seen, (index + 1 if write else seen)
            samples.append(
                {
                    "expected": expected,
                    "latency_ms": round(1000 * (write["at"] - sent), 1) if write else None,
                    "ack_ms": round(1000 * (answered - sent), 1),
                    "path": write["path"] if write else None,
                    "status": write["status"] if write else None,
                    "throttled": throttled,  # 429s before Trakt took it
                }
            )
            time.sleep(max(0.0, began + args.gap_s - time.monotonic()))

        watcher: list[dict[str, Any]] = []
        play = plex.url + "/_emulator/play"
        for media in watcher_items:
            key = payloads.rating_key(media)
            for state, progress in SEQUENCE:
                if len(watcher) == args.events:
                    break
                body = {"ratingKey": key, "states": [state], "progress": progress, "clientIdentifier": "bench-tv"}
                measure(lambda body=body: ctl.post(play, json=body).raise_for_status(), watcher, ACTION[state])
        results["watcher"] = {"path": "POST /_emulator/play -> websocket frame -> watcher -> router -> Trakt"}
        results["watcher"] |= _summary(watcher)

        webhook: list[dict[str, Any]] = []
        events = {"playing": "media.play", "paused": "media.pause", "stopped": "media.scrobble"}
        with httpx.Client(timeout=10) as client:
            client.get(f"http://{ready['listen']}/healthz")  # the connection is open before the first event
            for n, media in enumerate(webhook_items):
                resumed = False
                for state, progress in SEQUENCE:
                    if len(webhook) == args.events:
                        break
                    event = "media.resume" if state == "playing" and resumed else events[state]
                    resumed = resumed or state == "paused"
                    files: dict[str, Any] = {"payload": (None, payloads.payload(event, media, progress, f"bench-{n}"))}
                    if event in ("media.play", "media.resume", "media.scrobble"):
                        files["thumb"] = ("thumb.jpg", _thumb(args.thumb_kb), "image/jpeg")

                    def post(files: dict[str, Any] = files) -> None:
                        client.post(hook, files=files).raise_for_status()

                    measure(post, webhook, ACTION[state])
        results["webhook"] = {"path": "webhook POST -> router -> Trakt"} | _summary(webhook)
        results["samples_ms"] = {
            "watcher": [s["latency_ms"] for s in watcher],
            "webhook": [s["latency_ms"] for s in webhook],
        }
        forwarded = daemon.events("scrobble.forwarded")
        results["daemon_forwarded"] = len(forwarded)
        results["daemon_scrobble_stats"] = daemon.health().get("scrobble")
    finally:
        ctl.close()
        daemon.stop(timeout=20)
    results["gap_s"] = args.gap_s
    results["trakt_write_interval_s"] = TRAKT_WRITE_INTERVAL_S
    return results


# -- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", default="1,8,32", help="load levels: concurrent connections, comma-separated")
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per level")
    parser.add_argument("--warmup", type=int, default=300, help="requests before measuring, per level")
    parser.add_argument("--sessions", type=int, default=50, help="play sessions the load's payloads cycle over")
    parser.add_argument(
        "--shared-pool", action="store_true", help="one httpx client for all connections (default: one per connection)"
    )
    parser.add_argument("--thumb-kb", type=float, default=16.0, help="size of the thumb JPEG of play/resume events")
    parser.add_argument("--events", type=int, default=20, help="latency events per path")
    parser.add_argument("--gap-s", type=float, default=1.25, help="seconds between latency events")
    parser.add_argument("--timeout-s", type=float, default=10.0, help="wait this long for Trakt to get an event")
    parser.add_argument("--size", type=int, default=60, help="catalogue titles of both emulators")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added latency of both emulators")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--skip", choices=["load", "latency"], action="append", default=[])
    parser.add_argument("--profile", metavar="DIR", help="also profile one load level of a daemon under cProfile")
    parser.add_argument("--load-worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_worker:
        load_worker(args.load_worker)
        return {}
    result: dict[str, Any] = {
        "benchmark": "scrobble",
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "backend": args.backend,
        "emulator_latency_ms": args.latency_ms,
    }
    payloads = Payloads(args.size)
    plex, trakt = start_emulators(args.size, args.latency_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            result["sign_in_s"] = sign_in(folder, plex, trakt)
            if "load" not in args.skip:
                write_config(folder, plex, trakt, watcher=False)
                result["webhook_load"] = bench_webhook(folder, args, payloads)
            if "latency" not in args.skip:
                result["event_to_trakt"] = bench_latency(folder, args, payloads, plex, trakt)
    finally:
        plex.stop()
        trakt.stop()
    targets: dict[str, Any] = {}
    for run in result.get("webhook_load", {}).get("runs", []):
        c = run["concurrency"]
        targets[f"webhook_c{c}_rps>=500"] = run["requests_per_s"] >= 500
        targets[f"webhook_c{c}_p99<=50ms"] = run["latency_ms"]["p99"] <= 50
    for path in ("watcher", "webhook"):
        figures = result.get("event_to_trakt", {}).get(path)
        if figures:
            worst = figures["latency_ms"]["max"]
            targets[f"{path}_to_trakt_max<=1s"] = (
                figures["arrived"] == figures["events"] and worst is not None and worst <= 1000
            )
    result["targets"] = targets
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
