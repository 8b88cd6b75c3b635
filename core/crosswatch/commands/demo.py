"""``crosswatch demo``: everything, against the Plex, Trakt and Jellyfin emulators, in a temporary folder.

Starts the emulators the plugins offer (``crosswatch emulator plex|trakt|jellyfin``, found
through the ``crosswatch_emulators`` hook, as child processes, side by side) on free loopback
ports (one seeded library, so every side shares external ids), writes a config, signs in
through the real PIN and device-code flows, runs a Plex -> Trakt one-way sync, takes a
capture of Trakt, changes something on each side the way a person would (over the services'
own APIs), compares two captures, then runs a two-way pair. Last, it tries Jellyfin without
touching Plex: a Plex -> Jellyfin one-way pair, signed in with the user and password the
Jellyfin emulator prints (``CROSSWATCH_JELLYFIN_PASSWORD``, so nothing is asked), run twice.
Every summary is printed. Nothing keeps running afterwards; the folder is removed unless
``--keep DIR`` names one. The Jellyfin step is left out when no plugin offers its emulator.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
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
import tomli_w

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

#: the environment variable the Jellyfin plugin's sign-in takes a password from (no prompt then)
JELLYFIN_PASSWORD_ENV = "CROSSWATCH_JELLYFIN_PASSWORD"
JELLYFIN_PAIR = {
    "name": "plex-to-jellyfin",
    "source": "plex",
    "target": "jellyfin",
    "mode": "one-way",
    "features": ["watchlist", "ratings", "history", "progress"],
}


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
    ready: threading.Event = field(default_factory=threading.Event)  # set once it listens (or ended)

    @classmethod
    @contextmanager
    def launched(cls, name: str, args: list[str]) -> Iterator[Emulator]:
        """Start it without waiting (:meth:`wait_ready` waits), and stop it (SIGTERM) when the block ends.

        Several launched before any is waited for start side by side.
        """
        command = [sys.executable, "-m", "crosswatch", "emulator", name, *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        emulator = cls(name, process)
        try:
            emulator._watch()
            yield emulator
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _watch(self) -> None:
        """Read its stderr in a thread, noting when it says it listens."""
        assert self.process.stderr is not None

        def drain(stream: IO[bytes]) -> None:  # keeps the pipe from filling while it serves
            for raw in stream:
                line = raw.decode(errors="replace").rstrip()
                self.said = [*self.said[-20:], line]
                if " listening on " in line:
                    self.url = line.split(" listening on ", 1)[1].split()[0]
                    self.ready.set()
            self.ready.set()  # it ended

        threading.Thread(target=drain, args=(self.process.stderr,), daemon=True).start()

    def wait_ready(self) -> None:
        """Wait until it listens (its config block is on stdout by then) and read that block."""
        assert self.process.stdout is not None
        self.ready.wait()
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


def _config(folder: Path, plex_block: str, trakt_block: str, *, two_way: bool, jellyfin: str = "") -> None:
    pairs = PAIRS.format(one_way=str(not two_way).lower(), two_way=str(two_way).lower())
    (folder / "config.toml").write_text(plex_block + "\n" + trakt_block + pairs + jellyfin)


def _jellyfin_config(block: str) -> tuple[str, str]:
    """The ``[jellyfin]`` section (server and user, no API key: the sign-in is by password) and
    the Plex -> Jellyfin pair, as TOML; and the user's password, from the block's comments."""
    section = tomllib.loads(block)["jellyfin"]
    user = str(section["user"])
    found = re.search(rf"^# user {re.escape(user)} \(administrator\) password (\S+)", block, re.MULTILINE)
    if found is None:
        raise SystemExit("crosswatch demo: the Jellyfin emulator's config block names no password for its user")
    text = tomli_w.dumps({"jellyfin": {"url": section["url"], "user": user}, "pairs": [JELLYFIN_PAIR]})
    return "\n" + text, found[1]


def _run_with(folder: Path, env: dict[str, str], *args: str) -> int:
    """:func:`_run` with variables set in the environment for the command only (their values not shown)."""
    shown = " ".join(f"{name}=..." for name in env)
    print(f"$ {shown} crosswatch {' '.join(args)}", flush=True)
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        code = cli(["--config-dir", str(folder), *args])
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if code != 0:
        raise SystemExit(f"crosswatch demo: `crosswatch {' '.join(args)}` failed (exit {code})")
    return code


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
            # started side by side, then waited for
            plex = stack.enter_context(Emulator.launched("plex", common))
            trakt = stack.enter_context(Emulator.launched("trakt", [*common, "--interval", "1"]))
            jellyfin = stack.enter_context(Emulator.launched("jellyfin", common)) if "jellyfin" in found else None
            for emulator in (plex, trakt, jellyfin):
                if emulator is not None:
                    emulator.wait_ready()
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

            if jellyfin is None:
                _step("no Jellyfin emulator installed: the Plex -> Jellyfin step is left out")
            else:
                _step(f"try Jellyfin without touching Plex: a one-way pair Plex -> Jellyfin (on {jellyfin.url})")
                section, password = _jellyfin_config(jellyfin.block)
                _config(folder, plex.block, trakt.block, two_way=True, jellyfin=section)
                print("sign in with the user and password the emulator printed, taken from the environment")
                _run_with(folder, {JELLYFIN_PASSWORD_ENV: password}, "auth", "jellyfin")
                _run(folder, "sync", "run", "plex-to-jellyfin")
                _step("the same sync again: nothing changed, nothing to do")
                _run(folder, "sync", "run", "plex-to-jellyfin")
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    _step(f"done in {time.monotonic() - began:.1f} s; emulators stopped" + (f"; files kept in {keep}" if keep else ""))
    return 0
