"""The daemon's ``GET /metrics``: Prometheus text exposition, written by ``prometheus_client``.

Two kinds of numbers, in one :class:`~prometheus_client.CollectorRegistry` per daemon (never
the global one, so several daemons can live in one process):

- **counted as jobs end** (a :func:`crosswatch.recording.on_finished` listener): jobs by kind
  and result, their durations, items written per provider, feature and action. They count the
  jobs this daemon ran since it started (Prometheus counters start again at a restart;
  ``rate()`` and ``increase()`` allow for that); a ``crosswatch sync run`` typed in a shell
  runs in its own process and shows in the run history, not here.
- **read at scrape time** (a custom collector): HTTP requests, retries and 429s per provider
  (the process-wide HTTP policies of :mod:`crosswatch.http`), the Trakt read budget left,
  scrobble counters, bus drops, the captures on disk and each pair's last successful run (the
  run history). The capture listing and the history query are cached and done again only when
  the folders or the database changed, so a scrape stays fast with thousands of either.

``/metrics`` is served like ``/healthz``: on ``daemon.listen`` (loopback by default), no token.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import anyio
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.captures.store import FOLDER
from crosswatch.http import policies, read_budgets
from crosswatch.recording import on_finished
from crosswatch.runs import RUNS_FILE, Run, RunHistory
from crosswatch.state import StateDir

log = structlog.get_logger("crosswatch.metrics")

# no ``*_created`` series beside each counter: noise in the text format (the daemon's own process)
disable_created_metrics()

#: job durations: a quiet sync takes a second, a first write of 50,000 plays some minutes
DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
WRITTEN = ("added", "updated", "removed")
NOT_WRITTEN = ("failed", "unresolved")
#: a cached capture listing or history query is done again after this long even if nothing seemed to
#: change (a file system whose timestamps are too coarse to tell two changes in one tick apart)
MAX_AGE_S = 60.0


class DaemonMetrics:
    """One daemon's registry: the job counters it updates and the collector it reads at scrape time."""

    def __init__(
        self,
        config_dir: Path,
        *,
        bus: Callable[[], Any] = lambda: None,
        scrobbles: Callable[[], Any] = lambda: None,
        pairs: Callable[[], Iterable[str] | None] = lambda: None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "crosswatch_jobs", "Jobs ended, by kind and result.", ["kind", "result"], registry=self.registry
        )
        self.durations = Histogram(
            "crosswatch_job_duration_seconds",
            "How long jobs took, by kind.",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.written = Counter(
            "crosswatch_items_written",
            "Items written by jobs, per provider, feature and action (added, updated, removed).",
            ["provider", "feature", "action"],
            registry=self.registry,
        )
        self.not_written = Counter(
            "crosswatch_items_not_written",
            "Items jobs could not write, per provider, feature and reason (failed, unresolved).",
            ["provider", "feature", "reason"],
            registry=self.registry,
        )
        self.live = LiveCollector(Path(config_dir), bus=bus, scrobbles=scrobbles, pairs=pairs)
        self.registry.register(self.live)
        self._stop = _listen(self)

    @classmethod
    def of_daemon(cls, daemon: Any) -> DaemonMetrics:
        """The metrics of a :class:`crosswatch.daemon.Daemon` (read through it, so reloads show)."""

        def scrobbles() -> Any:
            return daemon.scrobbles.stats() if daemon.scrobbles is not None else None

        def pairs() -> list[str] | None:
            return [p.name for p in daemon.config.pairs] if daemon.config is not None else None

        return cls(daemon.config_dir, bus=lambda: daemon.bus, scrobbles=scrobbles, pairs=pairs)

    def observe(self, run: Run) -> None:
        """Count one finished job."""
        self.jobs.labels(run.kind, run.result).inc()
        if run.seconds is not None:
            self.durations.labels(run.kind).observe(max(run.seconds, 0.0))
        for (provider, feature, action), n in _items(run).items():
            if action in WRITTEN:
                self.written.labels(provider, feature, action).inc(n)
            else:
                self.not_written.labels(provider, feature, action).inc(n)
        if run.result == "ok":
            self.live.last_success.forget()

    async def scrape(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition (the format ``accept`` asks for: Prometheus text, or OpenMetrics) and its type.

        Made in a worker thread: the capture listing and the history query read the disk.
        """
        encode, content_type = choose_encoder(accept)
        body = await anyio.to_thread.run_sync(encode, self.registry)
        return body, content_type

    def route(self) -> Route:
        """``GET /metrics``."""

        async def metrics(request: Request) -> Response:
            body, content_type = await self.scrape(request.headers.get("accept", ""))
            return Response(body, headers={"Content-Type": content_type})

        return Route("/metrics", metrics, methods=["GET"])

    def close(self) -> None:
        """Stop counting jobs (the listener is also dropped once this object is gone)."""
        self._stop()


def metrics_route(daemon: Any) -> Route:
    """The daemon's ``GET /metrics`` route (its :class:`DaemonMetrics` lives as long as the route)."""
    return DaemonMetrics.of_daemon(daemon).route()


def _listen(metrics: DaemonMetrics) -> Callable[[], None]:
    """Register for finished jobs without keeping ``metrics`` alive (a test suite builds many daemons)."""
    ref = weakref.ref(metrics)

    def listener(run: Run) -> None:
        target = ref()
        if target is None:
            stop()
        else:
            target.observe(run)

    stop = on_finished(listener)
    return stop


def _items(run: Run) -> dict[tuple[str, str, str], int]:
    """Items by (provider, feature, action) from a run's summary rows, else from its counts.

    A sync's rows name their target and feature, a restore's their feature (the run names the
    provider); a clear's rows count media types, so its counts (and the run's feature) are used.
    Other jobs (captures, prunes) write no items: their rows and counts have no action.
    """
    out: dict[tuple[str, str, str], int] = defaultdict(int)
    actions = (*WRITTEN, *NOT_WRITTEN)
    rows = [r for r in run.summary if isinstance(r, dict) and any(a in r for a in actions)]
    if not rows and run.provider:
        rows = [{"feature": run.feature or "all", **run.counts}]
    for row in rows:
        who = str(row.get("target") or row.get("provider") or run.provider or "")
        provider = who.partition(".")[0].lower() or "unknown"
        feature = str(row.get("feature") or run.feature or "unknown").lower()
        for action in (*WRITTEN, *NOT_WRITTEN):
            n = row.get(action)
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                out[(provider, feature, action)] += n
    return out


# -- read at scrape time ----------------------------------------------------------------------


class LiveCollector(Collector):
    """The values read when Prometheus scrapes; a failing source is logged and left out, never a 500."""

    def __init__(
        self,
        config_dir: Path,
        *,
        bus: Callable[[], Any],
        scrobbles: Callable[[], Any],
        pairs: Callable[[], Iterable[str] | None],
    ) -> None:
        self.bus = bus
        self.scrobbles = scrobbles
        self.pairs = pairs
        self.captures = CaptureTally(config_dir / FOLDER)
        self.last_success = LastSuccess(StateDir(config_dir))

    def collect(self) -> Iterator[Metric]:
        for name, part in (
            ("http", self._http),
            ("trakt budget", self._trakt_budget),
            ("scrobble", self._scrobble),
            ("bus", self._bus),
            ("captures", self._captures),
            ("last success", self._last_success),
        ):
            try:
                families = list(part())
            except Exception as exc:  # one unreadable source must not cost the whole scrape
                log.warning("metrics.source_failed", source=name, error=repr(exc))
                continue
            yield from families

    def _http(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "crosswatch_http_requests",
            'HTTP requests to providers, per provider and status ("error": no answer came).',
            labels=["provider", "status"],
        )
        retries = CounterMetricFamily("crosswatch_http_retries", "HTTP requests sent again.", labels=["provider"])
        throttled = CounterMetricFamily(
            "crosswatch_http_throttled", "HTTP 429 (too many requests) answers.", labels=["provider"]
        )
        by_status: dict[tuple[str, str], int] = defaultdict(int)
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for policy in policies():
            provider = _provider_of(policy.name)
            stats = policy.stats
            for status, n in list(stats.by_status.items()):
                by_status[(provider, status)] += n
            sums[provider][0] += stats.retries
            sums[provider][1] += stats.throttled
        for (provider, status), n in sorted(by_status.items()):
            requests.add_metric([provider, status], n)
        for provider, (n_retries, n_throttled) in sorted(sums.items()):
            retries.add_metric([provider], n_retries)
            throttled.add_metric([provider], n_throttled)
        yield from (requests, retries, throttled)

    def _trakt_budget(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "crosswatch_trakt_rate_budget_remaining",
            "Trakt GET requests crosswatch may still send in the current window (read_limit per read_period_s).",
            labels=["profile"],
        )
        for profile, left in read_budgets("TRAKT").items():
            gauge.add_metric([profile], left)
        yield gauge

    def _scrobble(self) -> Iterator[Metric]:
        stats = self.scrobbles() or {}
        forwarded = CounterMetricFamily(
            "crosswatch_scrobble_forwarded",
            "Plays and ratings forwarded to the scrobble targets, per action.",
            labels=["action"],
        )
        for action, n in sorted(dict(stats.get("forwarded") or {}).items()):
            forwarded.add_metric([str(action).removeprefix("scrobble.")], n)
        dropped = CounterMetricFamily(
            "crosswatch_scrobble_dropped",
            "Scrobble events dropped: guard (crosswatch's own writes were running), queue_full.",
            labels=["reason"],
        )
        dropped.add_metric(["guard"], sum(dict(stats.get("dropped_by_guard") or {}).values()))
        dropped.add_metric(["queue_full"], stats.get("dropped_queue_full") or 0)
        skipped = CounterMetricFamily(
            "crosswatch_scrobble_skipped", "Scrobble events not forwarded, per reason.", labels=["reason"]
        )
        for reason, n in sorted(dict(stats.get("skipped") or {}).items()):
            skipped.add_metric([str(reason).lower().replace(" ", "_")], n)
        yield from (forwarded, dropped, skipped)

    def _bus(self) -> Iterator[Metric]:
        bus = self.bus()
        yield CounterMetricFamily(
            "crosswatch_bus_dropped",
            "Events dropped because the event bus buffer (daemon.event_buffer) was full.",
            value=bus.dropped if bus is not None else 0,
        )

    def _captures(self) -> Iterator[Metric]:
        count = GaugeMetricFamily(
            "crosswatch_captures",
            "Capture files under snapshots/, per provider and feature.",
            labels=["provider", "feature"],
        )
        size = GaugeMetricFamily(
            "crosswatch_capture_bytes",
            "Bytes of the capture files under snapshots/, per provider and feature.",
            labels=["provider", "feature"],
        )
        for (provider, feature), (n, total) in sorted(self.captures.get().items()):
            count.add_metric([provider, feature], n)
            size.add_metric([provider, feature], total)
        yield from (count, size)

    def _last_success(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "crosswatch_last_success_timestamp_seconds",
            "When each sync pair's last successful run ended (Unix time), from the run history.",
            labels=["pair"],
        )
        configured = self.pairs()
        wanted = set(configured) if configured is not None else None
        for job, ended in sorted(self.last_success.get().items()):
            kind, _, pair = job.partition(":")
            if kind == "sync" and ended is not None and (wanted is None or pair in wanted):
                gauge.add_metric([pair], ended)
        yield gauge


def _provider_of(policy_name: str) -> str:
    """``PLEX:http://...:default`` -> ``plex``: policies are named after their provider id first."""
    return policy_name.partition(":")[0].lower() or "unknown"


Tally = dict[tuple[str, str], tuple[int, int]]  # (provider, feature) -> (files, bytes)


class CaptureTally:
    """Capture files and bytes per (provider, feature); a day folder is counted again only when it changed.

    Captures are never rewritten in place: a new or deleted capture changes the modification
    time of its day folder, so one ``stat`` per day folder tells which ones to count again.
    Everything is counted again after ``max_age`` seconds, in case the file system's times
    are too coarse to tell two changes apart.
    """

    def __init__(self, root: Path, max_age: float = MAX_AGE_S) -> None:
        self.root = root
        self.max_age = max_age
        self._lock = threading.Lock()
        self._days: dict[str, tuple[int, Tally]] = {}  # day folder -> (its mtime when counted, its tally)
        self._total: Tally = {}
        self._at = 0.0

    def get(self) -> Tally:
        with self._lock:
            if time.monotonic() - self._at > self.max_age:
                self._days, self._at = {}, time.monotonic()
            days: dict[str, tuple[int, Tally]] = {}
            changed = False
            for name, path, mtime in self._listing():
                known = self._days.get(name)
                if known is None or known[0] != mtime:
                    known, changed = (mtime, _count(path)), True
                days[name] = known
            if changed or days.keys() != self._days.keys():
                self._total = _sum(tally for _, tally in days.values())
            self._days = days
            return self._total

    def _listing(self) -> list[tuple[str, str, int]]:
        """The day folders as CaptureStore.files lists them: (name, path, mtime)."""
        try:
            entries = list(os.scandir(self.root))
        except (FileNotFoundError, NotADirectoryError):
            return []
        days = []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                days.append((entry.name, entry.path, entry.stat(follow_symlinks=False).st_mtime_ns))
            except FileNotFoundError:  # deleted since listed
                continue
        return days


def _count(day: str) -> Tally:
    """One day folder's capture files (``*.json``, not hidden, not links) and their bytes."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    try:
        entries = list(os.scandir(day))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    for entry in entries:
        name = entry.name
        if name.startswith(".") or not name.endswith(".json") or not entry.is_file(follow_symlinks=False):
            continue
        try:
            size = entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue
        tally = counts[_subject(name)]
        tally[0] += 1
        tally[1] += size
    return {key: (n, size) for key, (n, size) in counts.items()}


def _sum(tallies: Iterable[Tally]) -> Tally:
    total: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for tally in tallies:
        for key, (n, size) in tally.items():
            total[key][0] += n
            total[key][1] += size
    return {key: (n, size) for key, (n, size) in total.items()}


def _subject(name: str) -> tuple[str, str]:
    """``<time>__TRAKT.kids__watchlist__label.json`` -> ``("trakt", "watchlist")``."""
    parts = name[: -len(".json")].split("__")
    if len(parts) < 3:
        return "unknown", "unknown"
    return parts[1].partition(".")[0].lower() or "unknown", parts[2].lower() or "unknown"


class LastSuccess:
    """Each job's last good end from the run history, queried again only when the database changed."""

    def __init__(self, state: StateDir, max_age: float = MAX_AGE_S) -> None:
        self.state = state
        self.path = state.path / RUNS_FILE
        self.max_age = max_age
        self._lock = threading.Lock()
        self._mark: object = None
        self._at = 0.0
        self._value: dict[str, float] = {}

    def forget(self) -> None:
        """A job of this process just ended well: query again at the next scrape."""
        self._mark = None

    def get(self) -> dict[str, float]:
        with self._lock:
            mark = self._changed()
            if mark is None:
                return {}
            if mark != self._mark or time.monotonic() - self._at > self.max_age:
                self._value = RunHistory(self.state).last_success()
                self._mark, self._at = mark, time.monotonic()
            return self._value

    def _changed(self) -> tuple[int, ...] | None:
        """Modification times and sizes of the database and its write-ahead log (None: no history yet)."""
        marks: list[int] = []
        for path in (self.path, self.path.with_name(RUNS_FILE + "-wal")):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                if path == self.path:
                    return None
                marks += [0, 0]
                continue
            marks += [st.st_mtime_ns, st.st_size]
        return tuple(marks)
