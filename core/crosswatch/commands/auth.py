"""``crosswatch auth PROVIDER`` and ``crosswatch emulator NAME``: both found through the plugins."""

from __future__ import annotations

import argparse
import importlib
import sys

import anyio

from crosswatch.commands.common import config_dir, fail, plugin_host, quiet_logging
from crosswatch.config import ConfigError, load_config
from crosswatch.http import HttpError
from crosswatch.plugins import PluginHost
from crosswatch.provider import AuthContext, ProviderSpec
from crosswatch.state import StateDir


def _spec(host: PluginHost, section: str) -> ProviderSpec | None:
    return host.providers.by_section(section.lower())


def cmd_auth(args: argparse.Namespace) -> int:
    quiet_logging(args)
    folder = config_dir(args)
    host = plugin_host(folder)
    spec = _spec(host, args.provider)
    if spec is None or spec.auth is None:
        return fail(f"no provider {args.provider!r} with a sign-in flow (crosswatch plugins list shows the providers)")
    try:
        config = load_config(folder, host.sections())
        section = config.sections[spec.section]
        if args.profile not in section.profiles:
            return fail(f"[{spec.section}] has no profile {args.profile!r}")
        state = StateDir(folder)
        state.ensure()
        ctx = AuthContext(args.profile, section.profiles[args.profile], state, lambda text: print(text, flush=True))
        anyio.run(spec.auth, ctx)
    except ConfigError as exc:
        return fail(exc)
    except HttpError as exc:
        return fail(f"{spec.title or spec.id} sign-in failed: {exc}")
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
