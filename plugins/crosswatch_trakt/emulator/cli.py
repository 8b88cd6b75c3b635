"""``crosswatch emulator trakt`` / ``python -m crosswatch_trakt.emulator``: run the emulator in the foreground.

It prints, first and flushed, the ``[trakt]`` TOML block that points crosswatch at it
(``crosswatch emulator trakt > trakt.toml``), logs to stderr, and serves until SIGTERM or
SIGINT (exit 0). Every knob of :class:`EmulatorSettings` has a flag.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crosswatch.emulation.cli import emulator_parser, knobs_from, serve_main
from crosswatch_trakt.emulator.app import TraktEmulator
from crosswatch_trakt.emulator.settings import EmulatorSettings

PROG = "crosswatch emulator trakt"


def _plays(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plays", type=int, default=None, help="make the history hold exactly this many plays")


def parser() -> argparse.ArgumentParser:
    """The flags: the common ones (:mod:`crosswatch.emulation.cli`), ``--plays`` and every knob."""
    p, knobs = emulator_parser(
        PROG,
        "A Trakt API (api.trakt.tv + auth.trakt.tv) emulator on loopback, seeded and deterministic.",
        _plays,
    )
    knobs.add_argument("--error-rate", type=float, default=0.0, help="share of API requests answered 5xx")
    knobs.add_argument("--drop-rate", type=float, default=0.0, help="share of API requests whose connection drops")
    knobs.add_argument("--get-limit", type=int, default=1000, help="GETs per --get-period per user (0: no limit)")
    knobs.add_argument("--get-period", type=float, default=300.0)
    knobs.add_argument("--post-limit", type=int, default=1, help="writes per --post-period per user (0: no limit)")
    knobs.add_argument("--post-period", type=float, default=1.0)
    knobs.add_argument("--token-ttl", type=int, default=7 * 86_400, help="access token lifetime in seconds")
    knobs.add_argument("--approve-after-polls", type=int, default=2, help="device polls answered 'pending' first")
    knobs.add_argument("--interval", type=float, default=5.0, help="device polling interval in seconds")
    knobs.add_argument("--deny", action="store_true", help="deny device codes (418)")
    knobs.add_argument("--vip", action="store_true", help="a VIP account: no list caps")
    knobs.add_argument(
        "--private-profile", action="store_true", help="a private profile: /users/<slug> needs the user's token"
    )
    knobs.add_argument("--watchlist-limit", type=int, default=250)
    knobs.add_argument("--ratings-limit", type=int, default=10_000)
    knobs.add_argument("--collection-limit", type=int, default=1_000)
    return p


def settings_from(args: argparse.Namespace) -> EmulatorSettings:
    """The knobs of the parsed flags."""
    return knobs_from(args, EmulatorSettings)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGTERM/SIGINT; 0 on a clean stop, 2 on bad arguments, 1 if it cannot start."""
    args = parser().parse_args(list(argv) if argv is not None else None)
    if args.size < 0 or (args.plays is not None and args.plays < 0):
        print(f"{PROG}: --size and --plays must not be negative", file=sys.stderr)
        return 2
    return serve_main(
        PROG,
        "Trakt emulator",
        args,
        lambda: TraktEmulator(args.seed, args.size, plays=args.plays, settings=settings_from(args)),
        lambda emu: f"{len(emu.catalog)} titles, {len(emu.state.plays)} plays",
    )
