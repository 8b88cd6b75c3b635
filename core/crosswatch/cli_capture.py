"""The ``capture`` and ``tools`` command-line parsers (argparse only: kept import-light)."""

from __future__ import annotations

import argparse

from crosswatch.cli_common import command
from crosswatch.model import Feature

FEATURES = [f.value for f in Feature]


def _provider(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--provider", required=required, help="provider section or id, e.g. trakt, plex, plex.kids")
    p.add_argument("--profile", help="provider profile (default: default, or the one in --provider)")


def add_capture(sub: argparse._SubParsersAction) -> None:
    capture = sub.add_parser("capture", help="point-in-time captures: create, list, restore, compare, delete")
    actions = capture.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = command(
        actions, "create", "capture:cmd_create", help="capture one feature (or all) of a provider profile now"
    )
    _provider(create)
    create.add_argument("--feature", required=True, choices=[*FEATURES, "all"])
    create.add_argument("--label", default="", help="short name, e.g. before-cleanup")
    create.add_argument("--json", action="store_true", help="machine-readable output")

    listing = command(actions, "list", "capture:cmd_list", help="captures, newest first; bundles with their children")
    listing.add_argument("--provider", help="only this provider (id, e.g. TRAKT)")
    listing.add_argument("--feature", choices=[*FEATURES, "all"])
    listing.add_argument("--type", choices=["manual", "auto", "safety"])
    listing.add_argument("--search", help="text to find in provider, feature, label or path")
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    show = command(actions, "show", "capture:cmd_show", help="a capture's header and stats (and items with --items)")
    show.add_argument("capture", metavar="CAPTURE", help="name as listed, file name, or path")
    show.add_argument("--items", action="store_true", help="list the items too")
    show.add_argument("--json", action="store_true", help="machine-readable output")

    restore = command(
        actions, "restore", "capture:cmd_restore", help="write a capture back into its provider (plan first)"
    )
    restore.add_argument("capture", metavar="CAPTURE")
    restore.add_argument("--mode", required=True, choices=["merge", "clear"], help="merge: add and fix; clear: replace")
    restore.add_argument("--provider", help="refuse unless the capture is of this provider")
    restore.add_argument("--profile", help="restore into this profile of the capture's provider")
    restore.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.add_argument("--verbose", dest="list_items", action="store_true", help="list the items of the plan")
    restore.add_argument("--json", action="store_true", help="machine-readable output")

    compare = command(
        actions, "compare", "capture:cmd_compare", help="what changed between two captures of one provider"
    )
    compare.add_argument("a", metavar="A")
    compare.add_argument("b", metavar="B")
    compare.add_argument("--json", action="store_true", help="machine-readable output")
    compare.add_argument("--summary", action="store_true", help="counts only, no items")

    delete = command(actions, "delete", "capture:cmd_delete", help="delete a capture file (a bundle with its children)")
    delete.add_argument("capture", metavar="CAPTURE")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    prune = command(actions, "prune", "capture:cmd_prune", help="apply the schedules' retention now")
    prune.add_argument("--schedule", help="only this schedule (name as in `capture schedule list`)")
    prune.add_argument("--dry-run", action="store_true", help="say what would be deleted")
    prune.add_argument("--json", action="store_true", help="machine-readable output")

    schedule = actions.add_parser("schedule", help="capture schedules kept in schedules.toml")
    sched = schedule.add_subparsers(dest="sub", metavar="ACTION", required=True)
    add = command(sched, "add", "capture_schedule:cmd_add", help="queue a capture setup for the scheduler")
    _provider(add)
    add.add_argument("--feature", required=True, choices=[*FEATURES, "all"])
    add.add_argument("--cron", required=True, help='cron expression, e.g. "0 3 * * *", or @daily')
    add.add_argument("--name", default="", help="schedule name (default: <provider>-<feature>)")
    add.add_argument("--label-template", default="auto-{provider}-{feature}-{date}")
    add.add_argument("--keep-days", type=int, default=0, help="delete this schedule's captures older than N days")
    add.add_argument("--max-keep", type=int, default=0, help="keep at most the newest N of this schedule's captures")
    add.add_argument("--no-cleanup", action="store_true", help="do not prune after each capture")
    add.add_argument("--timezone", default="", help="time zone of the cron (default: daemon.timezone)")
    slist = command(
        sched, "list", "capture_schedule:cmd_list", help="every capture schedule (config.toml and schedules.toml)"
    )
    slist.add_argument("--json", action="store_true", help="machine-readable output")
    remove = command(sched, "remove", "capture_schedule:cmd_remove", help="remove a schedule from schedules.toml")
    remove.add_argument("name", metavar="NAME")


def add_tools(sub: argparse._SubParsersAction) -> None:
    tools = sub.add_parser("tools", help="maintenance tools that write to a provider")
    actions = tools.add_subparsers(dest="action", metavar="ACTION", required=True)
    clear = command(
        actions, "clear", "tools:cmd_clear", help="clear a feature on a provider (a safety capture is taken first)"
    )
    _provider(clear)
    clear.add_argument("--feature", required=True, choices=[*FEATURES, "all"])
    clear.add_argument("--dry-run", action="store_true", help="say what would be removed")
    clear.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    clear.add_argument("--json", action="store_true", help="machine-readable output")
