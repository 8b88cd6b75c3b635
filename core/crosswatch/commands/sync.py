"""``crosswatch sync run|plan|apply|pairs``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import anyio

from crosswatch.captures.plan import describe
from crosswatch.commands.capture import context
from crosswatch.commands.common import ask, print_json, run
from crosswatch.commands.stopping import run_async
from crosswatch.model import Feature


def _options(args: argparse.Namespace, dry_run: bool) -> Any:
    from crosswatch.sync.engine import Options

    return Options(
        features=[Feature(f) for f in args.feature] if args.feature else None,
        dry_run=dry_run,
        full=args.full,
        allow_shrink=args.allow_shrink,
        allow_removals=args.allow_removals,
    )


def _pair(ctx: Any, name: str) -> Any:
    from crosswatch.sync.pairs import find_pair

    return find_pair(ctx.config, ctx.host.providers, name)


# -- printing -------------------------------------------------------------------------------


def plan_rows(plans: list[Any]) -> list[dict[str, Any]]:
    """What each direction of each feature would do, per media type."""
    rows = []
    for plan in plans:
        for change in plan.changes:
            kinds: dict[str, dict[str, int]] = {}
            for action, items in (("add", change.add), ("update", change.update), ("remove", change.remove)):
                for item in items:
                    kinds.setdefault(str(item.type), {"add": 0, "update": 0, "remove": 0})[action] += 1
            for kind, counts in sorted(kinds.items()):
                rows.append({"feature": plan.feature.value, "target": change.target, "type": kind, **counts})
    return rows


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    head = ["feature", "target", "type", *columns]
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in head]
    print(
        "  " + "  ".join(h.ljust(w) if i < 3 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths, strict=True)))
    )
    for row in rows:
        cells = [str(row[h]) for h in head]
        print(
            "  "
            + "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        )


def print_plan(pair: Any, plans: list[Any], verbose: bool = False) -> None:
    arrow = "<->" if pair.two_way else "->"
    print(f"plan {pair.name}: {pair.source.name} {arrow} {pair.target.name}")
    rows = plan_rows([p for p in plans if not p.refused])
    if rows:
        _table(rows, ["add", "update", "remove"])
    else:
        print("  nothing to do")
    for plan in plans:
        if plan.refused:
            print(f"  REFUSED {plan.feature}: {plan.refused}")
        if verbose:
            for change in plan.changes:
                for action in ("add", "update", "remove"):
                    for item in getattr(change, action):
                        print(f"    {change.target} {action:<6} {describe(item)}")


def print_report(pair: Any, report: Any) -> None:
    from crosswatch.sync.report import summary_rows
    from crosswatch.unresolved import FROZEN_REASON

    arrow = "<->" if pair.two_way else "->"
    took = f"{report.seconds} s, {report.requests} requests"
    print(f"sync {pair.name}: {pair.source.name} {arrow} {pair.target.name} ({took})")
    for name in report.safety:
        print(f"  safety capture {name}")
    for plan in report.plans:
        if plan.first_run and not plan.settled:
            print(
                f"  {plan.feature}: no baseline (a first run, or it was deleted or damaged): nothing was removed, "
                "each side written was captured first, and crosswatch's earlier writes came from its journal"
            )
    rows = summary_rows(report)
    if rows:
        _table(rows, ["added", "updated", "removed", "failed", "unresolved"])
    else:
        print("  nothing to do")
    for (feature, target), tally in sorted(report.tallies.items()):
        for item, what, why in tally.problems[:10]:
            print(f"  {what} {target} {feature}: {describe(item)}: {why}")
        if len(tally.problems) > 10:
            print(
                f"  ... {len(tally.problems) - 10} more {target} {feature} problems (see `crosswatch unresolved list`)"
            )
    frozen = sum(1 for p in report.plans for c in p.changes for _, why in c.skipped if why == FROZEN_REASON)
    if frozen:
        print(f"  {frozen} items frozen on a target earlier were left out (`crosswatch unresolved list`)")
    for reason in report.refused:
        print(f"  REFUSED: {reason}")


def report_json(report: Any) -> dict[str, Any]:
    from crosswatch.sync.report import summary_rows

    return {
        "pair": report.pair,
        "mode": report.mode,
        "dry_run": report.dry_run,
        "seconds": report.seconds,
        "requests": report.requests,
        "safety_captures": report.safety,
        "summary": summary_rows(report),
        "plan": plan_rows(report.plans),
        "refused": {p.feature.value: p.refused for p in report.plans if p.refused},
        "first_run": [p.feature.value for p in report.plans if p.first_run and not p.settled],
        "settled": [p.feature.value for p in report.plans if p.settled],  # unchanged: read, not planned
        "ok": report.ok,
    }


# -- commands -------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.sync.engine import run_pair

        ctx = context(args, guard=not args.dry_run)
        pair = _pair(ctx, args.pair)

        async def run() -> int:
            report = await run_pair(ctx, pair, _options(args, args.dry_run))
            if args.json:
                print_json(report_json(report))
            elif args.dry_run:
                print_plan(pair, report.plans, args.list_items)
                print("dry run: nothing written")
            else:
                print_report(pair, report)
            return 0 if report.ok else 1

        return run_async(run)

    return run(args, work)


def cmd_plan(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.sync import planfile
        from crosswatch.sync.engine import make_plans, opened_pair, read_state

        ctx = context(args)
        pair = _pair(ctx, args.pair)
        options = _options(args, dry_run=True)

        async def plan() -> int:
            async with opened_pair(ctx, pair) as providers:
                state = await read_state(ctx, pair, providers, options)
            plans = make_plans(ctx, pair, state, options)
            out = Path(args.output)
            await anyio.to_thread.run_sync(planfile.write, out, planfile.to_file(pair, plans, state))
            if args.json:
                print_json(
                    {"plan": str(out), "rows": plan_rows(plans), "refused": [p.refused for p in plans if p.refused]}
                )
            else:
                print_plan(pair, plans)
                print(f"written to {out}; apply it with: crosswatch sync apply {out}")
            return 0

        return run_async(plan)

    return run(args, work)


def cmd_apply(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.sync import planfile

        path = Path(args.plan)
        loaded = planfile.read(path)
        ctx = context(args, guard=True)
        pair = _pair(ctx, loaded.pair)
        planfile.check_pair(path, loaded, pair)
        plans, _ = planfile.from_file(loaded)
        if not args.json:
            print_plan(pair, plans)
        if not ask(f"Apply this plan (made {loaded.created})?", args.yes):
            return 1

        async def apply() -> int:
            report = await planfile.apply_file(ctx, pair, path, loaded)
            if args.json:
                print_json(report_json(report))
            else:
                print_report(pair, report)
            return 0 if report.ok else 1

        return run_async(apply)

    return run(args, work)


def cmd_pairs(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.sync.pairs import resolve_pairs

        ctx = context(args)
        pairs, errors = resolve_pairs(ctx.config, ctx.host.providers)
        rows: list[dict[str, Any]] = [
            {
                "name": p.name,
                "source": p.source.name,
                "target": p.target.name,
                "mode": p.mode,
                "features": {f.value: {"add": a, "remove": r} for f, (a, r) in p.features.items()},
                "schedule": p.schedule,
            }
            for p in pairs
        ]
        if args.json:
            print_json({"pairs": rows, "errors": errors})
        else:
            for r in rows:
                feats = ", ".join(
                    f + ("" if s["add"] else " (no adds)") + (" +removals" if s["remove"] else "")
                    for f, s in r["features"].items()
                )
                arrow = "<->" if r["mode"] == "two-way" else "->"
                when = r["schedule"] or "on demand"
                print(f"{r['name']:<20} {r['source']} {arrow} {r['target']}  {feats}  {when}")
            for e in errors:
                print(f"error: {e}", file=sys.stderr)
            if not rows and not errors:
                print("no pairs configured ([[pairs]] in config.toml)")
        return 1 if errors else 0

    return run(args, work)
