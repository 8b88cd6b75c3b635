"""The long-running process: one anyio task group that wires every service together.

Inside the group: the bus dispatcher, the scheduler, the HTTP endpoint, the config
watcher, the signal handler, the systemd watchdog and the plugins' own services. It runs
unchanged on asyncio and trio.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import structlog

from crosswatch import __version__
from crosswatch import logging as cw_logging
from crosswatch.bus import EventBus, PublishError
from crosswatch.config import (
    CONFIG_FILE,
    SCHEDULES_FILE,
    Config,
    ConfigError,
    ConfigIssue,
    load_config,
)
from crosswatch.events import ConfigRejected, ConfigReloaded, ScheduleFired
from crosswatch.http import read_budgets
from crosswatch.listener_pause import DAEMON_FILE, DaemonLock, announce, guard_route, job_route, reannounce, retire
from crosswatch.plugins import PluginHost, peek_disabled
from crosswatch.scheduler import Scheduler, jobs_from_config
from crosswatch.scrobble.router import ScrobbleRouter
from crosswatch.services import ServiceContext, ServiceSupervisor
from crosswatch.state import StateDir, StateError
from crosswatch.systemd import Notifier
from crosswatch.web import WebApp, bind_socket, serve

log = structlog.get_logger("crosswatch.daemon")

WATCHED_FILES = frozenset({CONFIG_FILE, SCHEDULES_FILE})


class Daemon:
    """``crosswatch run``: start, serve, reload on change or SIGHUP, stop cleanly on SIGTERM."""

    def __init__(self, config_dir: Path, *, log_format: str | None = None, verbose: bool = False) -> None:
        self.config_dir = Path(config_dir)
        self.log_format = log_format
        self.verbose = verbose
        self.started = time.monotonic()
        self.host = PluginHost(self.config_dir)
        self.state = StateDir(self.config_dir)
        self.notifier = Notifier()
        self.config: Config | None = None
        self.bus: EventBus | None = None
        self.scheduler: Scheduler | None = None
        self.supervisor: ServiceSupervisor | None = None
        self.tasks: anyio.abc.TaskGroup | None = None  # the daemon's task group (the dashboard's jobs run in it)
        self.web: WebApp | None = None
        self.reloads = 0
        self.rejected = 0
        self._seen: tuple[Any, ...] = ()  # the watched files as last read (see _stamp)
        self.rejected_because = ""  # the last rejected reload's first issue, until a reload is accepted
        self._reload_lock: anyio.Lock | None = None
        self._watch_stop: anyio.Event | None = None
        self._stopping: anyio.Event | None = None
        self._web_done: anyio.Event | None = None
        self._jobs: dict[str, Any] = {}  # schedule kind -> its handler
        self.scrobbles: ScrobbleRouter | None = None
        self._announced: tuple[str | None, str] | None = None  # daemon.json's url and token
        self.early_signals: list[int] = []  # SIGTERM/SIGINT noted before the event loop ran
        # called once the loop's signal handling has ended (the process owner re-installs its own
        # handler, so a second SIGTERM in the last moments of exit cannot kill it with -15)
        self.after_signals: Callable[[], None] | None = None
        self._serving = False
        self._sock: Any = None

    # -- start ---------------------------------------------------------------------------

    def _configure_logging(self, config: Config) -> None:
        level = "debug" if self.verbose else config.log.level
        cw_logging.configure(self.log_format or config.log.format, level)

    def prepare(self) -> Config:
        """Load plugins and config before the event loop starts; raises ConfigError."""
        self.host.load(peek_disabled(self.config_dir))
        self._seen = self._stamp()  # before reading: a save during the read is caught up later
        config = load_config(self.config_dir, self.host.sections())
        self._configure_logging(config)
        for warning in config.warnings:
            log.warning("config.warning", issue=str(warning))
        try:
            self.state.ensure()
        except OSError as exc:
            issue = ConfigIssue(self.state.path, None, "", f"cannot create the state directory: {exc.strerror}")
            raise ConfigError([issue]) from exc
        self.config = config
        return config

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit code."""
        config = self.config or self.prepare()
        self.bus = EventBus(config.daemon.event_buffer)
        self.scheduler = Scheduler(self.bus)
        self._reload_lock = anyio.Lock()
        self._watch_stop = anyio.Event()
        self._stopping = anyio.Event()
        self._web_done = anyio.Event()
        self.bus.subscribe(ScheduleFired, self._job)
        self.scrobbles = ScrobbleRouter(self.host.providers, self._current, self.state, self.bus)
        lock = DaemonLock(self.state)
        self._sock = None
        code = 0
        # first of all, and until the very end: a SIGTERM, SIGINT or SIGHUP is handled, never fatal
        # (a second SIGTERM while stopping included)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._handle_signals, signals, tg.cancel_scope)
                    code = await self._start(tg, config, lock)
                    if code:
                        tg.cancel_scope.cancel()
            finally:
                if self._sock is not None:
                    self._sock.close()
                if self._announced is not None:
                    retire(self.state)
                lock.release()
                self.notifier.close()
        if self.after_signals is not None:
            self.after_signals()
        log.info("daemon.stopped", uptime_s=round(time.monotonic() - self.started, 1))
        return code

    async def _start(self, tg: anyio.abc.TaskGroup, config: Config, lock: DaemonLock) -> int:
        """Bind, take the config directory, announce, start every service, say READY; an exit code on failure."""
        assert self.bus and self.scheduler and self.scrobbles and self._web_done
        try:
            sock = self._sock = bind_socket(config.daemon.listen) if config.daemon.listen else None
        except OSError as exc:
            log.error("daemon.listen_failed", error=exc.strerror, hint='set daemon.listen, or "" to turn it off')
            return 1
        address = _address(sock)
        url = f"http://{address}" if address else None
        try:
            await anyio.to_thread.run_sync(lock.acquire)
        except StateError as exc:
            log.error("daemon.already_running", error=str(exc))
            return 1
        token = await anyio.to_thread.run_sync(announce, self.state, url)
        self._announced = (url, token)
        from crosswatch.metrics import metrics_route  # prometheus_client: the daemon's, never the CLI's

        self.web = WebApp(
            self.health,
            core=[guard_route(self.bus, token), job_route(self.scheduler.trigger, token), metrics_route(self)]
            + self._dashboard(address),
        )
        self.supervisor = ServiceSupervisor(tg)
        self.tasks = tg
        tg.start_soon(self.bus.run)
        tg.start_soon(self.scrobbles.run)
        tg.start_soon(self.scrobbles.guard.run)
        await tg.start(self.scheduler.run)
        self._apply(config, previous=None, enabled=self.host.loaded())
        if sock is not None:
            self._serving = True
            tg.start_soon(self._serve_web, sock)
        else:
            self._web_done.set()
        if config.daemon.watch_config:
            tg.start_soon(self._watch_config)
        if self.notifier.watchdog_interval:
            tg.start_soon(self._watchdog)
        self.notifier.ready(f"serving; {len(self.scheduler.next_runs())} jobs")
        log.info(
            "daemon.ready",
            version=__version__,
            backend=_backend(),
            pid=os.getpid(),
            config_dir=str(self.config_dir),
            listen=address,
            plugins=self.host.loaded(),
            startup_ms=round((time.monotonic() - self.started) * 1000, 1),
        )
        return 0

    def _dashboard(self, address: str | None) -> list[Any]:
        """The web dashboard's routes (see docs/web.md), after core's own; none without an endpoint."""
        if address is None:
            return []
        from crosswatch.webui.app import routes

        return routes(self, address)

    def _apply(self, config: Config, previous: Config | None, enabled: list[str]) -> None:
        """Put ``config`` in force: schedules, plugin configuration, subscriptions, services, routes."""
        assert self.scheduler and self.bus and self.supervisor and self.web
        self.config = config
        self._configure_logging(config)
        self.scheduler.set_jobs(jobs_from_config(config))
        for row in self.scheduler.describe():
            log.info("schedule.next", job=row["job"], next=row["next"], cron=row["cron"], tz=row["tz"])
        if not self.scheduler.next_runs():
            log.info("schedule.none", hint="no pair or capture schedule is enabled")
        if config.pairs:
            from crosswatch.sync.scheduled import check_pairs

            check_pairs(config, self.host)
        self.host.call_each("crosswatch_configure", config=config)
        for plugin in enabled:
            self.host.call_each("crosswatch_subscribe", plugins=[plugin], bus=self.bus.scoped(plugin))
            ctx = ServiceContext(plugin, self.bus.scoped(plugin), self.state, self.host.providers, self._current)
            services = [
                s
                for _, found in self.host.call_each("crosswatch_services", plugins=[plugin], ctx=ctx)
                for s in found or ()
            ]
            self.supervisor.start(plugin, services, ctx)
        routes = [r for _, found in self.host.call_each("crosswatch_web_routes") for r in found or ()]
        self.web.set_routes(routes)
        if previous and previous.daemon.listen != config.daemon.listen:
            log.warning(
                "config.restart_needed", key="daemon.listen", hint="the new address takes effect after a restart"
            )

    async def _job(self, event: ScheduleFired) -> None:
        """A schedule fired: a capture (then prune) or a pair's sync; handlers imported on first use."""
        handler = self._jobs.get(event.kind)
        if handler is None:
            if event.kind == "capture":
                from crosswatch.captures.scheduled import ScheduledCaptures

                handler = ScheduledCaptures(self.host, self._current, self.bus)
            elif event.kind == "sync":
                from crosswatch.sync.scheduled import ScheduledSyncs

                handler = ScheduledSyncs(self.host, self._current, self.bus)
            else:
                return
            self._jobs[event.kind] = handler
        from crosswatch import progress

        with progress.reporting(progress.LogReporter(log, job=event.job_id)):  # job.progress lines for long work
            await handler.on_fired(event)

    def _current(self) -> Config:
        assert self.config is not None
        return self.config

    # -- reload --------------------------------------------------------------------------

    async def reload(self, reason: str) -> bool:
        """Validate and apply the config on disk; on any fault keep the config in force."""
        assert self._reload_lock and self.bus and self.supervisor
        async with self._reload_lock:
            began = time.monotonic()
            self.notifier.reloading()
            await self._announce_again()
            try:
                return await self._reload(reason, began)
            finally:
                self.notifier.ready()

    async def _reload(self, reason: str, began: float) -> bool:
        assert self.bus and self.supervisor
        previous = self.config
        self._seen = self._stamp()
        try:
            config = await anyio.to_thread.run_sync(load_config, self.config_dir, self.host.sections(), previous)
            off, on = self.host.set_disabled(config.plugins.disabled)
            if on:  # newly enabled plugins bring sections: validate again with them
                try:
                    config = await anyio.to_thread.run_sync(
                        load_config, self.config_dir, self.host.sections(), previous
                    )
                except ConfigError:
                    self.host.set_disabled(previous.plugins.disabled if previous else ())
                    raise
        except ConfigError as exc:
            self.rejected += 1
            self.rejected_because = str(exc.issues[0]) if exc.issues else "invalid config"
            for issue in exc.issues:
                log.error("config.rejected", reason=reason, issue=str(issue), kept="previous config stays in force")
            self.bus.emit(ConfigRejected(tuple(str(i) for i in exc.issues)))
            return False
        self.rejected_because = ""
        changed = config.changed_sections(previous)
        if not changed and not off and not on:
            log.info("config.unchanged", reason=reason)
            return True
        for plugin in off:
            self.bus.unsubscribe_owner(plugin)
            self.supervisor.stop(plugin)
            log.info("plugin.disabled", plugin=plugin)
        for warning in config.warnings:
            log.warning("config.warning", issue=str(warning))
        self._apply(config, previous, enabled=on)
        self.reloads += 1
        log.info(
            "config.reloaded",
            reason=reason,
            changed=list(changed),
            plugins_enabled=on,
            plugins_disabled=off,
            took_ms=round((time.monotonic() - began) * 1000, 1),
        )
        try:
            await self.bus.publish(ConfigReloaded(changed))
        except PublishError as exc:
            log.error("config.subscriber_failed", error=str(exc))
        return True

    def _stamp(self) -> tuple[Any, ...]:
        """The watched files as they are on disk now (size, times, inode), to tell a change we missed."""
        stamps: list[Any] = []
        for name in sorted(WATCHED_FILES):
            try:
                st = (self.config_dir / name).stat()
            except OSError:
                stamps.append((name, None))
            else:
                stamps.append((name, st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(stamps)

    async def _watch_config(self) -> None:
        """Watch the config folder (editors save by rename) and reload on change."""
        from watchfiles import awatch

        def wanted(_change: Any, path: str) -> bool:
            return Path(path).name in WATCHED_FILES

        assert self._watch_stop is not None
        while not self._watch_stop.is_set():
            try:
                async for _changes in awatch(
                    self.config_dir,
                    watch_filter=wanted,
                    debounce=500,
                    step=100,  # the watcher thread wakes this often: 100 ms keeps idle CPU low
                    recursive=False,
                    stop_event=self._watch_stop,
                    rust_timeout=2000,
                    yield_on_timeout=True,
                ):
                    if _changes:
                        await self.reload("file changed")
                    elif self._stamp() != self._seen:
                        # saved before the watcher was watching (just after start): caught up here
                        await self.reload("file changed before the watcher started")
            except Exception as exc:  # the folder vanished, inotify limits, ...
                log.error("config.watch_failed", error=repr(exc), retry_in_s=5)
                with anyio.move_on_after(5):
                    await self._watch_stop.wait()

    # -- signals, watchdog, health -------------------------------------------------------

    async def _handle_signals(self, signals: AsyncIterator[int], scope: anyio.CancelScope) -> None:
        if self.early_signals:  # came while the process was starting (see commands.run)
            log.info("daemon.stopping", signal=signal.Signals(self.early_signals[0]).name, during="start-up")
            await self.stop(scope)
            return
        async for signum in signals:
            if signum == signal.SIGHUP:
                log.info("daemon.sighup")
                await self.reload("SIGHUP")
                continue
            log.info("daemon.stopping", signal=signal.Signals(signum).name)
            await self.stop(scope)
            return

    async def stop(self, scope: anyio.CancelScope) -> None:
        """Let the HTTP endpoint finish its requests, then cancel everything else."""
        assert self._watch_stop and self._stopping and self._web_done and self.config
        self.notifier.stopping()
        self._watch_stop.set()  # lets the file watcher's thread return at once
        self._stopping.set()
        if self._serving:
            with anyio.move_on_after(self.config.daemon.shutdown_timeout_s):
                await self._web_done.wait()
        scope.cancel()

    async def _serve_web(self, sock: Any) -> None:
        assert self.web and self._stopping and self._web_done
        try:
            await serve(self.web, sock, self._stopping.wait)
        finally:
            self._web_done.set()

    async def _announce_again(self) -> None:
        """Write ``daemon.json`` again if it went missing or was damaged (commands reach us through it)."""
        if self._announced is None:
            return
        try:
            if await anyio.to_thread.run_sync(reannounce, self.state, *self._announced):
                log.warning("daemon.reannounced", file=str(self.state.file(DAEMON_FILE)), why="missing or damaged")
        except (StateError, OSError) as exc:
            log.error("daemon.announce_failed", error=str(exc))

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_interval or 15.0
        while True:
            self.notifier.watchdog()
            await anyio.sleep(interval)

    async def health(self) -> dict[str, Any]:
        """The body of ``GET /healthz``: the verdict and its reasons (see :mod:`crosswatch.status`), then facts."""
        from crosswatch.status import Reason, assess, gather

        facts = self.facts()
        verdict, reasons, jobs = "ok", [], []
        if self.config is not None:
            try:
                status = await anyio.to_thread.run_sync(gather, self.config, self.host)
                status.reasons = assess(self.config, status, facts)
                verdict, reasons = status.verdict, status.reasons
                jobs = [j.to_json() for j in status.jobs]
            except Exception as exc:  # the endpoint answers whatever happens to the history
                verdict, reasons = "degraded", [Reason("degraded", "status", f"cannot read the run history: {exc}")]
        return {"status": verdict, "reasons": [asdict(r) for r in reasons], **facts, "last_runs": jobs}

    def facts(self) -> dict[str, Any]:
        """What only the running daemon knows: version, uptime, services, scrobbling, the guard."""
        config = self.config
        return {
            "version": __version__,
            "backend": _backend(),
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "plugins": {name: info.status for name, info in self.host.plugins.items()},
            "providers": self.host.providers.ids(),
            "jobs": self.scheduler.describe() if self.scheduler else [],
            "reloads": self.reloads,
            "rejected_reloads": self.rejected,
            "config_rejected": self.rejected_because,
            "crash_looping": self.supervisor.crash_looping() if self.supervisor else {},
            "trakt_budget": read_budgets("TRAKT"),
            "scrobble": self.scrobbles.stats() if self.scrobbles else {},
            "guard": self.scrobbles.guard.describe() if self.scrobbles else {},
            "bus": {
                "dropped": self.bus.dropped if self.bus else 0,
                "buffer": config.daemon.event_buffer if config else 0,
            },
        }


def _address(sock: Any) -> str | None:
    """The address actually bound (port 0 in the config means "any free port")."""
    if sock is None:
        return None
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _backend() -> str:
    import sniffio

    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return "none"
