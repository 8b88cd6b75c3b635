"""``crosswatch unresolved list|clear``: items frozen with their reason, and releasing them."""

from __future__ import annotations

import argparse
import sys

from crosswatch.commands.common import config_dir, fail, print_json
from crosswatch.state import StateDir, StateError
from crosswatch.unresolved import UnresolvedStore, list_unresolved


def cmd_list(args: argparse.Namespace) -> int:
    state = StateDir(config_dir(args))
    try:
        rows = list_unresolved(state)
    except StateError as exc:
        return fail(exc)
    rows = [
        r
        for r in rows
        if (not args.provider or r["provider"] == args.provider) and (not args.feature or r["feature"] == args.feature)
    ]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no unresolved items")
        return 0
    for row in rows:
        item = row["item"]  # every entry has its item, reason and since (the file's shape is checked)
        title = item.get("show_title") or item.get("title") or "?"
        where = f"{row['provider']:<12} {row['feature']:<10} {row['key']}"
        print(f"{where}  {title}  -- {row['reason']} (since {row['since']})")
    print(f"{len(rows)} unresolved item(s); release with: crosswatch unresolved clear --provider P --feature F")
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    state = StateDir(config_dir(args))
    store = UnresolvedStore(state, args.provider)
    try:
        frozen = store.load(args.feature)
    except StateError as exc:
        return fail(exc)
    count = len(frozen) if not args.key else len(set(args.key) & set(frozen))
    if count == 0:
        print("nothing to release")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            return fail("refusing to release without --yes (no terminal to ask on)")
        answer = input(f"Release {count} frozen {args.provider} {args.feature} item(s)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing released")
            return 1
    released = store.release(args.feature, args.key)
    print(f"released {released} item(s); the next run tries them again")
    return 0
