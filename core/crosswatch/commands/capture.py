"""``crosswatch capture create|list|show|restore|compare|delete|prune``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from crosswatch.captures.format import CaptureError
from crosswatch.captures.plan import describe
from crosswatch.captures.store import CaptureRef
from crosswatch.commands.common import ask, config_dir, print_json, quiet_logging, run
from crosswatch.commands.stopping import run_async

if TYPE_CHECKING:
    from crosswatch.jobs import JobContext


def context(args: argparse.Namespace, *, guard: bool = False) -> JobContext:
    """Config, plugins and (for commands that write to a provider) the daemon's guard."""
    from crosswatch.commands.common import plugin_host
    from crosswatch.config import load_config
    from crosswatch.jobs import JobContext
    from crosswatch.listener_pause import DaemonGuard

    quiet_logging(args)
    folder = config_dir(args)
    host = plugin_host(folder)
    config = load_config(folder, host.sections())
    bus = None
    if guard:
        bus = DaemonGuard(config)
        command = " ".join(p for p in ("crosswatch", args.command, getattr(args, "action", None)) if p)
        bus.check(f"`{command}` writes")
    return JobContext(config, host, bus, say=lambda text: print(text, file=sys.stderr, flush=True))


def format_counts(by_type: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n:,}" for kind, n in by_type.items()) or "none"


def _ref_json(ref: CaptureRef) -> dict[str, Any]:
    out: dict[str, Any] = {"path": ref.rel}
    if ref.header is None:
        out["error"] = ref.error
        return out
    h = ref.header
    out.update(
        provider=h.provider,
        profile=h.profile,
        feature=h.feature,
        created=h.created,
        label=h.label,
        type=h.type,
        schedule=h.schedule,
        count=h.stats.count,
        by_type=h.stats.by_type,
        without_date=h.stats.without_date,
    )
    if h.children:
        out["children"] = [c.path for c in h.children]
    return out


# -- create -------------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.captures.create import create_capture

        ctx = context(args)
        written = run_async(
            lambda: create_capture(ctx, args.provider, args.feature, profile=args.profile, label=args.label)
        )
        if args.json:
            print_json([_ref_json(r) for r in written])
            return 0
        for ref in written:
            assert ref.header is not None
            stats = ref.header.stats
            kind = "bundle" if ref.is_bundle else ref.header.feature
            print(f"created {ref.rel}  ({kind}: {stats.count:,} items; {format_counts(stats.by_type)})")
            if stats.without_date and not ref.is_bundle:
                print(f"  {stats.without_date:,} items without a date were not captured")
        return 0

    return run(args, work)


# -- list / show --------------------------------------------------------------------------


def _matches(ref: CaptureRef, args: argparse.Namespace) -> bool:
    h = ref.header
    if h is None:
        return not (args.provider or args.feature or args.type) and (
            not args.search or args.search.lower() in ref.rel.lower()
        )
    if args.provider and h.provider != args.provider.split(".", 1)[0].upper():
        return False
    if args.feature and h.feature != args.feature:
        return False
    if args.type and h.type != args.type:
        return False
    if args.search:
        text = " ".join((h.provider, h.profile, h.feature, h.label, h.schedule, ref.rel)).lower()
        return args.search.lower() in text
    return True


def cmd_list(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.captures.store import CaptureStore

        store = CaptureStore(config_dir(args))
        refs = store.refs()
        by_rel = {r.rel: r for r in refs}
        children = {c.path for r in refs if r.header is not None for c in r.header.children}
        tops = [r for r in refs if r.rel not in children]
        shown = [r for r in reversed(tops) if _matches(r, args) or _child_matches(r, by_rel, args)]
        if args.json:
            rows = []
            for ref in shown:
                row = _ref_json(ref)
                if ref.header is not None and ref.header.children:
                    row["children"] = [_ref_json(by_rel[c.path]) for c in ref.header.children if c.path in by_rel]
                rows.append(row)
            print_json(rows)
            return 0
        if not shown:
            print("no captures" + (" match" if any((args.provider, args.feature, args.type, args.search)) else ""))
            return 0
        for ref in shown:
            _print_row(ref, "")
            if ref.header is not None:
                for child in ref.header.children:
                    found = by_rel.get(child.path)
                    if found is not None:
                        _print_row(found, "  └ ")
                    else:
                        print(f"  └ {child.path}  MISSING")
        print(f"{len(shown)} capture(s) in {store.root}")
        return 0

    return run(args, work)


def _child_matches(ref: CaptureRef, by_rel: dict[str, CaptureRef], args: argparse.Namespace) -> bool:
    if ref.header is None or not ref.header.children:
        return False
    return any(c.path in by_rel and _matches(by_rel[c.path], args) for c in ref.header.children)


def _print_row(ref: CaptureRef, indent: str) -> None:
    h = ref.header
    if h is None:
        print(f"{indent}{ref.rel}  UNREADABLE: {ref.error}")
        return
    who = h.provider if h.profile == "default" else f"{h.provider}.{h.profile}"
    kind = h.type + (f":{h.schedule}" if h.schedule else "")
    print(
        f"{indent}{ref.rel}  {who} {h.feature} {kind} {h.stats.count:,} items" + (f"  [{h.label}]" if h.label else "")
    )


def cmd_show(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.captures.store import CaptureStore

        store = CaptureStore(config_dir(args))
        path = store.find(args.capture)
        capture = store.load(path)
        if args.json:
            data = _ref_json(store.header(path))
            data["sha256"] = capture.sha256
            if args.items:
                import msgspec

                data["items"] = msgspec.to_builtins(capture.items)
            print_json(data)
            return 0
        h = capture
        print(f"capture   {store.rel(path)}")
        print(f"provider  {h.provider} (profile {h.profile})")
        print(f"feature   {h.feature}")
        print(f"created   {h.created}")
        print(
            f"type      {h.type}"
            + (f" (schedule {h.schedule})" if h.schedule else "")
            + (f": {h.reason}" if h.reason else "")
        )
        if h.label:
            print(f"label     {h.label}")
        print(f"items     {h.stats.count:,} ({format_counts(h.stats.by_type)})")
        if h.stats.without_date:
            print(f"          {h.stats.without_date:,} items without a date were not captured")
        for child in h.children:
            print(f"  {child.feature:<10} {child.path} ({child.count:,} items)")
        if args.items:
            for item in capture.items:
                print(f"  {describe(item)}")
        return 0

    return run(args, work)


# -- restore ------------------------------------------------------------------------------


def _print_plan(report: Any, verbose: bool) -> None:
    print(f"restore {report.capture} into {report.provider} (profile {report.profile}), mode {report.mode}:")
    for outcome in report.features:
        plan = outcome.plan
        counts = plan.counts()
        parts = [f"{name} {format_counts(c)}" for name, c in counts.items() if c]
        print(
            f"  {plan.feature:<10} "
            + ("; ".join(parts) if parts else "nothing to do")
            + f"; unchanged {plan.unchanged:,}"
        )
        for note in plan.notes:
            print(f"    note: {note}")
        if verbose:
            for name in ("remove", "add", "update"):
                for item in getattr(plan, name):
                    print(f"    {name:<6} {describe(item)}")


def cmd_restore(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.captures.restore import restore_capture

        ctx = context(args, guard=not args.dry_run)

        def confirm(report: Any) -> bool:
            if not args.json:
                _print_plan(report, args.list_items)
            what = "Clear and restore" if args.mode == "clear" else "Apply"
            return ask(f"{what} this plan on {report.provider}?", args.yes)

        async def restore() -> int:
            # report and print inside the loop: a large report returned from anyio.run costs
            # seconds on Python 3.11 (asyncio's runner takes the repr of the finished task)
            report = await restore_capture(
                ctx,
                args.capture,
                args.mode,
                provider=args.provider,
                profile=args.profile,
                dry_run=args.dry_run,
                confirm=confirm,
            )
            return _restored(report, args)

        return run_async(restore)

    return run(args, work)


def _restored(report: Any, args: argparse.Namespace) -> int:
    if args.json:
        print_json(report.to_json(args.list_items))
    elif not report.applied:
        if args.dry_run or all(f.plan.empty for f in report.features):
            _print_plan(report, args.list_items)
            print("dry run: nothing written" if args.dry_run else "nothing to restore")
        else:
            print("nothing written")
    else:
        _print_report(report)
    if not report.applied and not args.dry_run and not all(f.plan.empty for f in report.features):
        return 1
    return 0 if report.ok else 1


def _print_report(report: Any) -> None:
    for name in report.safety:
        print(f"safety capture {name}")
    for outcome in report.features:
        f = outcome.plan.feature
        print(
            f"  {f:<10} removed {format_counts(outcome.removed)}; added {format_counts(outcome.added)}; "
            f"updated {format_counts(outcome.updated)}; failed {len(outcome.failed)}; "
            f"unresolved {len(outcome.unresolved)}"
        )
        for note in outcome.plan.notes:
            print(f"    note: {note}")
        for item, reason in outcome.failed[:20]:
            print(f"    failed {describe(item)}: {reason}")
        for item, reason in outcome.unresolved[:20]:
            print(f"    unresolved {describe(item)}: {reason}")
    print("restored" if report.ok else "restored with failures")


# -- compare / delete / prune -------------------------------------------------------------


def cmd_compare(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.captures.compare import compare_captures

        report = compare_captures(context(args), args.a, args.b)
        if args.json:
            print_json(report.to_json(verbose=not args.summary))
            return 0
        print(f"{report.provider}: {report.a} -> {report.b}")
        for diff in report.features:
            if diff.only_in:
                print(f"  {diff.feature:<10} only in {report.a if diff.only_in == 'a' else report.b}")
                continue
            data = diff.to_json(verbose=False)["counts"]
            print(
                f"  {diff.feature:<10} added {format_counts(data['added'])}; removed {format_counts(data['removed'])}; "
                f"updated {format_counts(data['updated'])}"
            )
            if args.summary:
                continue
            for item in diff.added:
                print(f"    + {describe(item)}")
            for item in diff.removed:
                print(f"    - {describe(item)}")
            for item, changes in diff.updated:
                what = ", ".join(f"{k}: {a} -> {b}" for k, (a, b) in changes.items())
                print(f"    ~ {describe(item)}: {what}")
        print("no differences" if report.same else "")
        return 0

    return run(args, work)


def cmd_delete(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.captures.retention import delete_capture

        ctx = context(args)
        store = ctx.store
        path = store.find(args.capture)
        *children, top = store.doomed(path)  # refuses, deleting nothing, what it cannot prove its own
        for file in (top, *children):
            print(f"  {store.rel(file)}")
        if not ask(f"Delete {len(children) + 1} capture file(s)? Provider data is not touched.", args.yes):
            return 1
        removed = delete_capture(ctx, store.header(top))
        print(f"deleted {len(removed)} file(s)")
        return 0

    return run(args, work)


def cmd_prune(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.captures.retention import prune, prune_recorded

        ctx = context(args)
        schedules = [s for s in ctx.config.captures.schedules if not args.schedule or s.job_name == args.schedule]
        if args.schedule and not schedules:
            raise CaptureError(f"no capture schedule named {args.schedule!r} (see `crosswatch capture schedule list`)")
        if args.dry_run:
            results = prune(ctx, schedules, dry_run=True)
        else:
            job = f"prune:{args.schedule}" if args.schedule else "prune"
            results = run_async(lambda: prune_recorded(ctx, schedules, job))
        refused = any(r.refused for r in results)
        if args.json:
            rows = []
            for r in results:
                row: dict[str, Any] = {"schedule": r.schedule, "kept": r.kept, "deleted": r.deleted}
                if r.refused:
                    row["refused"] = [{"path": f.path, "reason": f.reason} for f in r.refused]
                rows.append(row)
            print_json(rows)
            return 1 if refused else 0
        verb = "would delete" if args.dry_run else "deleted"
        for r in results:
            print(
                f"{r.schedule}: kept {len(r.kept)}, {verb} {len(r.deleted)}"
                + (f", refused {len(r.refused)}" if r.refused else "")
            )
            for name in r.deleted:
                print(f"  {name}")
            for refusal in r.refused:
                print(f"  refused {refusal.path}: {refusal.reason}")
        if not results:
            print("no capture schedules")
        return 1 if refused else 0

    return run(args, work)
