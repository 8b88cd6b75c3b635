"""``crosswatch demo``: everything, against the Plex and Trakt emulators, in a temporary folder.

Starts the emulators the plugins offer (``crosswatch emulator plex|trakt``, found through
the ``crosswatch_emulators`` hook, as child processes) on free loopback ports (one seeded
library, so the two sides share external ids), writes a config, signs in through the real
PIN and device-code flows, runs a Plex -> Trakt one-way sync, takes a capture of Trakt,
changes something on each side the way a person would (over the services' own APIs),
compares two captures, then runs a two-way pair and prints every summary. Nothing keeps
running afterwards; the folder is removed unless ``--keep DIR`` names one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from crosswatch.cli import main as cli

if TYPE_CHECKING:
    from crosswatch.plugins import PluginHost

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


def _emulators(host: PluginHost) -> set[str]:
    """The emulators the installed plugins offer (``crosswatch_emulators``)."""
    return {name for _, found in host.call_each("crosswatch_emulators") for name in (found or {})}


@dataclass
class Emulator:
    """An emulator run as ``crosswatch emulator NAME`` in a child process, like a person would."""

    name: str
    process: subprocess.Popen[bytes]
    url: str = ""
    block: str = ""  # the config block it printed
    said: list[str] = field(default_factory=list)  # its stderr, for an error message

    @classmethod
    @contextmanager
    def started(cls, name: str, args: list[str]) -> Iterator[Emulator]:
        """Start it, wait until it listens, and stop it (SIGTERM) when the block ends."""
        command = [sys.executable, "-m", "crosswatch", "emulator", name, *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        emulator = cls(name, process)
        try:
            emulator._wait_ready()
            yield emulator
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _wait_ready(self) -> None:
        """Read stderr until it says it listens (its config block is on stdout by then)."""
        assert self.process.stdout is not None and self.process.stderr is not None
        ready = threading.Event()

        def drain(stream: IO[bytes]) -> None:  # keeps the pipe from filling while it serves
            for raw in stream:
                line = raw.decode(errors="replace").rstrip()
                self.said = [*self.said[-20:], line]
                if " listening on " in line:
                    self.url = line.split(" listening on ", 1)[1].split()[0]
                    ready.set()
            ready.set()  # it ended

        threading.Thread(target=drain, args=(self.process.stderr,), daemon=True).start()
        ready.wait()
        if not self.url:
            raise SystemExit(f"crosswatch demo: the {self.name} emulator did not start: " + " / ".join(self.said[-3:]))
        fd = self.process.stdout.fileno()
        os.set_blocking(fd, False)
        chunks = []
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        self.block = b"".join(chunks).decode()

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request to the emulator's control routes (``/_emulator/...``)."""
        response = httpx.request(method, f"{self.url}{path}", **kwargs)
        response.raise_for_status()
        return response.json()


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


def _change_plex(plex: Emulator) -> str:
    """Rate a movie in Plex, as a Plex app would (``PUT /:/rate``)."""
    owner = plex.control("POST", "/_emulator/tokens", json={"account": 1})["token"]
    rated = {r["ratingKey"] for r in plex.control("GET", "/_emulator/state")["users"]["1"]["ratings"]}
    movie = next(m for m in plex.control("GET", "/_emulator/catalog")["movies"] if m["ratingKey"] not in rated)
    httpx.put(
        f"{plex.url}/:/rate",
        params={"key": movie["ratingKey"], "identifier": "com.plexapp.plugins.library", "rating": 9},
        headers={"X-Plex-Token": owner},
    ).raise_for_status()
    return f"rated {movie['title']} ({movie['year']}) 9/10 on Plex"


def _change_trakt(trakt: Emulator, folder: Path, plex: Emulator) -> str:
    """Add a movie to the Trakt watchlist, as trakt.tv would (``POST /sync/watchlist``)."""
    tokens = json.loads((folder / ".cw_state" / "trakt.tokens.json").read_text())
    client_id = tomllib.loads(trakt.block)["trakt"]["client_id"]
    headers = {
        "Authorization": f"Bearer {tokens['access_token']}",
        "trakt-api-key": client_id,
        "trakt-api-version": "2",
    }
    listed = httpx.get(f"{trakt.url}/sync/watchlist/movies", headers=headers)
    listed.raise_for_status()
    on_trakt = {entry["movie"]["ids"].get("imdb") for entry in listed.json()}
    # a Plex movie that neither watchlist holds: the two-way sync then brings it to Plex
    movie = next(m for m in plex.control("GET", "/_emulator/catalog")["movies"] if m["ids"].get("imdb") not in on_trakt)
    body = {"movies": [{"ids": {"imdb": movie["ids"]["imdb"]}}]}
    for _ in range(5):  # Trakt allows one write a second per account: wait as its Retry-After says
        response = httpx.post(f"{trakt.url}/sync/watchlist", json=body, headers=headers)
        if response.status_code != 429:
            break
        time.sleep(float(response.headers.get("retry-after", "1")))
    response.raise_for_status()
    return f"added {movie['title']} ({movie['year']}) to the Trakt watchlist"


def _bundle(folder: Path, label: str) -> str:
    return str(next((folder / "snapshots").rglob(f"*__TRAKT__all__{label}.json")))


def cmd_demo(args: argparse.Namespace) -> int:
    from crosswatch.commands.common import plugin_host

    began = time.monotonic()
    keep = Path(args.keep) if args.keep else None
    folder = keep or Path(tempfile.mkdtemp(prefix="crosswatch-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    found = _emulators(plugin_host(folder))
    missing = [name for name in ("plex", "trakt") if name not in found]
    if missing:
        print(f"crosswatch demo needs the {' and '.join(missing)} emulator (the built-in plugins)", file=sys.stderr)
        return 1
    common = ["--seed", str(args.seed), "--size", str(args.size), "--approve-after-polls", "1"]
    try:
        with ExitStack() as stack:
            plex = stack.enter_context(Emulator.started("plex", common))
            trakt = stack.enter_context(Emulator.started("trakt", [*common, "--interval", "1"]))
            _step(f"emulators: Plex on {plex.url}, Trakt on {trakt.url} (seed {args.seed}, {args.size} titles)")
            _config(folder, plex.block, trakt.block, two_way=False)
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
            print(_change_plex(plex))
            print(_change_trakt(trakt, folder, plex))

            _step("two-way sync: each side's change reaches the other")
            _config(folder, plex.block, trakt.block, two_way=True)
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
