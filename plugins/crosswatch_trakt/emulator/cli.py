"""``crosswatch emulator trakt`` / ``python -m crosswatch_trakt.emulator``: run the emulator in the foreground.

It prints, first and flushed, the ``[trakt]`` TOML block that points crosswatch at it
(``crosswatch emulator trakt > trakt.toml``), logs to stderr, and serves until SIGTERM or
SIGINT (exit 0). Every knob of :class:`EmulatorSettings` has a flag.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from crosswatch.emulation.server import serve_forever
from crosswatch_trakt.emulator.app import TraktEmulator
from crosswatch_trakt.emulator.settings import EmulatorSettings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="crosswatch emulator trakt",
        description="A Trakt API (api.trakt.tv + auth.trakt.tv) emulator on loopback, seeded and deterministic.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free port; the TOML names it)")
    p.add_argument("--seed", type=int, default=1, help="seed of the catalogue and the user state (default 1)")
    p.add_argument("--size", type=int, default=200, help="number of titles in the catalogue (default 200)")
    p.add_argument("--plays", type=int, default=None, help="make the history hold exactly this many plays")
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    knobs = p.add_argument_group("knobs (also settable live with POST /_emulator/settings)")
    knobs.add_argument("--latency-ms", type=float, default=0.0)
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
    knobs.add_argument("--watchlist-limit", type=int, default=250)
    knobs.add_argument("--ratings-limit", type=int, default=10_000)
    knobs.add_argument("--collection-limit", type=int, default=1_000)
    return p


def settings_from(args: argparse.Namespace) -> EmulatorSettings:
    return EmulatorSettings(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        get_limit=args.get_limit,
        get_period=args.get_period,
        post_limit=args.post_limit,
        post_period=args.post_period,
        token_ttl=args.token_ttl,
        approve_after_polls=args.approve_after_polls,
        interval=args.interval,
        deny=args.deny,
        vip=args.vip,
        watchlist_limit=args.watchlist_limit,
        ratings_limit=args.ratings_limit,
        collection_limit=args.collection_limit,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGTERM/SIGINT; 0 on a clean stop, 2 on bad arguments, 1 if it cannot start."""
    args = parser().parse_args(list(argv) if argv is not None else None)
    if args.size < 0 or (args.plays is not None and args.plays < 0):
        print("crosswatch emulator trakt: --size and --plays must not be negative", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        emulator = TraktEmulator(args.seed, args.size, plays=args.plays, settings=settings_from(args))
    except ValueError as exc:
        print(f"crosswatch emulator trakt: {exc}", file=sys.stderr)
        return 2

    def ready(url: str) -> None:
        sys.stdout.write(emulator.config_toml(url))
        sys.stdout.flush()
        print(
            f"Trakt emulator listening on {url} ({len(emulator.catalog)} titles, {len(emulator.state.plays)} plays, "
            f"ready in {time.perf_counter() - started:.2f} s); Ctrl+C stops it",
            file=sys.stderr,
            flush=True,
        )

    try:
        serve_forever(emulator, args.port, ready, host=args.host, backend=args.backend)
    except OSError as exc:
        print(f"crosswatch emulator trakt: {exc}", file=sys.stderr)
        return 1
    print("Trakt emulator stopped", file=sys.stderr, flush=True)
    return 0
