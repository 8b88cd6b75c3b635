"""``crosswatch demo``: everything, against the Plex and Trakt emulators, in a temporary folder.

Starts both emulators on free loopback ports (one seeded library, so the two sides share
external ids), writes a config, signs in through the real PIN and device-code flows, runs a
Plex -> Trakt one-way sync, takes a capture of Trakt, changes something on each side the way
a person would (over the services' own APIs), compares two captures, then runs a two-way pair
and prints every summary. Nothing keeps running afterwards; the folder is removed unless
``--keep DIR`` names one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from crosswatch.cli import main as cli

PAIRS = """
[daemon]
listen = ""

[[pairs]]
name = "plex-to-trakt"
source = "plex"
target = "trakt"
mode = "one-way"
features = ["watchlist", "ratings", "history"]
enabled = {one_way}

[[pairs]]
name = "plex-and-trakt"
source = "plex"
target = "trakt"
mode = "two-way"
features = ["watchlist", "ratings", "history"]
enabled = {two_way}
"""


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _run(folder: Path, *args: str) -> int:
    print(f"$ crosswatch {' '.join(args)}", flush=True)
    code = cli(["--config-dir", str(folder), *args])
    if code != 0:
        raise SystemExit(f"crosswatch demo: `crosswatch {' '.join(args)}` failed (exit {code})")
    return code


def _config(folder: Path, plex_block: str, trakt_block: str, *, two_way: bool) -> None:
    pairs = PAIRS.format(one_way=str(not two_way).lower(), two_way=str(two_way).lower())
    (folder / "config.toml").write_text(plex_block + "\n" + trakt_block + pairs)


def _change_plex(url: str, token: str, plex: Any) -> str:
    """Rate a movie in Plex, as a Plex app would (``PUT /:/rate``)."""
    rated = set(plex.state.users[1].ratings)
    movie = next(m for m in plex.library.movies_sorted if plex.library.rk(m) not in rated)
    rk = plex.library.rk(movie)
    httpx.put(
        f"{url}/:/rate",
        params={"key": rk, "identifier": "com.plexapp.plugins.library", "rating": 9},
        headers={"X-Plex-Token": token},
    ).raise_for_status()
    return f"rated {movie.title} ({movie.year}) 9/10 on Plex"


def _change_trakt(url: str, folder: Path, client_id: str, trakt: Any, plex: Any) -> str:
    """Add a movie to the Trakt watchlist, as trakt.tv would (``POST /sync/watchlist``)."""
    tokens = json.loads((folder / ".cw_state" / "trakt.tokens.json").read_text())
    in_plex = {m.imdb for m in plex.library.movies_sorted}
    movie = next(m for m in trakt.catalog.movies if m.imdb in in_plex)
    headers = {
        "Authorization": f"Bearer {tokens['access_token']}",
        "trakt-api-key": client_id,
        "trakt-api-version": "2",
    }
    body = {"movies": [{"ids": {"imdb": movie.imdb}}]}
    for _ in range(5):  # Trakt allows one write a second per account: wait as its Retry-After says
        response = httpx.post(f"{url}/sync/watchlist", json=body, headers=headers)
        if response.status_code != 429:
            break
        time.sleep(float(response.headers.get("retry-after", "1")))
    response.raise_for_status()
    return f"added {movie.title} ({movie.year}) to the Trakt watchlist"


def _bundle(folder: Path, label: str) -> str:
    return str(next((folder / "snapshots").rglob(f"*__TRAKT__all__{label}.json")))


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        from crosswatch.emulation.server import serve_in_thread
        from crosswatch_plex.emulator import EmulatorSettings as PlexKnobs
        from crosswatch_plex.emulator import PlexEmulator
        from crosswatch_trakt.emulator import EmulatorSettings as TraktKnobs
        from crosswatch_trakt.emulator import TraktEmulator
    except ImportError as exc:
        print(f"crosswatch demo needs the built-in Plex and Trakt plugins: {exc}", file=sys.stderr)
        return 1
    began = time.monotonic()
    keep = Path(args.keep) if args.keep else None
    folder = keep or Path(tempfile.mkdtemp(prefix="crosswatch-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    plex = PlexEmulator(seed=args.seed, size=args.size, settings=PlexKnobs(approve_after_polls=1))
    trakt = TraktEmulator(seed=args.seed, size=args.size, settings=TraktKnobs(approve_after_polls=1, interval=1.0))
    try:
        with ExitStack() as stack:
            plex_url = stack.enter_context(serve_in_thread(plex))
            trakt_url = stack.enter_context(serve_in_thread(trakt))
            trakt_block = trakt.config_toml(trakt_url)
            _step(f"emulators: Plex on {plex_url}, Trakt on {trakt_url} (seed {args.seed}, {args.size} titles)")
            _config(folder, plex.config_toml(plex_url), trakt_block, two_way=False)
            print(f"config: {folder / 'config.toml'}")

            _step("sign in: plex.tv PIN and Trakt device code (the emulators approve them by themselves)")
            _run(folder, "auth", "plex")
            _run(folder, "auth", "trakt")

            _step("one-way sync Plex -> Trakt (its first run takes a safety capture of Trakt)")
            _run(folder, "sync", "pairs")
            _run(folder, "sync", "run", "plex-to-trakt")
            _step("the same sync again: nothing changed, nothing to do")
            _run(folder, "sync", "run", "plex-to-trakt")

            _step("a capture of Trakt")
            _run(folder, "capture", "create", "--provider", "trakt", "--feature", "all", "--label", "after-sync")

            _step("a change on each side, made outside crosswatch")
            print(_change_plex(plex_url, plex.owner_token, plex))
            print(_change_trakt(trakt_url, folder, trakt.client_id, trakt, plex))

            _step("two-way sync: each side's change reaches the other")
            _config(folder, plex.config_toml(plex_url), trakt_block, two_way=True)
            _run(folder, "sync", "run", "plex-and-trakt")

            _step("what changed on Trakt since the capture")
            _run(folder, "capture", "create", "--provider", "trakt", "--feature", "all", "--label", "after-two-way")
            _run(folder, "capture", "compare", _bundle(folder, "after-sync"), _bundle(folder, "after-two-way"))
            _run(folder, "capture", "list")
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    _step(f"done in {time.monotonic() - began:.1f} s; emulators stopped" + (f"; files kept in {keep}" if keep else ""))
    return 0
