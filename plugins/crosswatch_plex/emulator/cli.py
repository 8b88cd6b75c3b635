"""``crosswatch emulator plex`` / ``python -m crosswatch_plex.emulator``: run the emulator in the foreground.

It prints, first and flushed, the ``[plex]`` TOML block that points crosswatch at it (every
URL is the emulator's own; a comment names the owner's token for tests), logs to stderr,
and serves until SIGTERM or SIGINT (exit 0). Every knob of :class:`EmulatorSettings` has a flag.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from crosswatch.emulation.server import serve_forever
from crosswatch_plex.emulator.app import PlexEmulator
from crosswatch_plex.emulator.settings import EmulatorSettings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="crosswatch emulator plex",
        description="A Plex Media Server + plex.tv + Discover emulator on loopback, seeded and deterministic.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free port; the TOML names it)")
    p.add_argument("--seed", type=int, default=1, help="seed of the catalogue and the user state (default 1)")
    p.add_argument("--size", type=int, default=200, help="number of titles in the catalogue (default 200)")
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    knobs = p.add_argument_group("knobs (also settable live with POST /_emulator/settings)")
    knobs.add_argument("--latency-ms", type=float, default=0.0)
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
    return p


def settings_from(args: argparse.Namespace) -> EmulatorSettings:
    return EmulatorSettings(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        not_found_rate=args.not_found_rate,
        not_found_keys=list(args.not_found_key),
        discover_max_page=args.discover_max_page,
        discover_default_page=args.discover_default_page,
        approve_after_polls=args.approve_after_polls,
        pin_ttl=args.pin_ttl,
        websocket_drop=args.websocket_drop,
        watched_threshold=args.watched_threshold,
        watchlist_conflict_status=args.watchlist_conflict_status,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGTERM/SIGINT; 0 on a clean stop, 2 on bad arguments, 1 if it cannot start."""
    args = parser().parse_args(list(argv) if argv is not None else None)
    if args.size < 0:
        print("crosswatch emulator plex: --size must not be negative", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        emulator = PlexEmulator(args.seed, args.size, settings=settings_from(args))
    except ValueError as exc:
        print(f"crosswatch emulator plex: {exc}", file=sys.stderr)
        return 2

    def ready(url: str) -> None:
        sys.stdout.write(emulator.config_toml(url))
        sys.stdout.flush()
        print(
            f"Plex emulator listening on {url} ({len(emulator.catalog)} titles, {len(emulator.library)} items, "
            f"{len(emulator.state.rows)} plays, ready in {time.perf_counter() - started:.2f} s); Ctrl+C stops it",
            file=sys.stderr,
            flush=True,
        )

    try:
        serve_forever(emulator, args.port, ready, host=args.host, backend=args.backend)
    except OSError as exc:
        print(f"crosswatch emulator plex: {exc}", file=sys.stderr)
        return 1
    print("Plex emulator stopped", file=sys.stderr, flush=True)
    return 0
