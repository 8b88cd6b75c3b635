"""Reading Plex play history from the Plex emulator: users, filters, 404s, marked watched."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswatch.emulation.server import serve_app
from crosswatch_plex.emulator import EmulatorSettings, PlexEmulator
from crosswatch_plex.history import read_history
from crosswatch_plex.mapping import iso
from tests.test_plex_ratings import _client, _signed_in

OPEN = {"history_require_external_ids": False, "history_ignore_local_guid": False, "history_ignore_guid_prefixes": []}


@pytest.mark.anyio
async def test_every_owner_play_with_its_time(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    expected = emu.state_json()["users"]["1"]["plays"]
    async with serve_app(emu) as url:
        client = _client(url, _signed_in(tmp_path, emu.owner_token), **OPEN)
        read = await read_history(client)
        await client.aclose()
    assert not read.skipped
    assert sorted((p.extra["ratingKey"], p.watched_at) for p in read.plays) == sorted(
        (str(e["ratingKey"]), iso(e["viewedAt"])) for e in expected
    )
    assert len({p.extra["historyKey"] for p in read.plays}) == len(expected)


@pytest.mark.anyio
async def test_default_filters_leave_out_items_without_external_ids_and_say_why(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    total = len(emu.state_json()["users"]["1"]["plays"])
    async with serve_app(emu) as url:
        client = _client(url, _signed_in(tmp_path, emu.owner_token))
        read = await read_history(client)
        await client.aclose()
    assert read.skipped and len(read.plays) + len(read.skipped) == total
    assert all(any(k in p.ids or k in p.show_ids for k in ("imdb", "tmdb", "tvdb")) for p in read.plays)
    assert all("plex.history_" in reason for _, reason in read.skipped)


@pytest.mark.anyio
async def test_a_home_user_and_a_library_whitelist(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    state = emu.state_json()
    partner = next(a for a in state["accounts"] if a["title"] == "Partner")
    expected = state["users"][str(partner["id"])]["plays"]
    async with serve_app(emu) as url:
        client = _client(url, _signed_in(tmp_path, emu.owner_token), user="Partner", **OPEN)
        read = await read_history(client)
        await client.aclose()
        movies = _client(url, _signed_in(tmp_path, emu.owner_token), history={"libraries": [1]}, **OPEN)
        only_movies = await read_history(movies)
        await movies.aclose()
        nobody = _client(url, _signed_in(tmp_path, emu.owner_token), user="Nobody")
        with pytest.raises(Exception, match="not an account"):
            await read_history(nobody)
        await nobody.aclose()
    assert len(read.plays) == len(expected) and all(p.extra["account"] == partner["id"] for p in read.plays)
    assert only_movies.plays and {p.type for p in only_movies.plays} == {"movie"}


@pytest.mark.anyio
async def test_items_plex_no_longer_knows_are_reported_not_lost_silently(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150)
    plays = emu.state_json()["users"]["1"]["plays"]
    gone = sorted({str(p["ratingKey"]) for p in plays})[:3]
    emu.settings.not_found_keys = gone
    async with serve_app(emu) as url:
        client = _client(url, _signed_in(tmp_path, emu.owner_token), **OPEN)
        read = await read_history(client)
        await client.aclose()
    missing = [row for row, reason in read.skipped if "404" in reason]
    assert {str(r["ratingKey"]) for r in missing} == set(gone)
    assert len(read.plays) + len(missing) == len(plays)


@pytest.mark.anyio
async def test_marked_watched_items_with_a_timestamp_join_the_owners_history(tmp_path: Path) -> None:
    emu = PlexEmulator(seed=9, size=150, settings=EmulatorSettings())
    marked = emu.state_json()["users"]["1"]["marked_watched"]
    with_time = {str(m["ratingKey"]) for m in marked if m["lastViewedAt"]}
    async with serve_app(emu) as url:
        plain = _client(url, _signed_in(tmp_path, emu.owner_token), **OPEN)
        base = await read_history(plain)
        await plain.aclose()
        client = _client(url, _signed_in(tmp_path, emu.owner_token), history={"include_marked_watched": True}, **OPEN)
        read = await read_history(client)
        await client.aclose()
        home = _client(
            url, _signed_in(tmp_path, emu.owner_token), user="Partner", history={"include_marked_watched": True}, **OPEN
        )
        partner = await read_history(home)
        await home.aclose()
    added = [p for p in read.plays if p.extra.get("marked_watched") and p.watched_at]
    undated = [p for p in read.plays if p.extra.get("marked_watched") and not p.watched_at]
    without_time = {str(m["ratingKey"]) for m in marked if not m["lastViewedAt"]}
    assert with_time and {p.extra["ratingKey"] for p in added} == with_time
    # read without a date: a sync cannot use them, but a capture counts them and a clear finds them
    assert without_time and {p.extra["ratingKey"] for p in undated} == without_time
    assert len(read.plays) == len(base.plays) + len(with_time) + len(without_time)
    assert not any(p.extra.get("marked_watched") for p in partner.plays)  # owner only
