"""``crosswatch run``: the daemon in the foreground."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable


def cmd_run(args: argparse.Namespace) -> int:
    # before anything heavy is imported: a SIGTERM during start-up (systemctl stop right after
    # start) is noted and stops the daemon cleanly once it runs, never kills it half-started
    early: list[int] = []

    def note(signum: int, _frame: object) -> None:
        if signum != signal.SIGHUP:  # a reload during start-up: the config is read anyway
            early.append(signum)

    def install(handler: signal.Handlers | Callable[[int, object], None]) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, handler)

    install(note)

    import anyio
    import structlog

    from crosswatch import logging as cw_logging
    from crosswatch.commands.common import config_dir
    from crosswatch.config import ConfigError, check_config_dir
    from crosswatch.daemon import Daemon

    cw_logging.configure(args.log_format or "auto", "debug" if args.verbose else "info")
    log = structlog.get_logger("crosswatch.daemon")
    folder = config_dir(args)
    daemon = Daemon(folder, log_format=args.log_format, verbose=args.verbose)
    daemon.early_signals = early
    # once stopped, a late SIGTERM has nothing left to stop: ignored, not fatal (SIG_IGN, because
    # Python resets its own handlers to the default while the interpreter exits)
    daemon.after_signals = lambda: install(signal.SIG_IGN)
    try:
        check_config_dir(folder)
        daemon.prepare()
    except ConfigError as exc:
        for issue in exc.issues:
            log.error("config.invalid", issue=str(issue))
        log.error("daemon.not_started", hint="fix the config (crosswatch config check) and start again")
        return 1
    return anyio.run(daemon.run, backend=args.backend)
