"""``GET /metrics``: what a Prometheus scrape of the daemon shows, parsed with prometheus_client's own parser.

The end-to-end test runs the real daemon against the Plex and Trakt emulators, runs a pair's job
through ``POST /jobs/<job>/run`` and compares the scrape with what the emulators saw and what
the run history holds. The in-process tests build the daemon's metrics on config directories
of their own (several in one process, as a test suite does) and record jobs the way every
job is recorded (``crosswatch.recording.recorded``).
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from crosswatch.bus import EventBus
from crosswatch.captures.format import Capture
from crosswatch.captures.store import CaptureStore
from crosswatch.config import load_config
from crosswatch.errors import CrosswatchError
from crosswatch.events import ConfigReloaded
from crosswatch.metrics import DaemonMetrics
from crosswatch.recording import recorded
from crosswatch.runs import RunHistory
from crosswatch.state import StateDir
from tests.daemon_proc import DaemonProcess
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401

PAIR = "metered"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[set[str], Samples]:
    """The family names and every sample (by name and labels) of one scrape."""
    names: set[str] = set()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return names, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def by_label(samples: Samples, name: str, label: str, **labels: str) -> dict[str, float]:
    """``label``'s value -> the sample, for the samples of ``name`` with exactly one per value."""
    want = set(labels.items())
    return {dict(ls)[label]: v for (n, ls), v in samples.items() if n == name and want <= ls}


# -- the real daemon --------------------------------------------------------------------------


def scrape(url: str) -> tuple[httpx.Response, Samples]:
    reply = httpx.get(f"{url}/metrics", timeout=10)
    assert reply.status_code == 200, f"GET /metrics answered {reply.status_code}: {reply.text[:200]}"
    return reply, parse(reply.text)[1]


def emulator_stats(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/_emulator/stats", timeout=10).json()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_scrape_after_a_scheduled_sync_shows_the_job_its_requests_and_the_pairs_last_success(
    sync_env: SyncEnv, backend: str
) -> None:
    env = sync_env
    env.cw.configure(
        {
            "pairs": [env.pair(PAIR, features=["watchlist"], schedule="0 3 1 1 *")],
            "daemon": {"listen": "127.0.0.1:0"},
        }
    )
    folder = env.cw.folder
    for url in (env.emu.plex_url, env.emu.trakt_url):
        assert httpx.post(f"{url}/_emulator/stats/reset", timeout=10).status_code == 200
    # Trakt says "too many requests" once: a 429, a retry, and the run still succeeds
    fault = [{"method": "GET", "path": "*", "status": 429, "retry_after": 0}]
    assert httpx.post(f"{env.emu.trakt_url}/_emulator/faults", json=fault, timeout=10).status_code == 200

    daemon = DaemonProcess(folder, backend)
    try:
        ready = daemon.wait_for("daemon.ready", timeout=60)
        url = f"http://{ready['listen']}"
        reply, before = scrape(url)
        assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert total(before, "crosswatch_jobs_total") == 0

        announced = json.loads((folder / ".cw_state" / "daemon.json").read_text())
        started = httpx.post(
            f"{url}/jobs/sync:{PAIR}/run", headers={"Authorization": f"Bearer {announced['token']}"}, timeout=10
        )
        assert started.status_code == 202, started.text
        daemon.wait_for("sync.finished", timeout=60)
        _, after = scrape(url)
        health = daemon.health()
    finally:
        code = daemon.stop()
    assert code == 0

    run = RunHistory(StateDir(folder)).latest()[f"sync:{PAIR}"]
    assert run.result == "ok" and run.counts["added"] > 0
    assert value(after, "crosswatch_jobs_total", kind="sync", result="ok") == 1
    assert value(after, "crosswatch_job_duration_seconds_count", kind="sync") == 1
    assert 0 < value(after, "crosswatch_job_duration_seconds_sum", kind="sync") < 60
    written = by_label(after, "crosswatch_items_written_total", "action", provider="trakt", feature="watchlist")
    assert written.get("added") == run.counts["added"]
    assert value(after, "crosswatch_last_success_timestamp_seconds", pair=PAIR) == run.ended

    # every answer the daemon counted is one the emulators gave (the 429 included), and no other
    for provider, emu_url in (("plex", env.emu.plex_url), ("trakt", env.emu.trakt_url)):
        seen = {s: float(n) for s, n in emulator_stats(emu_url)["statuses"].items()}
        counted = by_label(after, "crosswatch_http_requests_total", "status", provider=provider)
        assert counted == seen, provider
        assert seen.get("200", 0) > 0, provider
    assert value(after, "crosswatch_http_throttled_total", provider="trakt") == 1
    assert value(after, "crosswatch_http_retries_total", provider="trakt") == 1
    gets = sum(n for what, n in emulator_stats(env.emu.trakt_url)["requests"].items() if what.startswith("GET "))
    assert value(after, "crosswatch_trakt_rate_budget_remaining", profile="default") == 1000 - gets

    # the first run captured Trakt's watchlist before writing it: the capture gauges see that file
    files = list(CaptureStore(folder).files())
    assert files
    assert value(after, "crosswatch_captures", provider="trakt", feature="watchlist") == len(files)
    assert value(after, "crosswatch_capture_bytes", provider="trakt", feature="watchlist") == sum(
        f.stat().st_size for f in files
    )
    assert value(after, "crosswatch_bus_dropped_total") == health["bus"]["dropped"] == 0
    assert total(after, "crosswatch_scrobble_forwarded_total") == sum(health["scrobble"]["forwarded"].values())


# -- in-process -------------------------------------------------------------------------------


def capture(store: CaptureStore, provider: str, feature: str, created: datetime) -> Path:
    ref = store.write(
        Capture(provider=provider, feature=feature, created=created.strftime("%Y-%m-%dT%H:%M:%SZ")), created
    )
    return ref.path


async def render(metrics: DaemonMetrics) -> Samples:
    body, content_type = await metrics.scrape()
    assert content_type.startswith("text/plain")
    return parse(body.decode())[1]


@pytest.mark.anyio
async def test_several_daemons_in_one_process_each_show_their_own_captures_and_bus(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    store = CaptureStore(one)
    day = datetime(2026, 3, 1, 12, tzinfo=UTC)
    kept = [capture(store, "TRAKT", "watchlist", day + timedelta(seconds=i)) for i in range(2)]
    capture(store, "PLEX", "ratings", day + timedelta(days=1))
    bus_one, bus_two = EventBus(1), EventBus(1)
    for _ in range(3):  # no dispatcher runs: the first fills the buffer, the others are dropped
        bus_one.emit(ConfigReloaded())
    first = DaemonMetrics(one, bus=lambda: bus_one)
    second = DaemonMetrics(two, bus=lambda: bus_two)
    try:
        a, b = await render(first), await render(second)
        assert by_label(a, "crosswatch_captures", "provider") == {"trakt": 2, "plex": 1}
        assert value(a, "crosswatch_capture_bytes", provider="trakt", feature="watchlist") == sum(
            p.stat().st_size for p in kept
        )
        assert total(b, "crosswatch_captures") == 0
        assert value(a, "crosswatch_bus_dropped_total") == 2
        assert value(b, "crosswatch_bus_dropped_total") == 0

        # a capture added to a day that has some, or deleted, shows on the next scrape
        added = capture(store, "TRAKT", "watchlist", day + timedelta(seconds=5))
        assert value(await render(first), "crosswatch_captures", provider="trakt", feature="watchlist") == 3
        store.delete(kept[0])
        store.delete(added)
        assert value(await render(first), "crosswatch_captures", provider="trakt", feature="watchlist") == 1
    finally:
        first.close()
        second.close()


class Broken(CrosswatchError):
    pass


@pytest.mark.anyio
async def test_recorded_jobs_count_by_kind_and_result_with_items_and_the_pairs_last_success(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    metrics = DaemonMetrics(tmp_path)
    try:
        before = time.time()
        async with recorded(config, "sync:p", "sync", pair="p") as recording:
            recording.summary = [
                {"feature": "watchlist", "target": "TRAKT", "type": "movie", "added": 3, "updated": 0, "removed": 1},
                {"feature": "watchlist", "target": "TRAKT", "type": "show", "added": 2, "failed": 1},
                {"feature": "ratings", "target": "PLEX.kids", "type": "movie", "updated": 4, "unresolved": 2},
            ]
        with pytest.raises(Broken):
            async with recorded(config, "sync:p", "sync", pair="p"):
                raise Broken("Trakt is down")
        async with recorded(config, "capture:nightly", "capture", provider="TRAKT", feature="all") as recording:
            recording.counts = {"watchlist": 5}  # a capture reads: it writes no items
            recording.summary = [{"capture": "2026-03-01/x.json", "feature": "watchlist", "items": 5}]
        clear = {"provider": "TRAKT", "profile": "default", "feature": "history"}
        async with recorded(config, "clear:TRAKT:history", "clear", **clear) as recording:
            recording.counts = {"removed": 7, "failed": 0}
            recording.summary = [{"feature": "history", "movie": 4, "episode": 3}]
        samples = await render(metrics)
    finally:
        metrics.close()

    assert by_label(samples, "crosswatch_jobs_total", "result", kind="sync") == {"ok": 1, "failed": 1}
    assert value(samples, "crosswatch_jobs_total", kind="capture", result="ok") == 1
    assert value(samples, "crosswatch_job_duration_seconds_count", kind="sync") == 2
    assert by_label(samples, "crosswatch_items_written_total", "action", provider="trakt", feature="watchlist") == {
        "added": 5,
        "removed": 1,
    }
    assert value(samples, "crosswatch_items_written_total", provider="plex", feature="ratings", action="updated") == 4
    assert value(samples, "crosswatch_items_written_total", provider="trakt", feature="history", action="removed") == 7
    # Trakt's watchlist: 5 added and 1 removed by the sync, nothing from the capture
    assert total(samples, "crosswatch_items_written_total", provider="trakt") == 5 + 1 + 7
    assert value(samples, "crosswatch_items_not_written_total", provider="trakt", feature="watchlist", reason="failed")
    assert (
        value(samples, "crosswatch_items_not_written_total", provider="plex", feature="ratings", reason="unresolved")
        == 2
    )
    last = RunHistory(StateDir(tmp_path)).last_success()["sync:p"]
    assert before <= last <= time.time()
    # the failed run came later: the pair's last success is still the first run's end
    assert value(samples, "crosswatch_last_success_timestamp_seconds", pair="p") == last
