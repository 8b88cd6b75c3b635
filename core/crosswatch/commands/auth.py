"""``crosswatch auth PROVIDER`` and ``crosswatch emulator NAME``: both found through the plugins."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Awaitable, Callable

import anyio

from crosswatch.commands.common import config_dir, fail, plugin_host, quiet_logging
from crosswatch.config import ConfigError, load_config
from crosswatch.http import HttpError
from crosswatch.provider import AuthContext
from crosswatch.state import StateDir


def cmd_auth(args: argparse.Namespace) -> int:
    quiet_logging(args)
    folder = config_dir(args)
    host = plugin_host(folder)
    flows: dict[str, Callable[[AuthContext], Awaitable[None]]] = {}
    for _plugin, found in host.call_each("crosswatch_auth_flows"):
        flows.update(found or {})
    section = args.provider.lower()
    sign_in = flows.get(section)
    if sign_in is None:
        return fail(f"no sign-in for {args.provider!r} (available: {', '.join(sorted(flows)) or 'none'})")
    try:
        config = load_config(folder, host.sections())
        profiles = config.sections[section].profiles
        if args.profile not in profiles:
            return fail(f"[{section}] has no profile {args.profile!r}")
        state = StateDir(folder)
        state.ensure()
        ctx = AuthContext(args.profile, profiles[args.profile], state, lambda text: print(text, flush=True))
        anyio.run(sign_in, ctx)
    except ConfigError as exc:
        return fail(exc)
    except HttpError as exc:
        return fail(f"{section} sign-in failed: {exc}")
    return 0


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
