"""Each user's data per item (played, play count, last played, position, favourite, rating)
and their playlists, with the servers' rules for changing them.

Per user, keyed by item index (:class:`Data`, the server's ``UserItemData``):

- ``mark_played`` (``POST .../PlayedItems/{id}``): with a ``DatePlayed`` PlayCount + 1,
  without one PlayCount = max(PlayCount, 1); position 0; ``LastPlayedDate = DatePlayed ??
  existing ?? now``; on a series or season: every episode (BaseItem.cs / Folder.cs
  ``MarkPlayed``). Re-sending a dated play counts it again, as the real servers do.
- ``mark_unplayed``: PlayCount 0, position 0, LastPlayedDate cleared, Played false.
- ``set_likes``: ``true`` is Rating 10, ``false`` Rating 1, None clears; ``Likes`` reads
  ``Rating >= 6.5`` (UserItemData.cs). ``update`` (``UpdateUserItemDataDto``) sets the
  fields given and leaves the rest; a Rating outside 0-10 is a ValueError (400).
- playback (``/Sessions/Playing*``): ``start`` PlayCount + 1, LastPlayedDate now, Played
  false; ``progress``/``stop`` keep the position by the resume rules (below 5 % none, above
  90 % or within a second of the end played, shorter than 300 s played); a stop without a
  position counts a play (SessionManager.cs, UserDataManager.cs ``UpdatePlayState``).

A series' or season's ``Played`` and ``UnplayedItemCount`` come from its episodes
(``folder_counts``); its own PlayCount, favourite and rating are its own. Every change bumps
``version`` and is told to ``listener(user_id, item indices, reason)`` (the websocket's
``UserDataChanged``), with the reasons of the server's ``UserDataSaveReason``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crosswatch.emulation.catalog import Media, Season, Show
from crosswatch_jellyfin.emulator.library import TICKS, Library, leaves

MIN_LIKE = 6.5
Listener = Callable[[str, list[int], str], None]


@dataclass(slots=True)
class Data:
    """One user's data on one item."""

    played: bool = False
    play_count: int = 0
    last_played: float | None = None
    position: int = 0
    favorite: bool = False
    rating: float | None = None

    @property
    def likes(self) -> bool | None:
        return None if self.rating is None else self.rating >= MIN_LIKE

    def empty(self) -> bool:
        return (
            not self.played
            and not self.play_count
            and self.last_played is None
            and not self.position
            and not self.favorite
            and self.rating is None
        )


@dataclass
class Playlist:
    """A user's playlist: entries are ``(PlaylistItemId, item index)`` in order."""

    id: str
    name: str
    owner: str
    media_type: str = "Video"
    entries: list[tuple[str, int]] = field(default_factory=list)
    created: float = 0.0


@dataclass
class ResumeRules:
    """The server's resume settings (the ``min_resume_pct``, ... knobs)."""

    min_pct: float = 5.0
    max_pct: float = 90.0
    min_duration_s: float = 300.0


class UserState:
    """Every user's data and playlists over one library (see the module docstring)."""

    def __init__(self, library: Library, user_ids: list[str]) -> None:
        self.library = library
        self.data: dict[str, dict[int, Data]] = {u: {} for u in user_ids}
        self.playlists: dict[str, Playlist] = {}
        self.version = 0
        self.listener: Listener | None = None

    # -- reading --------------------------------------------------------------------------------

    def get(self, user_id: str, index: int) -> Data | None:
        return self.data[user_id].get(index)

    def ensure(self, user_id: str, index: int) -> Data:
        store = self.data[user_id]
        data = store.get(index)
        if data is None:
            data = store[index] = Data()
        return data

    def folder_counts(self, user_id: str, media: Media) -> tuple[int, int]:
        """``(played episodes, episodes)`` under a series or season."""
        store, index = self.data[user_id], self.library.index
        total = played = 0
        for ep in leaves(media):
            total += 1
            data = store.get(index[ep])
            if data is not None and data.played:
                played += 1
        return played, total

    def is_played(self, user_id: str, media: Media) -> bool:
        """``Played``: a movie's or episode's flag; a folder's: every episode played."""
        if isinstance(media, (Show, Season)):
            played, total = self.folder_counts(user_id, media)
            return total > 0 and played == total
        data = self.data[user_id].get(self.library.index[media])
        return data is not None and data.played

    # -- changes --------------------------------------------------------------------------------

    def _changed(self, user_id: str, indices: list[int], reason: str) -> None:
        self.version += 1
        if self.listener is not None and indices:
            self.listener(user_id, indices, reason)

    def touch(self) -> None:
        """Something outside the rules changed the state (a posted state, a reset)."""
        self.version += 1

    def mark_played(self, user_id: str, media: Media, date: float | None) -> None:
        index = self.library.index
        changed = []
        now = time.time()
        for leaf in leaves(media):
            i = index[leaf]
            data = self.ensure(user_id, i)
            if date is not None:
                data.play_count += 1
            data.play_count = max(data.play_count, 1)
            data.position = 0
            data.last_played = date if date is not None else (data.last_played or now)
            data.played = True
            changed.append(i)
        self._changed(user_id, changed, "TogglePlayed")

    def mark_unplayed(self, user_id: str, media: Media) -> None:
        index = self.library.index
        changed = []
        for leaf in leaves(media):
            i = index[leaf]
            data = self.ensure(user_id, i)
            data.played, data.play_count, data.position, data.last_played = False, 0, 0, None
            changed.append(i)
        self._changed(user_id, changed, "TogglePlayed")

    def set_favorite(self, user_id: str, media: Media, favorite: bool) -> None:
        i = self.library.index[media]
        self.ensure(user_id, i).favorite = favorite
        self._changed(user_id, [i], "UpdateUserRating")

    def set_likes(self, user_id: str, media: Media, likes: bool | None) -> None:
        i = self.library.index[media]
        self.ensure(user_id, i).rating = None if likes is None else (10.0 if likes else 1.0)
        self._changed(user_id, [i], "UpdateUserRating")

    def update(self, user_id: str, media: Media, fields: dict[str, Any]) -> None:
        """``UpdateUserItemDataDto``: the given fields (already typed); ValueError for a bad Rating."""
        rating = fields.get("Rating")
        if rating is not None and not 0 <= rating <= 10:
            raise ValueError("A 0 to 10 rating is required for UserItemData.")
        i = self.library.index[media]
        data = self.ensure(user_id, i)
        if fields.get("PlaybackPositionTicks") is not None:
            data.position = int(fields["PlaybackPositionTicks"])
        if fields.get("PlayCount") is not None:
            data.play_count = int(fields["PlayCount"])
        if fields.get("IsFavorite") is not None:
            data.favorite = bool(fields["IsFavorite"])
        if fields.get("Likes") is not None:
            data.rating = 10.0 if fields["Likes"] else 1.0
        if fields.get("Played") is not None:
            data.played = bool(fields["Played"])
        if fields.get("LastPlayedDate") is not None:
            data.last_played = float(fields["LastPlayedDate"])
        if rating is not None:
            data.rating = float(rating)
        self._changed(user_id, [i], "UpdateUserData")

    # -- playback -------------------------------------------------------------------------------

    def playback_start(self, user_id: str, media: Media) -> None:
        i = self.library.index[media]
        data = self.ensure(user_id, i)
        data.play_count += 1
        data.last_played = time.time()
        data.played = False
        self._changed(user_id, [i], "PlaybackStart")

    def playback_progress(self, user_id: str, media: Media, ticks: int | None, rules: ResumeRules) -> None:
        i = self.library.index[media]
        if ticks is not None:
            self._play_state(self.ensure(user_id, i), media, ticks, rules)
        self._changed(user_id, [i], "PlaybackProgress")

    def playback_stop(self, user_id: str, media: Media, ticks: int | None, rules: ResumeRules) -> bool:
        """Apply a stop report; True when the item counts as played to completion."""
        i = self.library.index[media]
        data = self.ensure(user_id, i)
        if ticks is None:
            data.play_count += 1
            data.played, data.position = True, 0
            done = True
        else:
            done = self._play_state(data, media, ticks, rules)
        self._changed(user_id, [i], "PlaybackFinished")
        return done

    def _play_state(self, data: Data, media: Media, ticks: int, rules: ResumeRules) -> bool:
        """The server's ``UpdatePlayState``: the position kept, and whether it finished the item."""
        runtime = self.library.runtime_ticks(media) or 0
        done = False
        if ticks > 0 and runtime > 0:
            pct = ticks / runtime * 100
            if pct < rules.min_pct:
                ticks = 0
            elif pct > rules.max_pct or ticks >= runtime - TICKS or runtime / TICKS < rules.min_duration_s:
                ticks, done = 0, True
        elif runtime <= 0:
            ticks, done = 0, True
        if done:
            data.played = True
        data.position = ticks
        return done

    # -- playlists ------------------------------------------------------------------------------

    def playlist_changed(self) -> None:
        self.version += 1
