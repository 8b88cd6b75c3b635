"""Sync pairs end to end: the ``capture_env`` emulators with pairs configured, and views of both sides.

For tests that drive ``crosswatch sync ...`` in-process against the Plex and Trakt emulators
over real HTTP on loopback::

    from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401  (pytest fixtures)

    def test_something(sync_env: SyncEnv) -> None:
        sync_env.pairs(sync_env.pair("p", features=["watchlist"]))
        report = sync_env.run("p")

``sync_env`` (per test) is ``capture_env.cw_env`` (both emulators at their seeded state, a new
signed-in config directory) with every scripted fault and knob set back before and after the
test. Titles are named on both sides by ``(type, trakt id)`` of the shared catalogue, so what
one side holds can be compared with the other straight from the emulators' state.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crosswatch.emulation.catalog import Media
from crosswatch_plex.emulator.library import LEGACY, LEGACY_TMDB, MODERN
from tests.capture_env import OWNER, CwEnv, Emulators, Result, cw_env, emulators

__all__ = ["OWNER", "SyncEnv", "cw_env", "emulators", "sync_env"]

FEATURES = ("watchlist", "ratings", "history", "progress")
#: the Plex guid styles that carry an external id (``local://`` and id-less titles match nothing)
WITH_IDS = (MODERN, LEGACY, LEGACY_TMDB)

Key = tuple[str, int]  # (type, trakt id)


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def at_the_start_of_a_second() -> None:
    """Wait (under a second) for a new second to begin.

    Plex records a play crosswatch writes at "now" in whole seconds. A run started here
    writes within the second it started in (a run of a few titles takes well under one), so
    what depends on that rounding happens every time, not three runs in four.
    """
    time.sleep(1 - time.time() % 1 + 0.005)


def canonical(state: dict[str, Any]) -> str:
    """A state as bytes to compare (Trakt's token count left out: a refresh is not a write)."""
    return json.dumps({k: v for k, v in state.items() if k != "tokens"}, sort_keys=True)


@dataclass
class SyncEnv:
    """``cw_env`` with pairs, the sync commands, and both sides' state by catalogue key."""

    cw: CwEnv

    # -- config and commands ----------------------------------------------------------------

    @property
    def emu(self) -> Emulators:
        return self.cw.emu

    @staticmethod
    def pair(
        name: str,
        source: str = "plex",
        target: str = "trakt",
        *,
        mode: str = "one-way",
        features: list[str] | dict[str, Any] | None = None,
        remove: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        """One ``[[pairs]]`` entry."""
        return {
            "name": name,
            "source": source,
            "target": target,
            "mode": mode,
            "features": list(FEATURES) if features is None else features,
            "remove": remove,
            **extra,
        }

    def pairs(self, *pairs: dict[str, Any], sync: dict[str, Any] | None = None) -> None:
        """(Re)write config.toml with these pairs (and ``[sync]`` settings)."""
        self.cw.configure({"pairs": list(pairs), **({"sync": sync} if sync else {})})

    def cli(self, *args: str) -> Result:
        return self.cw.cli(*args)

    def run(self, pair: str, *flags: str, code: int | None = 0) -> dict[str, Any]:
        """``sync run PAIR --json``: the report (the exit code checked unless ``code`` is None)."""
        result = self.cli("sync", "run", pair, "--json", *flags)
        assert code is None or result.code == code, f"sync run {pair} exited {result.code}: {result.err}"
        assert result.out.strip(), f"sync run {pair} printed no report: {result.err}"
        return json.loads(result.out)

    # -- Plex -------------------------------------------------------------------------------

    def plex_state(self) -> dict[str, Any]:
        return self.emu.plex.state_json()

    def plex_media(self, entry: dict[str, Any]) -> Media | None:
        lib = self.emu.plex.library
        if "discover" in entry:
            return lib.from_discover(entry["discover"])
        return lib.get(entry["ratingKey"])

    def plex_has_ids(self, media: Media) -> bool:
        """Whether the Plex server shows an external id for ``media`` (by its title's guid style)."""
        return self.emu.plex.library.style_of(media) in WITH_IDS

    def edit_plex(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Change the owner's state (``users["1"]`` of the state JSON) in place and load it.

        Only the watched entries without plays are kept: a title's viewCount follows its plays.
        """
        state = self.plex_state()
        user = state["users"][OWNER]
        change(user)
        lib = self.emu.plex.library
        played = {p.get("ratingKey") or str(lib.rk(lib.catalog.get(p["type"], p["trakt"]))) for p in user["plays"]}
        user["watched"] = [w for w in user.get("marked_watched", []) if w["ratingKey"] not in played]
        user.pop("marked_watched", None)
        self.emu.plex.load_state(state)

    def plex_view(self, feature: str) -> Any:
        """What the Plex owner holds of ``feature``, by catalogue key.

        watchlist: set of keys; ratings: key -> rating; history: Counter of (type, trakt, epoch)
        plays; progress: key -> percent of the title's duration.
        """
        user = self.plex_state()["users"][OWNER]
        if feature == "watchlist":
            return {_key(e) for e in user["watchlist"]}
        if feature == "ratings":
            return {_key(e): e["rating"] for e in user["ratings"]}
        if feature == "history":
            return Counter((*_key(e), e["viewedAt"]) for e in user["plays"])
        lib = self.emu.plex.library
        out = {}
        for e in user["progress"]:
            duration = lib.duration_ms(lib.get(e["ratingKey"]))
            out[_key(e)] = 100 * e["viewOffset"] / duration
        return out

    def plex_titles_played(self) -> set[Key]:
        return {_key(e) for e in self.plex_state()["users"][OWNER]["plays"]}

    # -- Trakt ------------------------------------------------------------------------------

    def trakt_state(self) -> dict[str, Any]:
        return self.emu.trakt.state_json()

    def load_trakt(self, state: dict[str, Any]) -> None:
        reply = httpx.post(self.emu.trakt_url + "/_emulator/state", json=state, timeout=10)
        assert reply.status_code == 200, reply.text

    def edit_trakt(self, change: Callable[[dict[str, Any]], None]) -> None:
        state = self.trakt_state()
        change(state)
        self.load_trakt(state)

    def trakt_view(self, feature: str) -> Any:
        """What the Trakt user holds of ``feature``, in the shapes of :meth:`plex_view`."""
        state = self.trakt_state()
        if feature == "watchlist":
            return {(e["type"], e["trakt"]) for e in state["watchlist"]}
        if feature == "ratings":
            return {(e["type"], e["trakt"]): e["rating"] for e in state["ratings"]}
        if feature == "history":
            return Counter((e["type"], e["trakt"], epoch(e["watched_at"])) for e in state["history"])
        return {(e["type"], e["trakt"]): e["progress"] for e in state["playback"]}

    def rated_at(self) -> tuple[dict[Key, int], dict[Key, int]]:
        """When each title was rated on Plex and on Trakt (epoch seconds)."""
        plex = {_key(e): e["ratedAt"] for e in self.plex_state()["users"][OWNER]["ratings"]}
        trakt = {(e["type"], e["trakt"]): epoch(e["rated_at"]) for e in self.trakt_state()["ratings"]}
        return plex, trakt

    # -- both ---------------------------------------------------------------------------------

    def keep_only_titles_with_ids(self) -> None:
        """Both sides hold only titles the Plex server shows an external id for.

        The seeded Plex library has titles with only a ``local://`` or id-less guid: those are
        matched by nothing (no fuzzy titles), so the tests of what a sync converges to leave them out.
        """
        lib = self.emu.plex.library

        def plex(user: dict[str, Any]) -> None:
            for feature in ("ratings", "plays", "progress", "marked_watched"):
                user[feature] = [e for e in user[feature] if self.plex_has_ids(self.plex_media(e))]

        def trakt(state: dict[str, Any]) -> None:
            for feature in ("watchlist", "ratings", "history", "playback", "collection"):
                state[feature] = [
                    e for e in state[feature] if self.plex_has_ids(lib.catalog.get(e["type"], e["trakt"]))
                ]

        self.edit_plex(plex)
        self.edit_trakt(trakt)

    def reset_knobs(self, plex: dict[str, Any], trakt: dict[str, Any]) -> None:
        """Every scripted fault cleared and the knobs back to ``plex`` and ``trakt``."""
        for emu, knobs in ((self.emu.plex, plex), (self.emu.trakt, trakt)):
            emu.faults.pending.clear()
            emu.settings.update(knobs)


def _key(entry: dict[str, Any]) -> Key:
    """The catalogue key of a Plex state entry (every entry carries the catalogue's ids)."""
    return entry["type"], int(entry["ids"]["trakt"])


def keys_of(view: Any) -> set[Key]:
    """The titles of a view (history: the titles played)."""
    if isinstance(view, Counter):
        return {(kind, trakt) for kind, trakt, _ in view}
    return set(view)


@pytest.fixture
def sync_env(cw_env: CwEnv) -> Iterator[SyncEnv]:
    env = SyncEnv(cw_env)
    knobs = (env.emu.plex.settings.to_json(), env.emu.trakt.settings.to_json())
    env.reset_knobs(*knobs)
    yield env
    env.reset_knobs(*knobs)
