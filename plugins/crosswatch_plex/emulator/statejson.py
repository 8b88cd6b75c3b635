"""The whole user state as JSON: ``GET``/``POST /_emulator/state`` (times are epoch seconds)::

    {"accounts": [{"id": 1, "plextv_id": 1234567, "uuid": "...", "title": "...",
                   "username": "...", "admin": true, "restricted": false, "token": "..."}, ...],
     "users": {
       "1": {                                                   # PMS account id (owner: 1)
         "watchlist": [{"discover": "<24 hex>", "watchlistedAt": T}, ...],   # oldest first
         "ratings":   [{"ratingKey": "1234", "rating": 8.0, "ratedAt": T}, ...],     # oldest first
         "plays":     [{"historyKey": 77, "ratingKey": "1234", "viewedAt": T, "deviceID": 1}, ...],
         "watched":   [{"ratingKey": "1234", "viewCount": 2, "lastViewedAt": T | null}, ...],  # by key
         "marked_watched": [...],     # the watched entries without any play (informative)
         "progress":  [{"ratingKey": "1234", "viewOffset": 61000}, ...]},
       "<home user id>": {...}}}

Every entry also carries, for reading only, ``type``, ``title``, the catalogue ``ids``
(``imdb``, ``tmdb``, ``tvdb``, ``trakt``: the Trakt emulator of the same seed has the same)
and, for seasons and episodes, ``show``, ``season`` (and ``episode``). Plays are newest first.

Posting replaces the data of every account (an account left out is emptied; ``accounts``
is ignored). An entry names its item by ``ratingKey`` (``discover`` for the watchlist), or by
``type`` + catalogue ``trakt`` id. viewCount comes from the plays (their count and the
newest ``viewedAt``) unless a ``watched`` (or ``marked_watched``) entry sets it; plays
without ``historyKey`` get new ones, a missing time means now. A bad entry refuses the whole
post (ValueError naming the entry, answered 422).
"""

from __future__ import annotations

import time
from typing import Any

from crosswatch.emulation.catalog import Episode, Media, Movie, Season, Show
from crosswatch_plex.emulator.library import Library
from crosswatch_plex.emulator.userstate import PlexState, UserData


def describe(lib: Library, media: Media | None) -> dict[str, Any]:
    """The informative fields of an entry."""
    if media is None:
        return {}
    ids = {k: v for k, v in media.ids().items() if k in ("imdb", "tmdb", "tvdb", "trakt") and v}
    out: dict[str, Any] = {"type": media.kind}
    if isinstance(media, (Movie, Show)):
        out["title"] = media.title
        out["year"] = media.year
    elif isinstance(media, Season):
        out |= {"title": f"Season {media.number}", "show": media.show.title, "season": media.number}
    elif isinstance(media, Episode):
        out |= {"title": media.title, "show": media.show.title, "season": media.season, "episode": media.number}
    out["ids"] = ids
    return out


def state_to_json(state: PlexState) -> dict[str, Any]:
    lib = state.library
    users: dict[str, Any] = {}
    newest = state.rows_newest_first()
    for acct_id, data in state.users.items():
        played = state.played_keys(acct_id)
        watched = [
            {"ratingKey": str(rk), "viewCount": count, "lastViewedAt": data.last_viewed.get(rk)}
            | describe(lib, lib.get(rk))
            for rk, count in sorted(data.views.items())
            if count
        ]
        users[str(acct_id)] = {
            "watchlist": [
                {"discover": key, "watchlistedAt": at} | describe(lib, lib.from_discover(key))
                for key, at in sorted(data.watchlist.items(), key=lambda e: e[1])
            ],
            "ratings": [
                {"ratingKey": str(rk), "rating": rating, "ratedAt": at} | describe(lib, lib.get(rk))
                for rk, (rating, at) in sorted(data.ratings.items(), key=lambda e: (e[1][1], e[0]))
            ],
            "plays": [
                {"historyKey": r.id, "ratingKey": str(r.rk), "viewedAt": r.viewed_at, "deviceID": r.device}
                | describe(lib, lib.get(r.rk))
                for r in newest
                if r.account == acct_id
            ],
            "watched": watched,
            "marked_watched": [w for w in watched if int(str(w["ratingKey"])) not in played],
            "progress": [
                {"ratingKey": str(rk), "viewOffset": ms} | describe(lib, lib.get(rk))
                for rk, ms in sorted(data.offsets.items())
            ],
        }
    accounts = [
        {
            "id": a.id,
            "plextv_id": a.plextv_id,
            "uuid": a.uuid,
            "title": a.title,
            "username": a.username,
            "admin": a.admin,
            "restricted": a.restricted,
            "token": a.token,
        }
        for a in state.accounts.values()
    ]
    return {"accounts": accounts, "users": users}


def _media(lib: Library, entry: dict[str, Any], where: str, *, discover: bool = False) -> Media:
    media: Media | None = None
    if discover and entry.get("discover") is not None:
        media = lib.from_discover(str(entry["discover"]))
    elif entry.get("ratingKey") is not None:
        media = lib.get(str(entry["ratingKey"]))
    elif entry.get("type") in ("movie", "show", "season", "episode") and isinstance(entry.get("trakt"), int):
        media = lib.catalog.get(entry["type"], entry["trakt"])
    if media is None:
        raise ValueError(f"{where}: no such item (give ratingKey{', discover' if discover else ''} or type + trakt)")
    return media


def _time(entry: dict[str, Any], name: str, where: str, now: int, *, optional: bool = False) -> int | None:
    value = entry.get(name)
    if value is None:
        return None if optional else now
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: {name} must be epoch seconds")
    return value


def load_state_json(state: PlexState, data: Any) -> None:
    """Replace every account's data with ``data`` (the shape above)."""
    if not isinstance(data, dict):
        raise ValueError("the state must be a JSON object")
    users = data.get("users") or {}
    if not isinstance(users, dict):
        raise ValueError("users must be an object keyed by account id")
    lib, now = state.library, int(time.time())
    fresh = {acct: UserData() for acct in state.accounts}
    rows: list[tuple[int | None, int, int, int, int]] = []  # (id, rk, account, viewedAt, device)
    for name, block in users.items():
        if not str(name).isdigit() or int(name) not in fresh:
            raise ValueError(f"users: no account {name!r} (accounts: {', '.join(map(str, fresh))})")
        if not isinstance(block, dict):
            raise ValueError(f"users[{name}] must be an object")
        acct, target = int(name), fresh[int(name)]
        for feature in ("watchlist", "ratings", "plays", "watched", "marked_watched", "progress"):
            entries = block.get(feature) or []
            if not isinstance(entries, list):
                raise ValueError(f"users[{name}].{feature} must be a list")
            for n, entry in enumerate(entries):
                where = f"users[{name}].{feature}[{n}]"
                if not isinstance(entry, dict):
                    raise ValueError(f"{where}: must be an object")
                media = _media(lib, entry, where, discover=feature == "watchlist")
                if feature == "watchlist":
                    target.watchlist[lib.discover_key(media)] = _time(entry, "watchlistedAt", where, now) or now
                elif feature == "ratings":
                    rating = entry.get("rating")
                    if isinstance(rating, bool) or not isinstance(rating, (int, float)) or not 0 < rating <= 10:
                        raise ValueError(f"{where}: rating must be a number above 0, at most 10")
                    target.ratings[lib.rk(media)] = (float(rating), _time(entry, "ratedAt", where, now) or now)
                elif feature == "plays":
                    if not isinstance(media, (Movie, Episode)):
                        raise ValueError(f"{where}: only movies and episodes are played")
                    key = entry.get("historyKey")
                    if key is not None and (isinstance(key, bool) or not isinstance(key, int) or key < 1):
                        raise ValueError(f"{where}: historyKey must be a positive integer")
                    device = entry.get("deviceID", 1)
                    rows.append(
                        (
                            key,
                            lib.rk(media),
                            acct,
                            _time(entry, "viewedAt", where, now) or now,
                            device if isinstance(device, int) else 1,
                        )
                    )
                elif feature == "progress":
                    offset = entry.get("viewOffset")
                    if isinstance(offset, bool) or not isinstance(offset, int) or offset <= 0:
                        raise ValueError(f"{where}: viewOffset must be a positive number of milliseconds")
                    target.offsets[lib.rk(media)] = offset
    given = [r[0] for r in rows if r[0] is not None]
    if len(given) != len(set(given)):
        raise ValueError("plays: historyKeys must be unique")
    # views from the plays, then the explicit watched entries
    for _, rk, acct, at, _ in rows:
        target = fresh[acct]
        target.views[rk] = target.views.get(rk, 0) + 1
        target.last_viewed[rk] = max(at, target.last_viewed.get(rk, 0))
    for name, block in users.items():
        target = fresh[int(name)]
        for feature in ("watched", "marked_watched"):
            for n, entry in enumerate(block.get(feature) or []):
                where = f"users[{name}].{feature}[{n}]"
                media = _media(lib, entry, where)
                if not isinstance(media, (Movie, Episode)):
                    raise ValueError(f"{where}: only movies and episodes carry a viewCount")
                count = entry.get("viewCount", 1)
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    raise ValueError(f"{where}: viewCount must be a whole number")
                rk = lib.rk(media)
                target.views[rk] = count
                viewed_at = _time(entry, "lastViewedAt", where, now, optional=True)
                if viewed_at is None:
                    target.last_viewed.pop(rk, None)
                else:
                    target.last_viewed[rk] = viewed_at
    next_row = max([state.next_row, *(k + 1 for k in given)])
    state.users = fresh
    state.rows = {}
    state.next_row = next_row
    for key, rk, acct, at, device in sorted(rows, key=lambda r: (r[3], r[0] or 0)):
        state.add_row(rk, acct, at, device, key)
    state.touch()
