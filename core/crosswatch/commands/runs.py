"""``crosswatch runs``: the run history, newest first."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from crosswatch.commands.common import config_dir, fail, print_json, run


def when(epoch: float | None) -> str:
    """Local time of an epoch, to the second ("-" for none)."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def counts_text(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "-"


def subject(run: Any) -> str:
    """What a run was about, for a person: the pair, or provider[.profile] feature."""
    if run.pair:
        return run.pair
    who = run.provider or ""
    if run.profile and run.profile != "default":
        who += f".{run.profile}"
    return " ".join(p for p in (who, run.feature) if p) or run.job


def cmd_runs(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.runs import RunHistory
        from crosswatch.state import StateDir

        if args.limit < 1:
            return fail("--limit must be at least 1")
        folder = config_dir(args)
        if not folder.is_dir():
            return fail(f"{folder}: no such config directory")
        history = RunHistory(StateDir(folder))
        history.sweep()
        found = history.list(pair=args.pair, kind=args.kind, failed=args.failed, limit=args.limit)
        if args.json:
            print_json([r.to_json() for r in found])
            return 0
        if not found:
            print("no runs recorded" + (" that match" if args.pair or args.kind or args.failed else ""))
            return 0
        print(f"{'ID':>6}  {'STARTED':<19}  {'KIND':<8} {'WHAT':<24} {'TRIGGER':<8} {'RESULT':<11} {'TIME':>7}  COUNTS")
        for r in found:
            took = f"{r.seconds:.1f}s" if r.seconds is not None else "-"
            print(
                f"{r.id:>6}  {when(r.started):<19}  {r.kind:<8} {subject(r)[:24]:<24} {r.trigger:<8} "
                f"{r.result:<11} {took:>7}  {counts_text(r.counts)}"
            )
            if r.error and r.result != "ok":
                print(f"{'':>8}{r.error}")
        return 0

    return run(args, work)
