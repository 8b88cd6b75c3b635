"""The users' data drawn from the library deterministically for a seed.

From ``random.Random`` seeded with the seed and no clock (times end on 2026-01-01 UTC and
reach back five years):

- the administrator: about 30 % of the movies played (some two or three times), about
  25 % of the series watched season by season; about 1 % of the movies ``Played`` with
  PlayCount 0 and no LastPlayedDate (set by a client's UserData update or an import);
  resume positions on a few unplayed movies and next episodes (PlayCount 1, Played false);
  about 5 % of the movies and series favourites; about 10 % rated (mostly likes, Rating 10
  or 1, some other 0-10 values); a playlist "Watch later" of a few movies and episodes.
- the second user: fewer plays, favourites and ratings, some on the administrator's titles.
"""

from __future__ import annotations

import gc
import math
import random
from datetime import UTC, datetime

from crosswatch.emulation.catalog import Media
from crosswatch_jellyfin.emulator.library import TICKS, Library
from crosswatch_jellyfin.emulator.userdata import Data, Playlist, UserState
from crosswatch_jellyfin.emulator.users import Accounts

END = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
SPAN = 5 * 365 * 86_400
DAY = 86_400


def generate_state(library: Library, seed: int, accounts: Accounts) -> UserState:
    """The seeded state over ``library`` (see the module docstring)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(library, seed, accounts)
    finally:
        if enabled:
            gc.enable()


def _generate(library: Library, seed: int, accounts: Accounts) -> UserState:
    rng = random.Random(f"crosswatch-jellyfin-user:{seed}")
    rand = rng.random
    state = UserState(library, [u.id for u in accounts.users])
    index = library.index
    movies, shows = library.catalog.movies, library.catalog.shows

    def when(span: int = SPAN) -> float:
        return float(END - int(rand() * span))

    def some(items: list, share: float, at_least: int = 0) -> list:
        return rng.sample(items, min(len(items), max(at_least, math.ceil(len(items) * share))))

    def play(user: str, media: Media, count: int, at: float) -> None:
        data = state.ensure(user, index[media])
        data.played, data.play_count, data.last_played = True, count, at

    def rate(user: str, media: Media) -> None:
        roll = rand()
        rating = 10.0 if roll < 0.6 else 1.0 if roll < 0.8 else float(1 + int(rand() * 10))
        state.ensure(user, index[media]).rating = rating

    admin, other = accounts.users[0].id, accounts.users[1].id
    watched = some(movies, 0.30)
    for movie in watched:
        count = 1 if rand() < 0.8 else (2 if rand() < 0.75 else 3)
        play(admin, movie, count, when())
    next_up: list[Media] = []
    for show in some(shows, 0.25):
        at = when()
        upto = 1 + int(rand() * len(show.seasons))
        for season in show.seasons[:upto]:
            for ep in season.episodes:
                play(admin, ep, 1, min(at, END))
                at += DAY // 2 + int(rand() * 2 * DAY)
        if upto < len(show.seasons):
            next_up.append(show.seasons[upto].episodes[0])
    seen = set(watched)
    unplayed = [m for m in movies if m not in seen]
    for movie in some(unplayed, 0.01, 1 if unplayed else 0):
        data = state.ensure(admin, index[movie])
        data.played = True
    for media in [m for m in unplayed if state.get(admin, index[m]) is None][:5] + next_up[:5]:
        data = state.ensure(admin, index[media])
        runtime = library.runtime_ticks(media) or 3600 * TICKS
        data.position = int(runtime * (0.06 + rand() * 0.8)) // TICKS * TICKS
        data.play_count, data.last_played = 1, when(60 * DAY)
    for media in some(movies, 0.05, 1 if movies else 0) + some(shows, 0.05, 1 if shows else 0):
        state.ensure(admin, index[media]).favorite = True
    for media in some(movies, 0.10, 1 if movies else 0) + some(shows, 0.10):
        rate(admin, media)

    shared = watched[: max(1, len(watched) // 10)] if watched else []
    for movie in shared + some(movies, 0.05):
        play(other, movie, 1, when())
    for show in some(shows, 0.03):
        for ep in show.seasons[0].episodes:
            play(other, ep, 1, when())
    for media in some(movies, 0.02):
        state.ensure(other, index[media]).favorite = True
    for media in some(movies, 0.03):
        rate(other, media)

    for store in state.data.values():  # drop the empty records the samples may have made
        for i in [i for i, d in store.items() if d == Data()]:
            del store[i]
    state.playlists = seeded_playlists(library, seed, admin, rng)
    state.version = 0
    return state


def seeded_playlists(library: Library, seed: int, owner: str, rng: random.Random) -> dict:
    """The administrator's "Watch later" playlist (ids seeded, so a reset gives them back)."""
    ids = random.Random(f"crosswatch-jellyfin-playlists:{seed}")

    def new_id() -> str:
        if library.guid_ids:
            return f"{ids.getrandbits(128):032x}"
        return str(900_000_000 + ids.randrange(99_999_999))

    movies = library.catalog.movies
    picks: list[Media] = rng.sample(movies, min(len(movies), 4))
    shows = library.catalog.shows
    if shows and shows[0].seasons:
        picks += shows[0].seasons[0].episodes[:2]
    playlist = Playlist(new_id(), "Watch later", owner, "Video", [], END - 30 * DAY)
    playlist.entries = [(new_id(), library.index[m]) for m in picks]
    return {playlist.id: playlist}
