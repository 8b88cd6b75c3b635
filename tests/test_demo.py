"""``crosswatch demo``: the whole tour against the emulators, leaving nothing behind (how fast: not checked here)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_everything_and_leaves_nothing(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "crosswatch", "demo", "--size", "150", "--keep", str(keep)],
        capture_output=True,
        text=True,
        timeout=110,  # a hang guard under pytest's 120 s, not a speed target: a loaded machine is slow
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    # signed in through both real flows, then the one-way sync, twice (the second has nothing to do)
    assert "Signed in to Plex" in out and "Signed in to Trakt" in out
    assert out.count("sync plex-to-trakt: PLEX -> TRAKT") == 2
    first, second = out.split("sync plex-to-trakt: PLEX -> TRAKT")[1:3]
    assert "history    TRAKT" in first and "safety capture" in first
    assert "nothing to do" in second.split("==")[0]
    # a change on each side reaches the other through the two-way pair
    assert "rated " in out and "to the Trakt watchlist" in out
    assert "sync plex-and-trakt: PLEX <-> TRAKT" in out
    two_way = out.split("sync plex-and-trakt: PLEX <-> TRAKT")[1].split("==")[0]
    row = re.search(r"ratings\s+TRAKT\s+movie\s+(\d+)\s+(\d+)", two_way)
    assert row and int(row[1]) + int(row[2]) >= 1  # the rating made in Plex reached Trakt (added or updated)
    # the compare shows that rating as what changed on Trakt
    compare = out.split("$ crosswatch capture compare")[1]
    assert "rating=9" in compare
    # last, Jellyfin tried without touching Plex: signed in by password from the environment, a
    # one-way pair Plex -> Jellyfin that writes only Jellyfin, then a second run with nothing to do
    assert "$ CROSSWATCH_JELLYFIN_PASSWORD=... crosswatch auth jellyfin" in out
    assert re.search(r"Signed in to Emulated Jellyfin \d+ \(Jellyfin [\d.]+\) as \w+ by password", out)
    assert out.count("sync plex-to-jellyfin: PLEX -> JELLYFIN") == 2
    first, second = out.split("sync plex-to-jellyfin: PLEX -> JELLYFIN")[1:3]
    rows = re.findall(
        r"^  (watchlist|ratings|history|progress)\s+(\S+)\s+\S+\s+(\d+)\s+(\d+)\s+\d+\s+(\d+)", first, re.M
    )
    assert {target for _, target, *_ in rows} == {"JELLYFIN"}, rows  # one-way: Plex is never written
    assert {feature for feature, *_ in rows} == {"watchlist", "ratings", "history", "progress"}
    assert all(failed == "0" for *_, failed in rows) and sum(int(a) + int(u) for _, _, a, u, _ in rows) > 0
    assert "safety capture" in first and "JELLYFIN__all__before-first-sync-plex-to-jellyfin" in first
    assert "nothing to do" in second.split("==")[0]
    # what it kept is a working config directory; the emulators are gone with the process
    assert (keep / "config.toml").is_file() and any((keep / "snapshots").rglob("*.json"))
    config = tomllib.loads((keep / "config.toml").read_text())
    assert set(config["jellyfin"]) == {"url", "user"}, "the sign-in is by password, not the emulator's API key"
    assert "plex-to-jellyfin" in {p["name"] for p in config["pairs"]}
    assert (keep / ".cw_state" / "jellyfin.signin.json").is_file()
