"""The ``sync`` command-line parsers (argparse only: kept import-light)."""

from __future__ import annotations

import argparse

from crosswatch.cli_common import command
from crosswatch.model import Feature

FEATURES = [f.value for f in Feature]


def _guards(p: argparse.ArgumentParser) -> None:
    p.add_argument("--feature", action="append", choices=FEATURES, help="only this feature (repeatable)")
    p.add_argument(
        "--full", action="store_true", help="ignore the baselines: push the whole source state (no removals)"
    )
    p.add_argument("--allow-shrink", action="store_true", help="run once although a source reads far fewer items")
    p.add_argument("--allow-removals", action="store_true", help="run once although the plan removes many items")


def add_sync(sub: argparse._SubParsersAction) -> None:
    sync = sub.add_parser("sync", help="sync pairs: plan, apply and run")
    actions = sync.add_subparsers(dest="action", metavar="ACTION", required=True)

    run = command(actions, "run", "sync:cmd_run", help="plan and apply one run of a pair (a summary table follows)")
    run.add_argument("pair", metavar="PAIR")
    _guards(run)
    run.add_argument("--dry-run", action="store_true", help="plan and print, write nothing")
    run.add_argument("--verbose", dest="list_items", action="store_true", help="list the items of each change")
    run.add_argument("--json", action="store_true", help="machine-readable output")

    plan = command(
        actions,
        "plan",
        "sync:cmd_plan",
        help="write a readable plan of a pair's next run, without writing to providers",
    )
    plan.add_argument("pair", metavar="PAIR")
    _guards(plan)
    plan.add_argument("-o", "--output", required=True, help="plan file to write")
    plan.add_argument("--json", action="store_true", help="machine-readable summary")

    apply = command(
        actions, "apply", "sync:cmd_apply", help="apply exactly a plan written by `sync plan` (refused if stale)"
    )
    apply.add_argument("plan", metavar="PLAN")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--json", action="store_true", help="machine-readable output")

    pairs = command(
        actions, "pairs", "sync:cmd_pairs", help="the configured pairs, checked against the installed providers"
    )
    pairs.add_argument("--json", action="store_true", help="machine-readable output")
