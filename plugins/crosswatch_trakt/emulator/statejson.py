"""The user state as JSON: ``GET``/``POST /_emulator/state`` (times ISO 8601 UTC)::

    {"watchlist":  [{"id", "type", "trakt", "listed_at", "notes"}, ...],     # rank order
     "ratings":    [{"type", "trakt", "rating", "rated_at"}, ...],
     "history":    [{"id", "type", "trakt", "watched_at", "action"}, ...],   # newest first
     "playback":   [{"id", "type", "trakt", "progress", "paused_at"}, ...],
     "collection": [{"type", "trakt", "collected_at"}, ...],
     "activities": {...},            # as GET /sync/last_activities (ignored when posted)
     "tokens": 1}                    # valid access tokens (ignored when posted)

``type`` is movie/show/season/episode (history, playback and collection hold movies and
episodes), ``trakt`` the media's Trakt id, ``action`` scrobble/checkin/watch. Seasons and
episodes also carry ``show`` (the show's Trakt id), ``season`` and, for episodes, ``number``:
informative, ignored when posted. Posting replaces all five lists (a missing list means
empty); entries without ``id`` get a new one, a missing time means now; every activity
stamp moves. A bad entry refuses the whole post (422, naming the entry).
"""

from __future__ import annotations

from typing import Any

from crosswatch.emulation.catalog import Episode, Season
from crosswatch_trakt.emulator.times import iso, parse_iso
from crosswatch_trakt.emulator.userstate import ACTIONS, ACTIVITY_GROUPS, FEATURES, KINDS, Key, UserState


def _where(state: UserState, key: Key) -> dict[str, Any]:
    media = state.media(key)
    if isinstance(media, Episode):
        return {"show": media.show.trakt, "season": media.season, "number": media.number}
    if isinstance(media, Season):
        return {"show": media.show.trakt, "season": media.number}
    return {}


def state_to_json(state: UserState) -> dict[str, Any]:
    """The whole state as plain JSON (the shape above)."""
    return {
        "watchlist": [
            {"id": e.id, "type": e.key[0], "trakt": e.key[1], "listed_at": iso(e.listed_at), "notes": e.notes}
            | _where(state, e.key)
            for e in state.watchlist.values()
        ],
        "ratings": [
            {"type": r.key[0], "trakt": r.key[1], "rating": r.rating, "rated_at": iso(r.rated_at)}
            | _where(state, r.key)
            for r in state.ratings.values()
        ],
        "history": [
            {"id": p.id, "type": p.key[0], "trakt": p.key[1], "watched_at": iso(p.watched_at), "action": p.action}
            | _where(state, p.key)
            for p in state.history_view(None)[0]
        ],
        "playback": [
            {"id": p.id, "type": p.key[0], "trakt": p.key[1], "progress": p.progress, "paused_at": iso(p.paused_at)}
            | _where(state, p.key)
            for p in state.playback.values()
        ],
        "collection": [
            {"type": k[0], "trakt": k[1], "collected_at": iso(at)} | _where(state, k)
            for k, at in state.collection.items()
        ],
        "activities": state.activities.to_json(),
    }


def load_state_json(state: UserState, data: Any, now: int) -> None:
    """Replace every feature with ``data`` (the state JSON); raises ValueError naming a bad entry."""
    if not isinstance(data, dict):
        raise ValueError("the state must be a JSON object")
    fresh = UserState(state.catalog, base_ms=state.activities.last, first_ids=dict(state.next_id))
    allowed = {
        "watchlist": KINDS,
        "ratings": KINDS,
        "history": ("movie", "episode"),
        "playback": ("movie", "episode"),
        "collection": ("movie", "episode"),
    }
    counters = {"watchlist": "list", "history": "history", "playback": "playback"}
    for feature, kinds in allowed.items():
        entries = data.get(feature) or []
        if not isinstance(entries, list):
            raise ValueError(f"{feature} must be a list")
        if feature in counters:  # new ids for entries without one start above every given id
            given = [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), int)]
            if len(given) != len(set(given)):
                raise ValueError(f"{feature}: ids must be unique")
            fresh.next_id[counters[feature]] = max([fresh.next_id[counters[feature]], *(i + 1 for i in given)])
        for n, entry in enumerate(entries):
            where = f"{feature}[{n}]"
            if not isinstance(entry, dict) or entry.get("type") not in kinds:
                raise ValueError(f"{where}: type must be one of {', '.join(kinds)}")
            trakt = entry.get("trakt")
            if not isinstance(trakt, int) or state.catalog.get(entry["type"], trakt) is None:
                raise ValueError(f"{where}: no {entry['type']} with trakt id {trakt!r} in the catalogue")
            key: Key = (entry["type"], trakt)
            _load_entry(fresh, feature, key, entry, where, now)
    for name, value in fresh.next_id.items():
        state.next_id[name] = max(value, state.next_id[name])
    state.watchlist, state.ratings, state.plays = fresh.watchlist, fresh.ratings, fresh.plays
    state.playback, state.collection, state.scrobbled = fresh.playback, fresh.collection, {}
    state.digests = fresh.digests
    for feature in FEATURES:
        state.versions[feature] += 1
    state.activities.touch(((g, k) for g, keys in ACTIVITY_GROUPS.items() for k in keys), now)


def _load_entry(target: UserState, feature: str, key: Key, entry: dict[str, Any], where: str, now: int) -> None:
    def when(name: str) -> int:
        value = entry.get(name)
        if value is None:
            return now
        parsed = parse_iso(value)
        if parsed is None:
            raise ValueError(f"{where}: {name} is not an ISO 8601 time: {value!r}")
        return parsed

    def ident(kind: str) -> int | None:
        value = entry.get("id")
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{where}: id must be an integer")
        target.next_id[kind] = max(target.next_id[kind], value + 1)
        return value

    if feature == "watchlist":
        notes = entry.get("notes")
        target.watch(key, when("listed_at"), notes if isinstance(notes, str) else None, ident("list"))
    elif feature == "ratings":
        rating = entry.get("rating")
        if not isinstance(rating, int) or not 1 <= rating <= 10:
            raise ValueError(f"{where}: rating must be an integer from 1 to 10")
        target.rate(key, rating, when("rated_at"))
    elif feature == "history":
        action = entry.get("action", "watch")
        if action not in ACTIONS:
            raise ValueError(f"{where}: action must be one of {', '.join(ACTIONS)}")
        target.add_play(key, when("watched_at"), action, ident("history"))
    elif feature == "playback":
        progress = entry.get("progress")
        if isinstance(progress, bool) or not isinstance(progress, (int, float)) or not 0 <= progress <= 100:
            raise ValueError(f"{where}: progress must be a number from 0 to 100")
        target.pause(key, float(progress), when("paused_at"), ident("playback"))
    else:
        target.collect(key, when("collected_at"))
