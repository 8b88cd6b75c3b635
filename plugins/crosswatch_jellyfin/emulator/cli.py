"""``crosswatch emulator jellyfin|emby`` / ``python -m crosswatch_jellyfin.emulator [jellyfin|emby]``.

It prints, first and flushed, the ``[jellyfin]`` (``[emby]``) TOML block that points
crosswatch at it, with the users' names and passwords and the API key in comments (so any
Jellyfin or Emby client can sign in), logs to stderr, and serves until SIGTERM or SIGINT
(exit 0). Every knob of :class:`EmulatorSettings` has a flag.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crosswatch.emulation.cli import emulator_parser, knobs_from, serve_main
from crosswatch_jellyfin.emulator.app import MediaServerEmulator
from crosswatch_jellyfin.emulator.flavour import EMBY, FLAVOURS, JELLYFIN, Flavour
from crosswatch_jellyfin.emulator.settings import EmulatorSettings


def parser(flavour: Flavour) -> argparse.ArgumentParser:
    """The flags: the common ones (:mod:`crosswatch.emulation.cli`) and every knob."""
    p, knobs = emulator_parser(
        f"crosswatch emulator {flavour.name}",
        f"A {flavour.title} server emulator on loopback, seeded and deterministic.",
    )
    knobs.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 5xx")
    knobs.add_argument("--drop-rate", type=float, default=0.0, help="share of requests whose connection drops")
    knobs.add_argument("--rate-limit", type=int, default=0, help="requests per --rate-period per token (0: none)")
    knobs.add_argument("--rate-period", type=float, default=1.0)
    knobs.add_argument("--default-limit", type=int, default=0, help="page size without Limit (0: everything)")
    knobs.add_argument("--max-limit", type=int, default=0, help="clamp Limit to this (0: no cap)")
    knobs.add_argument("--approve-after-polls", type=int, default=2, help="Quick Connect polls before approval")
    knobs.add_argument("--no-quick-connect", dest="quick_connect", action="store_false", help="Quick Connect disabled")
    knobs.add_argument(
        "--no-legacy-auth",
        dest="legacy_auth",
        action="store_false",
        help="EnableLegacyAuthorization off (Jellyfin 12): no X-Emby-* headers, api_key or Emby scheme",
    )
    knobs.add_argument("--userdata-debounce-ms", type=float, default=500.0)
    knobs.add_argument("--keepalive-s", type=int, default=60)
    knobs.add_argument("--websocket-drop", type=int, default=0, help="close websockets after N messages (0: never)")
    knobs.add_argument("--min-resume-pct", type=float, default=5.0, help="playback under this share keeps no position")
    knobs.add_argument("--max-resume-pct", type=float, default=90.0, help="playback past this share is a play")
    knobs.add_argument("--min-resume-duration-s", type=float, default=300.0, help="shorter items count as played")
    return p


def run(flavour: Flavour, argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGTERM/SIGINT; 0 on a clean stop, 2 on bad arguments, 1 if it cannot start."""
    prog = f"crosswatch emulator {flavour.name}"
    args = parser(flavour).parse_args(list(argv) if argv is not None else None)
    if args.size < 0:
        print(f"{prog}: --size must not be negative", file=sys.stderr)
        return 2
    return serve_main(
        prog,
        f"{flavour.title} emulator",
        args,
        lambda: MediaServerEmulator(args.seed, args.size, flavour=flavour, settings=knobs_from(args, EmulatorSettings)),
        lambda emu: f"{len(emu.catalog)} titles, {len(emu.library)} items, user {emu.username}",
    )


def main_jellyfin(argv: Sequence[str] | None = None) -> int:
    """``crosswatch emulator jellyfin``."""
    return run(JELLYFIN, argv)


def main_emby(argv: Sequence[str] | None = None) -> int:
    """``crosswatch emulator emby``."""
    return run(EMBY, argv)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m crosswatch_jellyfin.emulator [jellyfin|emby] [flags]`` (default: jellyfin)."""
    args = list(sys.argv[1:] if argv is None else argv)
    flavour = JELLYFIN
    if args and args[0] in FLAVOURS:
        flavour = FLAVOURS[args.pop(0)]
    return run(flavour, args)
