"""The users' data and playlists as JSON: ``GET``/``POST /_emulator/state`` (dates ISO 8601 UTC)::

    {"users": [{"id": "<32 hex>", "name": "ann", "admin": true,
                "data": [{"item": "<item id>", "played": true, "play_count": 2,
                          "last_played": "2024-05-01T20:15:00.0000000Z" | null,
                          "position_ticks": 0, "favorite": false, "rating": 10.0 | null,
                          "type": "movie", "trakt": 123, "title": "...",   # informative
                          "ids": {"imdb": ..., "tmdb": ..., "tvdb": ...}}, ...]}, ...],
     "playlists": [{"id": "...", "name": "Watch later", "owner": "<user id>",
                    "media_type": "Video", "items": [{"entry": "...", "item": "<item id>"}, ...]}]}

``data`` holds every item with any user data, in library order. Posting replaces everything:
a user left out (named by ``id`` or ``name``) has no data, ``playlists`` missing means none.
An entry names its item by ``item`` or by ``type`` + catalogue ``trakt`` id; fields left out
take their empty value. A bad entry refuses the whole post (ValueError naming it; 422).
"""

from __future__ import annotations

import time
from typing import Any

from crosswatch.emulation.catalog import KINDS, Episode, Media, Movie, Season, Show
from crosswatch_jellyfin.emulator.library import Library
from crosswatch_jellyfin.emulator.render import iso, parse_date
from crosswatch_jellyfin.emulator.userdata import Data, Playlist, UserState
from crosswatch_jellyfin.emulator.users import Accounts


def describe(lib: Library, media: Media) -> dict[str, Any]:
    """The informative fields of an entry (catalogue kind, ids and title)."""
    ids = {k: v for k, v in media.ids().items() if k in ("imdb", "tmdb", "tvdb") and v}
    out: dict[str, Any] = {"type": media.kind, "trakt": media.trakt, "title": lib.name(media)}
    if isinstance(media, (Season, Episode)):
        out["show"] = media.show.title
        out["season"] = media.number if isinstance(media, Season) else media.season
    if isinstance(media, Episode):
        out["episode"] = media.number
    if isinstance(media, (Movie, Show)):
        out["year"] = media.year
    return out | {"ids": ids}


def state_to_json(state: UserState, accounts: Accounts) -> dict[str, Any]:
    lib = state.library
    users = []
    for user in accounts.users:
        store = state.data.get(user.id, {})
        data = [
            {
                "item": lib.ids[i],
                "played": d.played,
                "play_count": d.play_count,
                "last_played": iso(d.last_played),
                "position_ticks": d.position,
                "favorite": d.favorite,
                "rating": d.rating,
            }
            | describe(lib, lib.media[i])
            for i, d in sorted(store.items())
        ]
        users.append({"id": user.id, "name": user.name, "admin": user.admin, "data": data})
    playlists = [
        {
            "id": p.id,
            "name": p.name,
            "owner": p.owner,
            "media_type": p.media_type,
            "items": [{"entry": e, "item": lib.ids[i]} for e, i in p.entries],
        }
        for p in state.playlists.values()
    ]
    return {"users": users, "playlists": playlists}


def load_state_json(state: UserState, accounts: Accounts, data: Any) -> None:
    """Replace every user's data and the playlists with ``data``; ValueError names a bad entry."""
    if not isinstance(data, dict):
        raise ValueError("the state must be a JSON object")
    lib = state.library
    fresh: dict[str, dict[int, Data]] = {u.id: {} for u in accounts.users}
    users = data.get("users") or []
    if not isinstance(users, list):
        raise ValueError("users must be a list")
    for n, entry in enumerate(users):
        where = f"users[{n}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: must be an object")
        user = accounts.user(str(entry.get("id") or "")) or accounts.by_name(str(entry.get("name") or ""))
        if user is None:
            raise ValueError(f"{where}: no user with id {entry.get('id')!r} or name {entry.get('name')!r}")
        rows = entry.get("data") or []
        if not isinstance(rows, list):
            raise ValueError(f"{where}.data must be a list")
        for m, row in enumerate(rows):
            index, record = _row(lib, row, f"{where}.data[{m}]")
            fresh[user.id][index] = record
    playlists: dict[str, Playlist] = {}
    for n, entry in enumerate(data.get("playlists") or []):
        where = f"playlists[{n}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"{where}: must be an object with a name")
        owner = accounts.user(str(entry.get("owner") or "")) or accounts.by_name(str(entry.get("owner") or ""))
        if owner is None:
            raise ValueError(f"{where}: owner must name a user")
        playlist = Playlist(
            str(entry.get("id") or lib.new_id()), entry["name"], owner.id, str(entry.get("media_type") or "Video")
        )
        playlist.created = time.time()
        for m, item in enumerate(entry.get("items") or []):
            index = _index(lib, item, f"{where}.items[{m}]")
            entry_id = item.get("entry") if isinstance(item, dict) else None
            playlist.entries.append((str(entry_id or lib.new_id()), index))
        playlists[playlist.id] = playlist
    state.data, state.playlists = fresh, playlists
    state.touch()


def _index(lib: Library, row: Any, where: str) -> int:
    if isinstance(row, str):
        row = {"item": row}
    if not isinstance(row, dict):
        raise ValueError(f"{where}: must be an object")
    if row.get("item") is not None:
        index = lib.by_id.get(lib.parse_id(str(row["item"])) or "")
        if index is None:
            raise ValueError(f"{where}: no item with id {row['item']!r}")
        return index
    kind, trakt = row.get("type"), row.get("trakt")
    media = None
    if kind in KINDS and isinstance(trakt, int) and not isinstance(trakt, bool):
        media = lib.catalog.get(kind, trakt)
    if media is None:
        raise ValueError(f"{where}: name the item by 'item' or by 'type' and catalogue 'trakt' id")
    return lib.index[media]


def _row(lib: Library, row: Any, where: str) -> tuple[int, Data]:
    index = _index(lib, row, where)
    try:
        last = parse_date(row.get("last_played")) if row.get("last_played") else None
    except ValueError:
        raise ValueError(f"{where}: last_played is not a date: {row.get('last_played')!r}") from None
    rating = row.get("rating")
    if rating is not None and (
        isinstance(rating, bool) or not isinstance(rating, (int, float)) or not 0 <= rating <= 10
    ):
        raise ValueError(f"{where}: rating must be a number from 0 to 10")
    for name in ("play_count", "position_ticks"):
        value = row.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{where}: {name} must be a whole number, 0 or more")
    record = Data(
        bool(row.get("played")),
        int(row.get("play_count", 0)),
        last,
        int(row.get("position_ticks", 0)),
        bool(row.get("favorite")),
        None if rating is None else float(rating),
    )
    return index, record
