"""What the server knows per account: views, ratings, resume positions, watchlist, play history.

Accounts are the server owner (PMS account id 1) and the home users (PMS account id = their
plex.tv id). Per account (:class:`UserData`), keyed by integer ratingKey:

- ``views``: viewCount of movies and episodes (a show or season shows the sum, and
  ``viewedLeafCount``); ``last_viewed``: lastViewedAt (epoch s), which a "marked watched"
  item may lack;
- ``ratings``: ``(userRating 0-10, lastRatedAt)`` on any of the four kinds;
- ``offsets``: viewOffset in ms (the resume position);
- ``watchlist``: Discover key -> watchlistedAt (the plex.tv account's watchlist).

The play history (``rows``) is server-wide: each :class:`Row` names its account. viewCount
is kept apart from the history, as PMS does: a "marked watched" item has viewCount > 0 and
no row, and deleting a row (``DELETE /status/sessions/history/{id}``) leaves viewCount alone.
``play`` (scrobble, or a report past the threshold) adds one view and one row at the given
time; ``unwatch`` (unscrobble) zeroes the views and drops the account's rows of the item.
A show or season applies to each of its episodes. Every change bumps ``version``, which
keys the listing caches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crosswatch.emulation.catalog import Episode, Media, Movie, Season, Show
from crosswatch_plex.emulator.library import Library


@dataclass
class Account:
    """A server account (the owner or a home user) and its plex.tv identity."""

    id: int
    plextv_id: int
    uuid: str
    title: str
    username: str
    email: str
    token: str
    admin: bool = False
    restricted: bool = False

    @property
    def thumb(self) -> str:
        return f"https://plex.tv/users/{self.uuid}/avatar?c=1630875354"


@dataclass(slots=True)
class Row:
    """One play in the history."""

    id: int
    rk: int
    account: int
    viewed_at: int
    device: int = 1


@dataclass
class UserData:
    views: dict[int, int] = field(default_factory=dict)
    last_viewed: dict[int, int] = field(default_factory=dict)
    ratings: dict[int, tuple[float, int]] = field(default_factory=dict)
    offsets: dict[int, int] = field(default_factory=dict)
    watchlist: dict[str, int] = field(default_factory=dict)


def leaves(media: Media) -> list[Movie | Episode]:
    """The playable items under a media (itself for movies and episodes)."""
    if isinstance(media, Show):
        return [ep for season in media.seasons for ep in season.episodes]
    if isinstance(media, Season):
        return list(media.episodes)
    return [media]


class PlexState:
    """The accounts, their data and the play history over one library."""

    def __init__(self, library: Library, accounts: list[Account], first_row: int = 1) -> None:
        self.library = library
        self.accounts: dict[int, Account] = {a.id: a for a in accounts}
        self.users: dict[int, UserData] = {a.id: UserData() for a in accounts}
        self.rows: dict[int, Row] = {}
        self.next_row = first_row
        self.version = 0
        self._sorted: list[Row] | None = None

    @property
    def owner(self) -> Account:
        return self.accounts[1]

    def touch(self) -> None:
        self.version += 1
        self._sorted = None

    def user(self, account: int) -> UserData:
        return self.users[account]

    # -- history ------------------------------------------------------------------------------

    def add_row(self, rk: int, account: int, viewed_at: int, device: int = 1, row_id: int | None = None) -> Row:
        if row_id is None:
            row_id = self.next_row
        self.next_row = max(self.next_row, row_id + 1)
        row = Row(row_id, rk, account, viewed_at, device)
        self.rows[row_id] = row
        self.touch()
        return row

    def delete_row(self, row_id: int) -> bool:
        if self.rows.pop(row_id, None) is None:
            return False
        self.touch()
        return True

    def rows_newest_first(self) -> list[Row]:
        """Every row, newest ``viewedAt`` first (ties: higher id first); cached until a change."""
        if self._sorted is None:
            self._sorted = sorted(self.rows.values(), key=lambda r: (r.viewed_at, r.id), reverse=True)
        return self._sorted

    def played_keys(self, account: int) -> set[int]:
        return {r.rk for r in self.rows.values() if r.account == account}

    # -- writes -------------------------------------------------------------------------------

    def play(self, account: int, media: Media, at: int, device: int = 1) -> list[Row]:
        """One more view of each leaf at ``at``, with a history row each; resume positions cleared."""
        data = self.users[account]
        rows = []
        for leaf in leaves(media):
            rk = self.library.rk(leaf)
            data.views[rk] = data.views.get(rk, 0) + 1
            data.last_viewed[rk] = max(at, data.last_viewed.get(rk, 0))
            data.offsets.pop(rk, None)
            rows.append(self.add_row(rk, account, at, device))
        self.touch()
        return rows

    def unwatch(self, account: int, media: Media) -> int:
        """viewCount 0 and no history rows for each leaf; the number of rows removed."""
        data = self.users[account]
        keys = {self.library.rk(leaf) for leaf in leaves(media)}
        for rk in keys:
            data.views.pop(rk, None)
            data.last_viewed.pop(rk, None)
            data.offsets.pop(rk, None)
        doomed = [r.id for r in self.rows.values() if r.account == account and r.rk in keys]
        for row_id in doomed:
            del self.rows[row_id]
        self.touch()
        return len(doomed)

    def mark_watched(self, account: int, rk: int, count: int = 1, at: int | None = None) -> None:
        """viewCount without a history row ("marked watched"), with or without lastViewedAt."""
        data = self.users[account]
        data.views[rk] = count
        if at is not None:
            data.last_viewed[rk] = at
        self.touch()

    def rate(self, account: int, media: Media, rating: float | None, at: int) -> None:
        """Set ``userRating`` (None or 0 clears it) and ``lastRatedAt``."""
        data = self.users[account]
        rk = self.library.rk(media)
        if not rating:
            data.ratings.pop(rk, None)
        else:
            data.ratings[rk] = (float(rating), at)
        self.touch()

    def set_offset(self, account: int, media: Media, offset_ms: int | None) -> None:
        data = self.users[account]
        rk = self.library.rk(media)
        if offset_ms:
            data.offsets[rk] = int(offset_ms)
        else:
            data.offsets.pop(rk, None)
        self.touch()

    def watch(self, account: int, key: str, at: int) -> bool:
        """Add a Discover key to the account's watchlist; False if it was already there."""
        data = self.users[account]
        if key in data.watchlist:
            return False
        data.watchlist[key] = at
        self.touch()
        return True

    def unlist(self, account: int, key: str) -> bool:
        data = self.users[account]
        if data.watchlist.pop(key, None) is None:
            return False
        self.touch()
        return True

    # -- reads --------------------------------------------------------------------------------

    def view_of(self, account: int, media: Media) -> tuple[int, int | None, int]:
        """``(viewCount, lastViewedAt, viewedLeafCount)``; shows and seasons sum their episodes."""
        data = self.users[account]
        rk_of = self.library.rk
        if isinstance(media, (Movie, Episode)):
            rk = rk_of(media)
            count = data.views.get(rk, 0)
            return count, data.last_viewed.get(rk), 1 if count else 0
        total, last, viewed = 0, None, 0
        views, lasts = data.views, data.last_viewed
        for leaf in leaves(media):
            rk = rk_of(leaf)
            count = views.get(rk, 0)
            if count:
                total += count
                viewed += 1
                at = lasts.get(rk)
                if at is not None and (last is None or at > last):
                    last = at
        return total, last, viewed
