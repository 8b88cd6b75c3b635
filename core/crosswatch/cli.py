"""The command line. Kept import-light: each command's module is imported only when it runs."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from crosswatch import __version__
from crosswatch.cli_capture import add_capture, add_tools
from crosswatch.cli_common import command
from crosswatch.cli_sync import add_sync
from crosswatch.model import Feature


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crosswatch",
        description="Keep watch state in step between Plex, Trakt and other providers, with restorable captures.",
    )
    parser.add_argument("--version", action="version", version=f"crosswatch {__version__}")
    parser.add_argument(
        "--config-dir",
        metavar="DIR",
        help="config directory (default: $CROSSWATCH_CONFIG_DIR, else /config)",
    )
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        help="log format (default: the config's log.format; auto = console on a terminal, JSON otherwise)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bars or progress lines on stderr for long work"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = command(sub, "run", "run:cmd_run", help="run the daemon in the foreground (systemd runs this)")
    run.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio", help="async backend")

    command(
        sub, "init", "init:cmd_init", help="write a commented starter config.toml (never overwrites) and say what next"
    )

    status = command(
        sub,
        "status",
        "status:cmd_status",
        help="is everything fine? the daemon, each job's last and next run, sign-ins",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")

    runs = command(sub, "runs", "runs:cmd_runs", help="the run history: every sync, capture, restore, prune and clear")
    runs.add_argument("--pair", help="only this pair's runs")
    runs.add_argument("--kind", help="only runs of this kind (sync, capture, restore, prune, clear, sign-in)")
    runs.add_argument("--failed", action="store_true", help="only runs that did not end well")
    runs.add_argument("--limit", type=int, default=20, help="at most this many, newest first (default 20)")
    runs.add_argument("--json", action="store_true", help="machine-readable output")

    demo = command(
        sub,
        "demo",
        "demo:cmd_demo",
        help="everything against the Plex, Trakt and Jellyfin emulators, in a temporary folder",
    )
    demo.add_argument("--seed", type=int, default=7, help="seed of the emulated library (default 7)")
    demo.add_argument("--size", type=int, default=300, help="titles in the emulated library (default 300)")
    demo.add_argument("--keep", metavar="DIR", help="keep the config, state and captures in DIR")

    config = sub.add_parser("config", help="work with the config").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    check = command(
        config,
        "check",
        "config:cmd_check",
        help="validate config.toml and schedules.toml; exit 1 naming file:line and key",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")

    plugins = sub.add_parser("plugins", help="installed plugins").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    listing = command(
        plugins, "list", "plugins:cmd_list", help="each plugin, where it came from and the providers it registered"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    auth = command(sub, "auth", "auth:cmd_auth", help="sign in to a provider (Trakt device code, Plex PIN)")
    auth.add_argument("provider", metavar="PROVIDER", help="provider section, e.g. trakt or plex")
    auth.add_argument("--profile", default="default", help="provider profile (default: default)")

    emulator = command(
        sub,
        "emulator",
        "emulator:cmd_emulator",
        help="run a provider's emulator on loopback (prints a config block first)",
        add_help=False,
    )
    emulator.add_argument("provider", metavar="PROVIDER", help="provider section, e.g. trakt or plex")
    emulator.add_argument("args", nargs=argparse.REMAINDER, help="the emulator's own options (--help lists them)")

    unresolved = sub.add_parser("unresolved", help="items frozen because they could not be matched or written")
    actions = unresolved.add_subparsers(dest="action", metavar="ACTION", required=True)
    ulist = command(actions, "list", "unresolved:cmd_list", help="every frozen item with its reason")
    ulist.add_argument("--provider", help="only this provider (file prefix, e.g. trakt)")
    ulist.add_argument("--feature", choices=[f.value for f in Feature])
    ulist.add_argument("--json", action="store_true", help="machine-readable output")
    uclear = command(
        actions, "clear", "unresolved:cmd_clear", help="release frozen items so the next run tries them again"
    )
    uclear.add_argument("--provider", required=True, help="provider (file prefix, e.g. trakt or trakt-kids)")
    uclear.add_argument("--feature", required=True, choices=[f.value for f in Feature])
    uclear.add_argument("--key", action="append", help="only this item key (repeatable); default: all of the feature")
    uclear.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    web = sub.add_parser("web", help="the dashboard at the daemon's address").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    command(
        web,
        "set-password",
        "web:cmd_set_password",
        help="make a [web] password_hash (asks twice on a terminal, else reads one line of stdin) and print it",
    )
    add_capture(sub)
    add_tools(sub)
    add_sync(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure ends as lines on stderr and exit 1 (see :mod:`crosswatch.errors`)."""
    args = build_parser().parse_args(argv)
    module_name, func_name = args.handler.split(":")
    http = sys.modules.get("crosswatch.http")
    if http is not None:  # a command starts as a new process does (a test may run several in one)
        http.forget_policies()
    from crosswatch.commands.common import report
    from crosswatch.commands.stopping import Interrupted

    try:
        module = importlib.import_module(f"crosswatch.commands.{module_name}")
        return int(getattr(module, func_name)(args) or 0)
    except Interrupted as exc:
        print(f"crosswatch: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 1
    except Exception as exc:
        return report(exc, verbose=args.verbose)
