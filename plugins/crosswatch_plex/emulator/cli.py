"""``crosswatch emulator plex`` / ``python -m crosswatch_plex.emulator``: run the emulator in the foreground.

It prints, first and flushed, the ``[plex]`` TOML block that points crosswatch at it (every
URL is the emulator's own; a comment names the owner's token for tests), logs to stderr,
and serves until SIGTERM or SIGINT (exit 0). Every knob of :class:`EmulatorSettings` has a flag.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crosswatch.emulation.cli import emulator_parser, knobs_from, serve_main
from crosswatch_plex.emulator.app import PlexEmulator
from crosswatch_plex.emulator.settings import EmulatorSettings

PROG = "crosswatch emulator plex"


def parser() -> argparse.ArgumentParser:
    """The flags: the common ones (:mod:`crosswatch.emulation.cli`) and every knob."""
    p, knobs = emulator_parser(
        PROG, "A Plex Media Server + plex.tv + Discover emulator on loopback, seeded and deterministic."
    )
    knobs.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 5xx")
    knobs.add_argument(
        "--not-found-rate",
        type=float,
        default=0.0,
        help="share of ratingKeys whose /library/metadata hydration answers 404",
    )
    knobs.add_argument(
        "--not-found-key",
        action="append",
        default=[],
        dest="not_found_keys",
        metavar="RATINGKEY",
        help="a ratingKey whose hydration answers 404 (repeatable)",
    )
    knobs.add_argument("--discover-max-page", type=int, default=200, help="bigger Discover pages answer 504")
    knobs.add_argument("--discover-default-page", type=int, default=20)
    knobs.add_argument("--approve-after-polls", type=int, default=2, help="PIN polls answered without a token")
    knobs.add_argument("--pin-ttl", type=int, default=900)
    knobs.add_argument("--websocket-drop", type=int, default=0, help="close websockets after N frames (0: never)")
    knobs.add_argument("--watched-threshold", type=float, default=0.9)
    knobs.add_argument("--watchlist-conflict-status", type=int, default=409, choices=(200, 204, 409))
    knobs.add_argument(
        "--matches-by-id", type=int, default=1, choices=(0, 1), help="0: Discover matches finds nothing by external id"
    )
    return p


def settings_from(args: argparse.Namespace) -> EmulatorSettings:
    """The knobs of the parsed flags."""
    return knobs_from(args, EmulatorSettings)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGTERM/SIGINT; 0 on a clean stop, 2 on bad arguments, 1 if it cannot start."""
    args = parser().parse_args(list(argv) if argv is not None else None)
    if args.size < 0:
        print(f"{PROG}: --size must not be negative", file=sys.stderr)
        return 2
    return serve_main(
        PROG,
        "Plex emulator",
        args,
        lambda: PlexEmulator(args.seed, args.size, settings=settings_from(args)),
        lambda emu: f"{len(emu.catalog)} titles, {len(emu.library)} items, {len(emu.state.rows)} plays",
    )
