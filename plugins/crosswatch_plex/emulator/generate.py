"""The accounts and their data, drawn from the library deterministically for a seed.

From ``random.Random`` seeded with the seed and no clock (times end on 2026-01-01 UTC and
reach back five years):

- accounts: the owner (PMS id 1), a home user "Partner" and a managed (restricted) home
  user "Kid", each with a seeded token;
- owner: a watchlist of about 5 % of the movies and shows (Discover keys); ratings of about
  15 % of the movies and shows plus some seasons and episodes (whole numbers 1-10, as
  stars x 2); plays of about 30 % of the movies (some two or three times) and 25 % of the
  shows season by season, each a history row; "marked watched" items (viewCount without a
  history row: about 3 % of the movies and some episodes, half of them with lastViewedAt,
  half without); resume positions (viewOffset) on a few unplayed movies and next episodes;
- Partner: a smaller watchlist, ratings and plays (some of the owner's titles too);
- Kid: a few plays, nothing else.

History ids follow viewedAt (oldest first) from a seeded base; device ids 1-4.
"""

from __future__ import annotations

import gc
import math
import random
import uuid
from datetime import UTC, datetime

from crosswatch.emulation.catalog import Media
from crosswatch_plex.emulator.auth import new_token
from crosswatch_plex.emulator.library import Library
from crosswatch_plex.emulator.userstate import Account, PlexState

END = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
SPAN = 5 * 365 * 86_400
DAY = 86_400
RATING_WEIGHTS = (1, 1, 2, 3, 5, 8, 12, 12, 8, 5)
_NAMES = ("ada", "bea", "cyd", "dev", "eli", "fay", "gus", "hal", "ivy", "jo", "kit", "lou", "max", "ned")


def make_accounts(seed: int) -> list[Account]:
    """The owner and two home users (seeded ids, uuids and tokens)."""
    rng = random.Random(f"crosswatch-plex-accounts:{seed}")
    name = f"{rng.choice(_NAMES)}{rng.randrange(1000, 10000)}"

    def hexid() -> str:
        return f"{rng.getrandbits(64):016x}"

    owner_id = rng.randrange(1_000_000, 40_000_000)
    partner_id = owner_id + 1 + rng.randrange(5_000_000)
    kid_id = partner_id + 1 + rng.randrange(5_000_000)
    return [
        Account(1, owner_id, hexid(), name, name, f"{name}@example.com", new_token(rng), admin=True),
        Account(
            partner_id, partner_id, hexid(), "Partner", f"{name}-partner", f"{name}+partner@example.com", new_token(rng)
        ),
        Account(kid_id, kid_id, hexid(), "Kid", "", "", new_token(rng), restricted=True),
    ]


def machine_identifier(seed: int) -> str:
    """The server's machineIdentifier (40 hex, like PMS's)."""
    rng = random.Random(f"crosswatch-plex-machine:{seed}")
    return f"{rng.getrandbits(160):040x}"


def server_uuid(seed: int) -> str:
    return str(uuid.UUID(int=random.Random(f"crosswatch-plex-uuid:{seed}").getrandbits(128), version=4))


def generate_state(library: Library, seed: int, accounts: list[Account]) -> PlexState:
    """The seeded state over ``library`` (see the module docstring)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(library, seed, accounts)
    finally:
        if enabled:
            gc.enable()


def _generate(library: Library, seed: int, accounts: list[Account]) -> PlexState:
    rng = random.Random(f"crosswatch-plex-user:{seed}")
    rand = rng.random
    state = PlexState(library, accounts, first_row=1 + rng.randrange(50_000))
    catalog = library.catalog
    movies, shows = catalog.movies, catalog.shows
    owner, partner, kid = accounts[0].id, accounts[1].id, accounts[2].id

    def when(span: int = SPAN) -> int:
        return END - int(rand() * span)

    def some(items: list, share: float, at_least: int = 0) -> list:
        return rng.sample(items, min(len(items), max(at_least, math.ceil(len(items) * share))))

    plays: list[tuple[int, int, int, int]] = []  # (viewedAt, rk, account, device)

    def listed(account: int, titles: list, share: float) -> None:
        chosen = some(titles, share, 1 if titles else 0)
        for media, at in zip(chosen, sorted(when() for _ in chosen), strict=True):
            state.users[account].watchlist[library.discover_key(media)] = at

    def rate(account: int, media: Media) -> None:
        score = rng.choices(range(1, 11), weights=RATING_WEIGHTS)[0]
        state.users[account].ratings[library.rk(media)] = (float(score), when())

    # owner -------------------------------------------------------------------------------------
    listed(owner, movies, 0.05)
    listed(owner, shows, 0.05)
    rated_shows = some(shows, 0.15, 1 if shows else 0)
    for media in some(movies, 0.15, 1 if movies else 0) + rated_shows:
        rate(owner, media)
    for show in rated_shows[: max(1, len(rated_shows) // 3)]:
        rate(owner, show.seasons[0])
    for show in rated_shows[: max(1, len(rated_shows) // 2)]:
        for ep in show.seasons[0].episodes[:2]:
            rate(owner, ep)
    watched_movies = some(movies, 0.30)
    device = lambda: 1 + int(rand() * 4)  # noqa: E731
    for movie in watched_movies:
        count = 1 if rand() < 0.8 else (2 if rand() < 0.75 else 3)
        plays += [(when(), library.rk(movie), owner, device()) for _ in range(count)]
    watched_shows = some(shows, 0.25)
    next_up: list[Media] = []
    for show in watched_shows:
        at = when()
        upto = 1 + int(rand() * len(show.seasons))
        for season in show.seasons[:upto]:
            for ep in season.episodes:
                plays.append((min(at, END), library.rk(ep), owner, device()))
                at += DAY // 2 + int(rand() * 2 * DAY)
        if upto < len(show.seasons):
            next_up.append(show.seasons[upto].episodes[0])
    # marked watched: viewCount without a history row, half with a timestamp
    watched = set(watched_movies)
    unplayed = [m for m in movies if m not in watched]
    checkmarked = some(unplayed, 0.03, 1 if unplayed else 0)
    seen_shows = set(watched_shows)
    unplayed_shows = [s for s in shows if s not in seen_shows]
    for show in some(unplayed_shows, 0.02, 1 if unplayed_shows else 0):
        checkmarked += show.seasons[0].episodes[:3]
    for n, media in enumerate(checkmarked):
        state.users[owner].views[library.rk(media)] = 1
        if n % 2 == 0:
            state.users[owner].last_viewed[library.rk(media)] = when()
    # resume positions on unplayed movies and next episodes
    marked = set(checkmarked)
    for media in [m for m in unplayed if m not in marked][:5] + next_up[:5]:
        duration = library.duration_ms(media) or 3_600_000
        state.users[owner].offsets[library.rk(media)] = int(duration * (0.05 + rand() * 0.8)) // 1000 * 1000

    # home users ---------------------------------------------------------------------------------
    listed(partner, movies, 0.02)
    listed(partner, shows, 0.01)
    for media in some(movies, 0.03, 1 if movies else 0) + some(shows, 0.02):
        rate(partner, media)
    shared = watched_movies[: max(1, len(watched_movies) // 10)] if watched_movies else []
    for movie in shared + some(movies, 0.05):
        plays.append((when(), library.rk(movie), partner, device()))
    for show in some(shows, 0.03):
        for ep in show.seasons[0].episodes:
            plays.append((when(), library.rk(ep), partner, device()))
    for media in some(movies, 0.01, 1 if movies else 0):
        plays.append((when(), library.rk(media), kid, 4))

    plays.sort()
    for at, rk, account, dev in plays:
        data = state.users[account]
        data.views[rk] = data.views.get(rk, 0) + 1
        data.last_viewed[rk] = max(at, data.last_viewed.get(rk, 0))
        state.add_row(rk, account, at, dev)
    # a played item keeps no resume position
    for data in state.users.values():
        for rk in [rk for rk in data.offsets if rk in data.views]:
            del data.offsets[rk]
    state.version = 0
    return state
