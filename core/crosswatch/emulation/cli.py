"""The command line every emulator shares (``crosswatch emulator <provider>``).

:func:`emulator_parser` holds the common flags (``--host``, ``--port``, ``--seed``, ``--size``,
``--backend``, ``--latency-ms``); :func:`knobs_from` turns the parsed flags into the settings
object; :func:`serve_main` builds the emulator, prints its TOML block first (flushed, so
``crosswatch emulator <provider> > provider.toml`` works), logs to stderr and serves until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any, Protocol, TypeVar

from crosswatch.emulation.server import serve_forever


class ServedEmulator(Protocol):
    """What :func:`serve_main` needs of an emulator: it is an ASGI app and names its config."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    def config_toml(self, url: str) -> str: ...


E = TypeVar("E", bound=ServedEmulator)
K = TypeVar("K")


def emulator_parser(
    prog: str,
    description: str,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[argparse.ArgumentParser, argparse._ArgumentGroup]:
    """The parser with the common flags, and its ``knobs`` group (``--latency-ms`` in it already).

    ``more(parser)`` adds the emulator's own flags after ``--size`` (before ``--backend``).
    """
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free port; the TOML names it)")
    p.add_argument("--seed", type=int, default=1, help="seed of the catalogue and the user state (default 1)")
    p.add_argument("--size", type=int, default=200, help="number of titles in the catalogue (default 200)")
    if more is not None:
        more(p)
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    knobs = p.add_argument_group("knobs (also settable live with POST /_emulator/settings)")
    knobs.add_argument("--latency-ms", type=float, default=0.0)
    return p, knobs


def knobs_from(args: argparse.Namespace, settings: type[K]) -> K:
    """``settings(**knobs)`` from the parsed flags named like its fields (knobs without a flag keep their default)."""
    names = [f.name for f in fields(settings)]  # type: ignore[arg-type]  # a knobs dataclass
    return settings(**{name: getattr(args, name) for name in names if hasattr(args, name)})


def serve_main(
    prog: str, title: str, args: argparse.Namespace, build: Callable[[], E], summary: Callable[[E], str]
) -> int:
    """Build the emulator and serve it until SIGTERM/SIGINT.

    0 on a clean stop, 2 when ``build`` raises ValueError, 1 if it cannot listen. Once it
    listens, stdout gets the emulator's ``config_toml`` and stderr ``{title} listening on
    URL ({summary}, ready in N s)``.
    """
    started = time.perf_counter()
    try:
        emulator = build()
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2

    def ready(url: str) -> None:
        sys.stdout.write(emulator.config_toml(url))
        sys.stdout.flush()
        print(
            f"{title} listening on {url} ({summary(emulator)}, "
            f"ready in {time.perf_counter() - started:.2f} s); Ctrl+C stops it",
            file=sys.stderr,
            flush=True,
        )

    try:
        serve_forever(emulator, args.port, ready, host=args.host, backend=args.backend)
    except OSError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    print(f"{title} stopped", file=sys.stderr, flush=True)
    return 0
