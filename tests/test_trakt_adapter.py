"""The TRAKT provider against the Trakt emulator over real HTTP, on both anyio backends."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from crosswatch.emulation.server import serve_app
from crosswatch.model import Feature, Item, MediaType
from crosswatch.state import StateDir
from crosswatch_trakt.adapter import TraktProvider
from crosswatch_trakt.emulator import EmulatorSettings, TraktEmulator
from crosswatch_trakt.tokens import Tokens, TokenStore
from tests.trakt_helpers import provider, settings_for, signed_in_to


class Rig:
    """An emulator, its URL, a signed-in state dir and helpers to drive the emulator."""

    def __init__(self, emu: TraktEmulator, url: str, state: StateDir) -> None:
        self.emu, self.url, self.state = emu, url, state

    def provider(self, **overrides) -> TraktProvider:
        settings = settings_for(
            self.url, client_id=self.emu.client_id, client_secret=self.emu.client_secret, **overrides
        )
        return provider(settings, self.state)

    async def control(self, method: str, path: str, body=None):
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.request(method, "/_emulator" + path, json=body)
            response.raise_for_status()
            return response.json() if response.content else None

    async def stats(self) -> dict:
        return await self.control("GET", "/stats")

    async def reset_stats(self) -> None:
        await self.control("POST", "/stats/reset")

    async def faults(self, *faults: dict) -> None:
        await self.control("POST", "/faults", list(faults))

    def state_json(self) -> dict:
        return self.emu.state_json()


@asynccontextmanager
async def rig(
    tmp_path: Path, *, seed: int = 7, size: int = 120, plays: int | None = None, **knobs
) -> AsyncIterator[Rig]:
    knobs.setdefault("interval", 0)
    knobs.setdefault("post_limit", 0)
    emu = TraktEmulator(seed=seed, size=size, plays=plays, settings=EmulatorSettings(**knobs))
    state = signed_in_to(emu, tmp_path)
    async with serve_app(emu) as url:
        yield Rig(emu, url, state)


def _requests(stats: dict, prefix: str) -> int:
    return sum(n for name, n in stats["requests"].items() if name.startswith(prefix))


@pytest.mark.anyio
async def test_full_read_of_a_multi_page_history(tmp_path: Path) -> None:
    async with rig(tmp_path, plays=1234) as r:
        trakt = r.provider(page_size=100, read_workers=3)
        plays = await trakt.read(Feature.HISTORY)
        await trakt.aclose()
        expected = r.state_json()["history"]
        stats = await r.stats()
    assert len(plays) == len(expected) == 1234
    assert sorted(p.extra["id"] for p in plays) == sorted(e["id"] for e in expected)
    assert all(p.watched_at for p in plays)
    # every page read once: ceil(movies/100) + ceil(episodes/100) pages, nothing more
    movies = sum(1 for e in expected if e["type"] == "movie")
    episodes = len(expected) - movies
    assert _requests(stats, "GET /sync/history/") == -(-movies // 100) + -(-episodes // 100)


@pytest.mark.anyio
async def test_unchanged_watchlist_is_a_304_and_changes_are_seen(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        trakt = r.provider()
        first = await trakt.read(Feature.WATCHLIST)
        assert len(first) == len(r.state_json()["watchlist"]) > 0
        await r.reset_stats()
        again = await trakt.read(Feature.WATCHLIST)
        stats = await r.stats()
        assert again == first
        assert stats["statuses"] == {"304": 1} and stats["total"] == 1
        # another app removes an item: the next read sees it
        gone = first[0]
        await trakt.remove(Feature.WATCHLIST, [gone])
        after = await trakt.read(Feature.WATCHLIST)
        await trakt.aclose()
    assert len(after) == len(first) - 1 and gone.ids["trakt"] not in {i.ids["trakt"] for i in after}


@pytest.mark.anyio
async def test_no_change_read_of_all_four_features_costs_at_most_four_requests(tmp_path: Path) -> None:
    async with rig(tmp_path, size=300) as r:
        trakt = r.provider()
        before = {f: await trakt.read(f) for f in Feature}
        await trakt.aclose()
        await r.reset_stats()
        fresh = r.provider()  # a new run: nothing in memory, only the files in .cw_state
        after = {f: await fresh.read(f) for f in Feature}
        await fresh.aclose()
        stats = await r.stats()
    assert after == before
    assert all(before[f] for f in Feature)
    assert stats["total"] <= 4, stats["requests"]


@pytest.mark.anyio
async def test_a_429_storm_is_waited_out(tmp_path: Path) -> None:
    async with rig(tmp_path, plays=900, get_limit=3, get_period=1) as r:
        trakt = r.provider(page_size=100, read_workers=4, max_retries=8)
        plays = await trakt.read(Feature.HISTORY)
        await trakt.aclose()
        stats = await r.stats()
    assert len(plays) == 900
    assert stats["throttled"] > 0  # the emulator said 429, we waited for Retry-After


@pytest.mark.anyio
async def test_our_own_read_budget_avoids_429s(tmp_path: Path) -> None:
    async with rig(tmp_path, plays=700, get_limit=4, get_period=1) as r:
        trakt = r.provider(page_size=100, read_limit=4, read_period_s=1.05)
        plays = await trakt.read(Feature.HISTORY)
        await trakt.aclose()
        stats = await r.stats()
    assert len(plays) == 700 and stats["throttled"] == 0


@pytest.mark.anyio
async def test_a_503_mid_batch_is_retried_and_every_item_lands(tmp_path: Path) -> None:
    async with rig(tmp_path, size=400, vip=True) as r:
        trakt = r.provider(batch_size=20)
        listed = {(e["type"], e["trakt"]) for e in r.state_json()["watchlist"]}
        new = [m for m in r.emu.catalog.movies if ("movie", m.trakt) not in listed][:60]
        await r.faults({"method": "POST", "path": "/sync/watchlist", "status": 503, "times": 1, "retry_after": 1})
        items = [Item(type=MediaType.MOVIE, ids={"imdb": m.imdb}) for m in new]
        result = await trakt.add(Feature.WATCHLIST, items[:20])
        await r.faults({"method": "POST", "path": "/sync/watchlist", "status": 503, "times": 2})
        result2 = await trakt.add(Feature.WATCHLIST, items[20:])
        await trakt.aclose()
    listed_now = {(e["type"], e["trakt"]) for e in r.state_json()["watchlist"]}
    assert len(result.ok) + len(result2.ok) == 60 and not result.failed and not result2.failed
    assert {("movie", m.trakt) for m in new} <= listed_now


@pytest.mark.anyio
async def test_a_token_expiring_mid_run_is_refreshed_and_saved_first(tmp_path: Path) -> None:
    async with rig(tmp_path, plays=300) as r:
        trakt = r.provider(page_size=100)
        await trakt.read(Feature.WATCHLIST)
        old = TokenStore(r.state, "trakt").load()
        await r.control("POST", "/expire_tokens")
        plays = await trakt.read(Feature.HISTORY)
        new = TokenStore(r.state, "trakt").load()
        await trakt.aclose()
        assert len(plays) == 300
        assert new.access_token != old.access_token and new.refresh_token != old.refresh_token
        assert oct((r.state.path / "trakt.tokens.json").stat().st_mode & 0o777) == "0o600"
        # the spent refresh token is refused now: it was single-use
        async with httpx.AsyncClient(
            base_url=r.url, headers={"trakt-api-key": r.emu.client_id, "trakt-api-version": "2"}
        ) as client:
            body = {
                "refresh_token": old.refresh_token,
                "client_id": r.emu.client_id,
                "client_secret": r.emu.client_secret,
                "grant_type": "refresh_token",
                "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
            }
            reply = await client.post("/oauth/token", json=body)
        assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"


@pytest.mark.anyio
async def test_a_token_near_expiry_is_refreshed_before_use(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        store = TokenStore(r.state, "trakt")
        old = store.load()
        store.save(
            Tokens(
                **{
                    **{f: getattr(old, f) for f in old.__struct_fields__},
                    "created_at": int(time.time()) - old.expires_in + 60,
                }
            )
        )
        trakt = r.provider()
        await r.reset_stats()
        await trakt.read(Feature.WATCHLIST)
        await trakt.aclose()
        stats = await r.stats()
    assert stats["requests"].get("POST /oauth/token") == 1
    assert "401" not in stats["statuses"]  # refreshed before, not after, a refusal
    assert store.load().refresh_token != old.refresh_token


@pytest.mark.anyio
async def test_free_account_hitting_its_watchlist_cap(tmp_path: Path) -> None:
    async with rig(tmp_path, size=700, watchlist_limit=40) as r:
        trakt = r.provider(batch_size=10)
        current = len(await trakt.read(Feature.WATCHLIST))
        assert current < 40
        listed = {(e["type"], e["trakt"]) for e in r.state_json()["watchlist"]}
        new = [m for m in r.emu.catalog.movies if ("movie", m.trakt) not in listed][:50]
        items = [Item(type=MediaType.MOVIE, ids={"trakt": str(m.trakt)}, title=m.title) for m in new]
        result = await trakt.add(Feature.WATCHLIST, items)
        final = len(await trakt.read(Feature.WATCHLIST))
        await trakt.aclose()
    assert final == 40  # filled up to the cap
    assert len(result.ok) == 40 - current
    assert len(result.unresolved) == 50 - (40 - current)
    assert all("account limit" in reason for _, reason in result.unresolved)
    frozen = json.loads((tmp_path / ".cw_state" / "trakt_watchlist.unresolved.json").read_text())
    assert len(frozen) == len(result.unresolved)


@pytest.mark.anyio
async def test_no_duplicate_plays_when_a_batch_answer_is_lost_or_the_run_is_repeated(tmp_path: Path) -> None:
    async with rig(tmp_path, size=200) as r:
        trakt = r.provider(batch_size=25)
        movies = r.emu.catalog.movies[:40]
        plays = [
            Item(
                type=MediaType.MOVIE,
                ids={"imdb": m.imdb},
                watched_at=f"2020-0{1 + n % 9}-{10 + n % 18:02d}T20:{n % 60:02d}:00Z",
            )
            for n, m in enumerate(movies)
        ] * 2  # each title twice...
        plays = plays[:40] + [
            Item(type=p.type, ids=p.ids, watched_at=p.watched_at.replace("2020", "2021")) for p in plays[40:]
        ]
        before = len(r.state_json()["history"])
        # batch 2 is applied but its answer is lost; batch 3 fails for good (500s, not applied)
        await r.faults(
            {"method": "POST", "path": "/sync/history", "status": 504, "after_apply": True, "times": 1},
        )
        first = await trakt.add(Feature.HISTORY, plays[:25])
        await r.faults({"method": "POST", "path": "/sync/history", "drop": True, "after_apply": True, "times": 1})
        second = await trakt.add(Feature.HISTORY, plays[25:50])
        await r.faults({"method": "POST", "path": "/sync/history", "status": 500, "times": 50})
        third = await trakt.add(Feature.HISTORY, plays[50:])
        assert third.failed and not third.ok
        await r.control("DELETE", "/faults")
        # the whole run again: only the missing plays go out
        again = await trakt.add(Feature.HISTORY, plays)
        await trakt.aclose()
    history = r.state_json()["history"]
    assert len(first.ok) == 25 and len(second.ok) == 25
    assert len(again.ok) == 80 and not again.failed
    assert len(history) == before + 80  # 80 distinct plays, none twice
    seen = [(e["trakt"], e["watched_at"][:19]) for e in history]
    assert len(seen) == len(set(seen))


@pytest.mark.anyio
async def test_history_remove_takes_only_the_given_plays(tmp_path: Path) -> None:
    async with rig(tmp_path, plays=200) as r:
        trakt = r.provider()
        plays = await trakt.read(Feature.HISTORY)
        by_title: dict[str, list[Item]] = {}
        for p in plays:
            by_title.setdefault(p.ids["trakt"], []).append(p)
        repeated = next(v for v in by_title.values() if len(v) > 1)
        result = await trakt.remove(Feature.HISTORY, repeated[:1])
        after = await trakt.read(Feature.HISTORY)
        await trakt.aclose()
    assert len(result.ok) == 1
    assert len(after) == len(plays) - 1
    assert sum(1 for p in after if p.ids["trakt"] == repeated[0].ids["trakt"]) == len(repeated) - 1


@pytest.mark.anyio
async def test_ratings_all_four_types_roundtrip_and_updates(tmp_path: Path) -> None:
    async with rig(tmp_path, size=300) as r:
        trakt = r.provider()
        ratings = await trakt.read(Feature.RATINGS)
        assert {i.type for i in ratings} == set(MediaType)
        changed = [
            Item(type=i.type, ids=i.ids, show_ids=i.show_ids, season=i.season, episode=i.episode, rating=11 - i.rating)
            for i in ratings[:8]
        ]
        result = await trakt.add(Feature.RATINGS, changed)
        after = {(i.type, i.ids["trakt"]): i.rating for i in await trakt.read(Feature.RATINGS)}
        await trakt.remove(Feature.RATINGS, ratings[8:10])
        final = await trakt.read(Feature.RATINGS)
        await trakt.aclose()
    assert len(result.ok) == 8
    assert all(after[(c.type, c.ids["trakt"])] == c.rating for c in changed)
    assert len(final) == len(ratings) - 2


@pytest.mark.anyio
async def test_progress_is_written_as_a_paused_scrobble(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        trakt = r.provider()
        progress = await trakt.read(Feature.PROGRESS)
        assert progress and all(p.progress is not None and p.paused_at for p in progress)
        movie = next(m for m in r.emu.catalog.movies if m.trakt not in {int(p.ids["trakt"]) for p in progress})
        result = await trakt.add(
            Feature.PROGRESS, [Item(type=MediaType.MOVIE, ids={"trakt": str(movie.trakt)}, progress=42.0)]
        )
        after = await trakt.read(Feature.PROGRESS)
        mine = next(p for p in after if p.ids.get("trakt") == str(movie.trakt))
        removed = await trakt.remove(Feature.PROGRESS, [mine])
        final = await trakt.read(Feature.PROGRESS)
        await trakt.aclose()
    assert len(result.ok) == 1 and mine.progress == pytest.approx(42.0)
    assert len(removed.ok) == 1 and len(final) == len(progress)


@pytest.mark.anyio
async def test_add_collections_option_also_collects_the_played_titles(tmp_path: Path) -> None:
    async with rig(tmp_path, size=200, vip=True) as r:
        collected = {(e["type"], e["trakt"]) for e in r.state_json()["collection"]}
        movies = [m for m in r.emu.catalog.movies if ("movie", m.trakt) not in collected][:3]
        plays = [
            Item(type=MediaType.MOVIE, ids={"tmdb": str(m.tmdb)}, watched_at=f"2019-05-0{n + 1}T10:00:00Z")
            for n, m in enumerate(movies)
        ]
        off = r.provider()
        await off.add(Feature.HISTORY, plays[:1])
        await off.aclose()
        assert ("movie", movies[0].trakt) not in {(e["type"], e["trakt"]) for e in r.state_json()["collection"]}
        on = r.provider(history={"add_collections": True})
        result = await on.add(Feature.HISTORY, plays[1:])
        await on.aclose()
    now = {(e["type"], e["trakt"]) for e in r.state_json()["collection"]}
    assert len(result.ok) == 2
    assert {("movie", m.trakt) for m in movies[1:]} <= now


@pytest.mark.anyio
async def test_a_list_that_moves_while_it_is_read_is_read_again(tmp_path: Path) -> None:
    import anyio

    async with rig(tmp_path, plays=900, latency_ms=25) as r:
        trakt = r.provider(page_size=100, read_workers=1)
        writer = r.provider()
        movie = r.emu.catalog.movies[5]

        async def add_a_play_mid_read() -> None:
            await anyio.sleep(0.15)
            await writer.add(
                Feature.HISTORY,
                [Item(type=MediaType.MOVIE, ids={"trakt": str(movie.trakt)}, watched_at="2030-01-01T00:00:00Z")],
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(add_a_play_mid_read)
            plays = await trakt.read(Feature.HISTORY)
        await trakt.aclose()
        await writer.aclose()
        expected = {e["id"] for e in r.state_json()["history"]}
    got = [p.extra["id"] for p in plays]
    assert len(got) == len(set(got)) == 901
    assert set(got) == expected


@pytest.mark.anyio
async def test_concurrent_requests_after_expiry_spend_one_refresh_token(tmp_path: Path) -> None:
    import anyio

    async with rig(tmp_path, size=200) as r:
        trakt = r.provider()
        await trakt.read(Feature.WATCHLIST)
        await r.control("POST", "/expire_tokens")
        await r.reset_stats()
        async with anyio.create_task_group() as tg:
            for feature in (Feature.RATINGS, Feature.HISTORY, Feature.PROGRESS):
                tg.start_soon(trakt.read, feature)
        await trakt.aclose()
        stats = await r.stats()
    assert stats["requests"].get("POST /oauth/token") == 1


@pytest.mark.anyio
async def test_a_proxy_503_after_the_write_applied_creates_no_duplicate(tmp_path: Path) -> None:
    async with rig(tmp_path, size=100) as r:
        trakt = r.provider()
        before = len(r.state_json()["history"])
        plays = [
            Item(type=MediaType.MOVIE, ids={"imdb": m.imdb}, watched_at=f"2018-03-0{n + 1}T08:00:00Z")
            for n, m in enumerate(r.emu.catalog.movies[:4])
        ]
        await r.faults({"method": "POST", "path": "/sync/history", "status": 503, "after_apply": True, "times": 1})
        result = await trakt.add(Feature.HISTORY, plays)
        await trakt.aclose()
    assert len(result.ok) == 4 and not result.failed
    assert len(r.state_json()["history"]) == before + 4


@pytest.mark.anyio
async def test_a_failing_batch_keeps_the_results_of_the_batches_before_it(tmp_path: Path) -> None:
    async with rig(tmp_path, size=300, vip=True) as r:
        trakt = r.provider(batch_size=5, max_retries=1)
        listed = {(e["type"], e["trakt"]) for e in r.state_json()["watchlist"]}
        new = [m for m in r.emu.catalog.movies if ("movie", m.trakt) not in listed][:5]
        items = [Item(type=MediaType.MOVIE, ids={"imdb": m.imdb}) for m in new[:4]]
        items.append(Item(type=MediaType.MOVIE, ids={"imdb": "tt0000000"}))  # Trakt does not know it
        items += [Item(type=MediaType.MOVIE, ids={"imdb": m.imdb}) for m in new[4:]]
        # the first call goes through; the second's connection drops on every try
        result = await trakt.add(Feature.WATCHLIST, items[:5])
        await r.faults({"method": "POST", "path": "/sync/watchlist", "drop": True, "times": 10})
        failed = await trakt.add(Feature.WATCHLIST, items[5:])
        await trakt.aclose()
    assert len(result.ok) == 4
    assert [r_ for _, r_ in result.unresolved] == ["not found on Trakt"]
    assert len(failed.failed) == 1 and not failed.ok
    frozen = json.loads((tmp_path / ".cw_state" / "trakt_watchlist.unresolved.json").read_text())
    assert list(frozen) == ["movie:imdb:tt0000000"]


@pytest.mark.anyio
async def test_cap_filling_reports_unknown_items_and_uses_every_free_slot(tmp_path: Path) -> None:
    async with rig(tmp_path, size=700, watchlist_limit=30) as r:
        trakt = r.provider(batch_size=50)
        current = len(await trakt.read(Feature.WATCHLIST))
        listed = {(e["type"], e["trakt"]) for e in r.state_json()["watchlist"]}
        new = [m for m in r.emu.catalog.movies if ("movie", m.trakt) not in listed][:40]
        items = [Item(type=MediaType.MOVIE, ids={"imdb": "tt0000000"})]
        items += [Item(type=MediaType.MOVIE, ids={"imdb": m.imdb}) for m in new]
        result = await trakt.add(Feature.WATCHLIST, items)
        final = len(await trakt.read(Feature.WATCHLIST))
        await trakt.aclose()
    reasons = [reason for _, reason in result.unresolved]
    assert final == 30
    assert reasons.count("not found on Trakt") == 1
    assert len(result.ok) == 30 - current
    assert len(result.ok) + len(result.unresolved) == len(items)
    assert not {id(i) for i in result.ok} & {id(i) for i, _ in result.unresolved}
