"""``crosswatch plugins list``."""

from __future__ import annotations

import argparse

from crosswatch.commands.common import (
    config_dir,
    plugin_host,
    print_json,
    quiet_logging,
)


def cmd_list(args: argparse.Namespace) -> int:
    quiet_logging(args)
    host = plugin_host(config_dir(args))
    rows = host.listing()
    if args.json:
        print_json(rows)
        return 0
    header = ("NAME", "SOURCE", "STATUS", "PROVIDERS", "SECTIONS", "ORIGIN")
    table = [header] + [
        (
            r["name"],
            r["source"],
            r["status"],
            ",".join(r["providers"]) or "-",
            ",".join(r["sections"]) or "-",
            r["origin"],
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    for r in rows:
        if r["error"]:
            print(f"  {r['name']}: {r['error']}")
    return 0
