"""A run's shared listing: a Jellyfin/Emby provider told that a run reads ratings and other
features lists each library once and gives every feature the same items its own server
filter would; a write, or a feature's second read, asks the server again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswatch.model import Feature, Item, item_key
from crosswatch_jellyfin.emulator import Flavour
from tests.test_jellyfin_env import FLAVOURS, movie_item, provider_env, untouched_movie, untouched_show

pytestmark = pytest.mark.anyio

LIBRARIES = 2  # Movies and Shows; the Music library is not read


def keys(items: list[Item]) -> list[tuple[str, str]]:
    return sorted((item_key(i), repr(i)) for i in items)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_run_of_every_feature_lists_each_library_once_and_reads_the_same(
    flavour: Flavour, tmp_path: Path
) -> None:
    async with provider_env(flavour, tmp_path) as env:
        emu, user = env.emu, env.emu.user_id
        played, resumed, rated = (untouched_movie(emu, skip=n) for n in range(3))
        emu.state.mark_played(user, played, 1_700_000_000.0)
        emu.state.update(user, resumed, {"PlaybackPositionTicks": 600 * 10_000_000})
        emu.state.update(user, rated, {"Rating": 7.0})
        show = untouched_show(emu)
        emu.state.set_favorite(user, show, True)
        emu.state.mark_played(user, show.seasons[0].episodes[0], 1_700_000_100.0)
        # each feature by its own server filter (this also builds the index)
        alone = {f: await env.provider.read(f) for f in Feature}
        assert all(alone[f] for f in Feature)
        planned = env.build()
        try:
            planned.will_read(list(Feature))  # type: ignore[attr-defined]
            await env.reset()
            together = {f: await planned.read(f) for f in Feature}
            assert await env.total() == LIBRARIES, await env.requests()
        finally:
            await planned.aclose()
        assert {f: keys(items) for f, items in together.items()} == {f: keys(items) for f, items in alone.items()}


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_write_or_a_second_read_asks_the_server_again(flavour: Flavour, tmp_path: Path) -> None:
    async with provider_env(flavour, tmp_path) as env:
        emu, user = env.emu, env.emu.user_id
        p = env.build()
        try:
            p.will_read(list(Feature))  # type: ignore[attr-defined]
            await p.read(Feature.WATCHLIST)  # lists every item: ratings' listing, kept
            # the run's own write: ratings, read after it, shows the new rating
            movie = untouched_movie(emu)
            result = await p.add(Feature.RATINGS, [movie_item(movie, rating=8)])
            assert result.ok
            rated = [i for i in await p.read(Feature.RATINGS) if i.title == movie.title]
            assert [i.rating for i in rated] == [8]
            # another client's play between two reads of history: the second read has it
            before = await p.read(Feature.HISTORY)
            other = untouched_movie(emu, skip=1)
            emu.state.mark_played(user, other, 1_700_000_000.0)
            await env.reset()
            after = await p.read(Feature.HISTORY)
            assert len(after) == len(before) + 1 and any(i.title == other.title for i in after)
            assert await env.total() == LIBRARIES
        finally:
            await p.aclose()
