"""``crosswatch tools clear``: clear a feature on a provider, after a safety capture."""

from __future__ import annotations

import argparse

from crosswatch.captures.plan import describe
from crosswatch.captures.tools import clear_feature
from crosswatch.commands.capture import context, format_counts
from crosswatch.commands.common import ask, print_json, run
from crosswatch.commands.stopping import run_async


def cmd_clear(args: argparse.Namespace) -> int:
    def work() -> int:
        ctx = context(args, guard=True)
        preview = run_async(lambda: clear_feature(ctx, args.provider, args.feature, profile=args.profile, dry_run=True))
        if args.dry_run or not any(preview.found.values()):
            if args.json:
                print_json(preview.to_json())
            else:
                for feature, found in preview.found.items():
                    print(f"  {feature:<10} would remove {format_counts(found)}")
                print("dry run: nothing removed" if args.dry_run else "nothing to clear")
            return 0
        if not args.json:
            for feature, found in preview.found.items():
                print(f"  {feature:<10} {format_counts(found)}")
        who = preview.provider if preview.profile == "default" else f"{preview.provider}.{preview.profile}"
        if not ask(f"Remove all of this from {who}? A safety capture is taken first.", args.yes):
            return 1
        report = run_async(lambda: clear_feature(ctx, args.provider, args.feature, profile=args.profile))
        if args.json:
            print_json(report.to_json())
            return 0 if report.ok else 1
        for name in report.safety:
            print(f"safety capture {name}")
        for feature, removed in report.removed.items():
            print(f"  {feature:<10} removed {format_counts(removed)}")
        for item, reason in report.failed[:20]:
            print(f"  failed {describe(item)}: {reason}")
        print("cleared" if report.ok else f"cleared with {len(report.failed)} failure(s)")
        return 0 if report.ok else 1

    return run(args, work)
