"""The emulated user's data (watchlist, ratings, plays, playback, collection) and its mutations.

Media are keyed ``(kind, trakt id)`` into the catalogue. Every mutation bumps the feature's
version (which drops the cached sorted views), updates an order-independent content digest
per media kind (the ETags: they change exactly when the content does), and moves the
matching ``/sync/last_activities`` stamps (each move strictly later than the last one).

The state as JSON (``/_emulator/state``) is in :mod:`.statejson`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crosswatch.emulation.catalog import Catalog, Media
from crosswatch_trakt.emulator.times import iso

Key = tuple[str, int]
KINDS = ("movie", "show", "season", "episode")
FEATURES = ("watchlist", "ratings", "history", "playback", "collection")
ACTIVITY_GROUPS: dict[str, tuple[str, ...]] = {
    "movies": (
        "watched_at",
        "collected_at",
        "rated_at",
        "watchlisted_at",
        "favorited_at",
        "commented_at",
        "paused_at",
        "hidden_at",
    ),
    "episodes": ("watched_at", "collected_at", "rated_at", "watchlisted_at", "commented_at", "paused_at"),
    "shows": ("rated_at", "watchlisted_at", "favorited_at", "commented_at", "hidden_at", "dropped_at"),
    "seasons": ("rated_at", "watchlisted_at", "commented_at", "hidden_at"),
    "comments": ("liked_at", "reacted_at", "blocked_at"),
    "lists": ("liked_at", "reacted_at", "updated_at", "commented_at"),
    "watchlist": ("updated_at",),
    "favorites": ("updated_at",),
    "collaborations": ("updated_at",),
    "account": ("settings_at", "followed_at", "following_at", "pending_at", "requested_at"),
    "saved_filters": ("updated_at",),
    "notes": ("updated_at",),
}
ACTIONS = ("scrobble", "checkin", "watch")
_M64 = (1 << 64) - 1


def mix(x: int) -> int:
    """splitmix64: a cheap, well-spread 64-bit hash of an int (for the content digests)."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


KIND_CODE = {kind: n for n, kind in enumerate(KINDS)}
ACTION_CODE = {action: n for n, action in enumerate(ACTIONS)}


def _key_code(key: Key) -> int:
    return key[1] * 4 + KIND_CODE[key[0]]


@dataclass(slots=True)
class WatchEntry:
    id: int
    key: Key
    listed_at: int
    notes: str | None = None

    def digest(self) -> int:
        return mix(mix(self.id) ^ self.listed_at ^ _key_code(self.key)) ^ mix(
            zlib.crc32(self.notes.encode()) if self.notes else 0
        )


@dataclass(slots=True)
class Rating:
    key: Key
    rating: int
    rated_at: int

    def digest(self) -> int:
        return mix(mix(_key_code(self.key)) ^ self.rated_at ^ (self.rating << 56))


@dataclass(slots=True)
class Play:
    id: int
    key: Key
    watched_at: int
    action: str

    def digest(self) -> int:
        # ids are never reused, so one mix over all fields spreads well enough
        return mix((self.id << 44) ^ (self.watched_at << 2) ^ (_key_code(self.key) << 24) ^ ACTION_CODE[self.action])


@dataclass(slots=True)
class Playback:
    id: int
    key: Key
    progress: float
    paused_at: int

    def digest(self) -> int:
        return mix(mix(mix(self.id) ^ self.paused_at) ^ _key_code(self.key) ^ int(self.progress * 1000))


class Activities:
    """``/sync/last_activities`` stamps (epoch ms); every touch is strictly later than the last."""

    def __init__(self, base_ms: int) -> None:
        self.stamps = {group: dict.fromkeys(keys, base_ms) for group, keys in ACTIVITY_GROUPS.items()}
        self.last = base_ms

    def touch(self, pairs: Iterable[tuple[str, str]], now: int) -> None:
        stamp = max(now, self.last + 1)
        for group, key in pairs:
            self.stamps[group][key] = stamp
        self.last = stamp

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"all": iso(max(max(g.values()) for g in self.stamps.values()))}
        for group, keys in self.stamps.items():
            out[group] = {key: iso(value) for key, value in keys.items()}
        return out


class UserState:
    """One user's Trakt data over a catalogue."""

    def __init__(self, catalog: Catalog, *, base_ms: int, first_ids: dict[str, int] | None = None) -> None:
        self.catalog = catalog
        self.watchlist: dict[Key, WatchEntry] = {}
        self.ratings: dict[Key, Rating] = {}
        self.plays: dict[int, Play] = {}
        self.playback: dict[int, Playback] = {}
        self.collection: dict[Key, int] = {}
        self.scrobbled: dict[Key, int] = {}  # last scrobble stop per item (for 409)
        self.activities = Activities(base_ms)
        ids = first_ids or {}
        self.next_id = {
            "history": ids.get("history", 1),
            "list": ids.get("list", 1),
            "playback": ids.get("playback", 1),
        }
        self.digests = {feature: dict.fromkeys(KINDS, 0) for feature in FEATURES}
        self.versions = dict.fromkeys(FEATURES, 0)
        self._views: dict[tuple[str, Any], tuple[int, Any]] = {}

    # -- helpers ------------------------------------------------------------------------------

    def media(self, key: Key) -> Media:
        media = self.catalog.get(key[0], key[1])  # type: ignore[arg-type]
        if media is None:
            raise KeyError(f"no {key[0]} with trakt id {key[1]} in the catalogue")
        return media

    def new_id(self, kind: str) -> int:
        value = self.next_id[kind]
        self.next_id[kind] = value + 1
        return value

    def _changed(self, feature: str, kind: str, digest: int) -> None:
        self.digests[feature][kind] ^= digest
        self.versions[feature] += 1

    def view(self, feature: str, arg: Any, build: Any) -> Any:
        """A cached derived view of ``feature`` (rebuilt after the feature changes)."""
        cached = self._views.get((feature, arg))
        if cached is not None and cached[0] == self.versions[feature]:
            return cached[1]
        value = build()
        self._views[(feature, arg)] = (self.versions[feature], value)
        return value

    # -- watchlist ----------------------------------------------------------------------------

    def watch(self, key: Key, listed_at: int, notes: str | None = None, entry_id: int | None = None) -> WatchEntry:
        entry = WatchEntry(entry_id if entry_id is not None else self.new_id("list"), key, listed_at, notes)
        self.watchlist[key] = entry
        self._changed("watchlist", key[0], entry.digest())
        return entry

    def unwatch(self, key: Key) -> bool:
        entry = self.watchlist.pop(key, None)
        if entry is None:
            return False
        self._changed("watchlist", key[0], entry.digest())
        return True

    # -- ratings -----------------------------------------------------------------------------

    def rate(self, key: Key, rating: int, rated_at: int) -> None:
        self.unrate(key)
        entry = self.ratings[key] = Rating(key, rating, rated_at)
        self._changed("ratings", key[0], entry.digest())

    def unrate(self, key: Key) -> bool:
        entry = self.ratings.pop(key, None)
        if entry is None:
            return False
        self._changed("ratings", key[0], entry.digest())
        return True

    # -- history -----------------------------------------------------------------------------

    def add_play(self, key: Key, watched_at: int, action: str = "watch", play_id: int | None = None) -> Play:
        if play_id is None:
            play_id = self.next_id["history"]
            self.next_id["history"] = play_id + 1
        play = self.plays[play_id] = Play(play_id, key, watched_at, action)
        self.digests["history"][key[0]] ^= play.digest()
        self.versions["history"] += 1
        return play

    def remove_play(self, play_id: int) -> Play | None:
        play = self.plays.pop(play_id, None)
        if play is not None:
            self._changed("history", play.key[0], play.digest())
        return play

    def history_view(self, kind: str | None) -> tuple[list[Play], list[int]]:
        """Plays newest first (ties: higher id first), with their negated times for bisect."""

        def build() -> tuple[list[Play], list[int]]:
            if kind is None:
                plays = sorted(self.plays.values(), key=lambda p: (p.watched_at, p.id), reverse=True)
            else:
                plays = [p for p in self.history_view(None)[0] if p.key[0] == kind]
            return plays, [-p.watched_at for p in plays]

        return self.view("history", kind, build)

    # -- playback ----------------------------------------------------------------------------

    def pause(self, key: Key, progress: float, paused_at: int, playback_id: int | None = None) -> Playback:
        """Save progress for ``key`` (one entry per item: an existing one keeps its id)."""
        old = self.playback_of(key)
        if old is not None:
            self.unpause(old.id)
            playback_id = old.id if playback_id is None else playback_id
        entry = Playback(playback_id if playback_id is not None else self.new_id("playback"), key, progress, paused_at)
        self.playback[entry.id] = entry
        self._changed("playback", key[0], entry.digest())
        return entry

    def playback_of(self, key: Key) -> Playback | None:
        return next((p for p in self.playback.values() if p.key == key), None)

    def unpause(self, playback_id: int) -> Playback | None:
        entry = self.playback.pop(playback_id, None)
        if entry is not None:
            self._changed("playback", entry.key[0], entry.digest())
        return entry

    # -- collection --------------------------------------------------------------------------

    def collect(self, key: Key, collected_at: int) -> None:
        self.uncollect(key)
        self.collection[key] = collected_at
        self._changed("collection", key[0], mix(mix(_key_code(key)) ^ collected_at))

    def uncollect(self, key: Key) -> bool:
        collected_at = self.collection.pop(key, None)
        if collected_at is None:
            return False
        self._changed("collection", key[0], mix(mix(_key_code(key)) ^ collected_at))
        return True

    def to_json(self) -> dict[str, Any]:
        """The whole state as plain JSON (see :mod:`.statejson`)."""
        from crosswatch_trakt.emulator.statejson import state_to_json

        return state_to_json(self)

    def load_json(self, data: Any, now: int) -> None:
        """Replace every feature with ``data``; raises ValueError naming a bad entry."""
        from crosswatch_trakt.emulator.statejson import load_state_json

        load_state_json(self, data, now)
