"""What each side of a pair held after its last sync, per feature, in ``.cw_state``.

A removal is told apart from an item that was never there by the baseline: an item in the
last baseline of a side that is gone from that side now was removed there. A person may
delete a baseline (the next run is then a first run: no removals, a safety capture). History
baselines also carry a copy of the pair's echoes (plays crosswatch wrote to a side that
records them at "now"); the record that counts is the write-ahead journal
(:mod:`crosswatch.journal`), written before each write, so a lost baseline never lets them
come back as new plays, and the copy here covers a damaged journal. The plays a run wrote to
such a side are kept apart (``sent_now``): that side held them after the run, so one deleted
there before the next run was deleted by a person, and is not written back.
"""

from __future__ import annotations

import time

import msgspec

from crosswatch.config.names import pair_slug
from crosswatch.journal import Echo
from crosswatch.model import Item
from crosswatch.state import StateDir

__all__ = ["Baseline", "Echo", "file_name", "load", "save", "settle", "settled"]
VERSION = 1


class Baseline(msgspec.Struct, kw_only=True):
    sides: dict[str, list[Item]]  # profile name (TRAKT, PLEX.kids) -> items after the last sync (required:
    # a file without it is not a baseline, and is moved aside rather than read as "nothing was there")
    version: int = VERSION
    synced_at: float = 0.0
    echoes: list[Echo] = []
    # side -> the plays this run wrote there that the side dates "now" (and said took): held there
    # after the run, but under a date no read of it has shown yet, so not in ``sides``
    sent_now: dict[str, list[Item]] = {}


def file_name(pair: str, feature: str) -> str:
    return f"sync_{pair_slug(pair)}_{feature}.baseline.json"


def load(state: StateDir, pair: str, feature: str) -> Baseline | None:
    """The baseline of ``pair``'s ``feature``; None on a first run (or a damaged file, moved aside)."""
    found: Baseline | None = state.read_json_or_default(
        file_name(pair, feature),
        None,
        type=Baseline | None,
        instead="this run of the pair is a first run (nothing removed, each side written captured first)",
    )
    return found


class Settled(msgspec.Struct):
    """``sync_<pair>_<feature>.settled.json``."""

    fingerprint: str


def settled(state: StateDir, pair: str, feature: str) -> str:
    """The fingerprint of the inputs of the last run that had nothing to write ("" for none, or a damaged file)."""
    name = file_name(pair, feature).replace(".baseline.", ".settled.")
    found = state.read_json_or_default(name, None, type=Settled, instead="the next run reads its baseline in full")
    return found.fingerprint if found is not None else ""


def settle(state: StateDir, pair: str, feature: str, fingerprint: str) -> None:
    """Record (or with "" forget) that a run with these inputs had nothing to write."""
    name = file_name(pair, feature).replace(".baseline.", ".settled.")
    if fingerprint:
        state.write_json(name, {"fingerprint": fingerprint})
    else:
        state.remove(name)


def save(state: StateDir, pair: str, feature: str, baseline: Baseline) -> None:
    baseline.synced_at = time.time()
    state.write_json(file_name(pair, feature), baseline, pretty=False)
