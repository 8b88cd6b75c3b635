"""``crosswatch emulator NAME [args...]``: run an emulator a plugin ships."""

from __future__ import annotations

import argparse
import importlib
import sys

from crosswatch.commands.common import config_dir, fail, plugin_host, quiet_logging


def cmd_emulator(args: argparse.Namespace) -> int:
    quiet_logging(args)
    host = plugin_host(config_dir(args))
    emulators: dict[str, str] = {}
    for _plugin, found in host.call_each("crosswatch_emulators"):
        emulators.update(found or {})
    target = emulators.get(args.provider.lower())
    if target is None:
        return fail(f"no emulator {args.provider!r} (available: {', '.join(sorted(emulators)) or 'none'})")
    module_name, _, func = target.partition(":")
    main = getattr(importlib.import_module(module_name), func)
    sys.stdout.flush()
    return int(main(list(args.args)) or 0)
