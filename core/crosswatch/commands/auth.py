"""``crosswatch auth PROVIDER``: the sign-in flow a plugin offers (Trakt device code, Plex PIN)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from crosswatch.commands.common import config_dir, fail, plugin_host, quiet_logging
from crosswatch.config import ConfigError, load_config
from crosswatch.errors import ProviderError
from crosswatch.provider import AuthContext
from crosswatch.state import StateDir


def cmd_auth(args: argparse.Namespace) -> int:
    quiet_logging(args)
    folder = config_dir(args)
    host = plugin_host(folder)
    flows: dict[str, Callable[[AuthContext[Any]], Awaitable[None]]] = {}
    offered: dict[str, str] = {}
    for plugin, found in host.call_each("crosswatch_auth_flows"):
        for section, flow in (found or {}).items():
            if section in offered:
                return fail(f"plugins {offered[section]} and {plugin} both offer a sign-in for [{section}]")
            flows[section], offered[section] = flow, plugin
    section = args.provider.lower()
    sign_in = flows.get(section)
    if sign_in is None:
        return fail(f"no sign-in for {args.provider!r} (available: {', '.join(sorted(flows)) or 'none'})")
    try:
        config = load_config(folder, host.sections())
        if section not in config.sections:
            return fail(f"[{section}] is not in {folder / 'config.toml'}: add the section first")
        profiles = config.sections[section].profiles
        if args.profile not in profiles:
            return fail(f"[{section}] has no profile {args.profile!r}")
        state = StateDir(folder)
        state.ensure()
        ctx = AuthContext(args.profile, profiles[args.profile], state, lambda text: print(text, flush=True), _ask)
        anyio.run(sign_in, ctx)
    except ConfigError as exc:
        return fail(exc)
    except ProviderError as exc:
        return fail(f"{section} sign-in failed: {exc}")
    return 0


def _ask(prompt: str, secret: bool) -> str | None:
    """A line typed on the terminal (a secret is not echoed); None without a terminal."""
    if not sys.stdin.isatty():
        return None
    return getpass.getpass(prompt) if secret else input(prompt)
