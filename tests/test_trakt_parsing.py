"""The Trakt adapter's parsers against every recorded real response, and its write payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosswatch.model import Feature, Item, MediaType
from crosswatch_trakt.mapping import build_payload, match_sent, parse_list, parse_nested, summary_not_found

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "trakt"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared/fixtures is not beside the checkout")

NESTED = {"watched", "collection"}  # shows with seasons[].episodes[] numbers


def _fixture_files() -> list[Path]:
    if not FIXTURES.is_dir():
        return []
    return sorted(p for p in FIXTURES.rglob("*.json") if p.parent.name != "trakt" or p.parent == FIXTURES)


def _load(relative: str):
    return json.loads((FIXTURES / relative).read_text())


@needs_fixtures
@pytest.mark.parametrize("path", _fixture_files(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_recorded_response_parses(path: Path) -> None:
    data = json.loads(path.read_text())
    relative = path.relative_to(FIXTURES)
    if relative.name.startswith("trakt_sync_collection_response"):
        assert summary_not_found(data) == []
        return
    if relative.name.startswith("trakt_sync_collection_request"):
        sent = [
            Item(type=MediaType(k[:-1]), ids={n: str(v) for n, v in e.get("ids", {}).items()})
            for k, v in data.items()
            for e in v
            if "ids" in e
        ]
        payload, refused = build_payload(sent, Feature.WATCHLIST)
        assert not refused and sum(len(v) for v in payload.values()) == len(sent)
        return
    if NESTED & set(relative.parts) and "movies" not in relative.name:
        items = parse_nested(data)
        assert items and all(i.type == MediaType.EPISODE and i.show_ids and i.season is not None for i in items)
        return
    items, skipped = parse_list(data)
    assert skipped == 0
    assert len(items) == len(data)
    for item, entry in zip(items, data, strict=True):
        assert item.ids or item.show_ids, entry
        if item.type in (MediaType.EPISODE, MediaType.SEASON):
            assert item.show_ids and item.season is not None


@needs_fixtures
def test_episode_rating_without_type_and_with_empty_ids() -> None:
    items, _ = parse_list(_load("sync/ratings/episodes.json"))
    first = items[0]
    assert first.type == MediaType.EPISODE
    assert (first.season, first.episode, first.rating) == (3, 1, 6)
    assert first.rated_at == "2015-01-17T04:35:22.000Z"
    assert first.ids == {"trakt": "430778", "tvdb": "4171788", "tmdb": "1033747"}  # "" and null dropped
    assert first.show_ids["imdb"] == "tt1486217" and first.show_title == "Archer"


@needs_fixtures
def test_history_keeps_history_ids_and_plays() -> None:
    items, _ = parse_list(_load("sync/history/shows.json"))
    assert all(isinstance(i.extra.get("id"), int) for i in items)
    assert items[0].watched_at == "2014-03-31T09:28:53.000Z"
    assert len({i.extra["id"] for i in items}) == len(items)


@needs_fixtures
def test_playback_progress_and_season_ratings() -> None:
    playback, _ = parse_list(_load("sync/playback/episodes.json"))
    assert playback[0].progress == pytest.approx(4.99) and playback[0].paused_at
    seasons, _ = parse_list(_load("sync/ratings/seasons.json"))
    assert seasons[0].type == MediaType.SEASON and seasons[0].season == 1 and seasons[0].rating == 10


@needs_fixtures
def test_watched_shows_expand_to_episodes_with_plays() -> None:
    data = _load("sync/watched/shows.json")
    items = parse_nested(data)
    expected = sum(len(s["episodes"]) for show in data for s in show["seasons"])
    assert len(items) == expected
    assert items[1].extra == {"plays": 9}


def test_unknown_media_types_are_skipped_and_counted() -> None:
    items, skipped = parse_list([{"type": "person", "person": {"ids": {"trakt": 1}}}, {"type": "movie"}, "junk"])
    assert items == [] and skipped == 3
    with pytest.raises(ValueError):
        parse_list({"error": "not a list"})


def test_payload_number_fallback_and_refusals() -> None:
    show = {"tvdb": "81189"}
    plays = [
        Item(type=MediaType.EPISODE, show_ids=show, season=1, episode=2, watched_at="2020-01-01T00:00:00Z"),
        Item(type=MediaType.EPISODE, show_ids=show, season=1, episode=3, watched_at="2020-01-02T00:00:00Z"),
        Item(type=MediaType.EPISODE, show_ids=show, season=2, episode=1, watched_at="2020-01-03T00:00:00Z"),
        Item(
            type=MediaType.MOVIE,
            ids={"imdb": "tt0372784", "tmdb": "272"},
            title="Batman Begins",
            year=2005,
            watched_at="2020-01-04T00:00:00Z",
        ),
        Item(type=MediaType.MOVIE, title="No Ids"),
    ]
    payload, refused = build_payload(plays, Feature.HISTORY)
    assert payload["movies"] == [
        {
            "ids": {"imdb": "tt0372784", "tmdb": 272},
            "watched_at": "2020-01-04T00:00:00Z",
            "title": "Batman Begins",
            "year": 2005,
        }
    ]
    (entry,) = payload["shows"]
    assert entry["ids"] == {"tvdb": 81189}
    assert [s["number"] for s in entry["seasons"]] == [1, 2]
    assert entry["seasons"][0]["episodes"] == [
        {"number": 2, "watched_at": "2020-01-01T00:00:00Z"},
        {"number": 3, "watched_at": "2020-01-02T00:00:00Z"},
    ]
    assert [i.title for i, _ in refused] == ["No Ids"]
    _, refused = build_payload(plays[:1], Feature.HISTORY, number_fallback=False)
    assert "number fallback is off" in refused[0][1]


def test_ratings_payload_and_not_found_matching() -> None:
    items = [
        Item(type=MediaType.MOVIE, ids={"imdb": "tt1"}, rating=8, rated_at="2021-01-01T00:00:00Z"),
        Item(type=MediaType.SHOW, ids={"tvdb": "2"}, rating=7),
    ]
    payload, _ = build_payload(items, Feature.RATINGS)
    assert payload["movies"][0] == {"ids": {"imdb": "tt1"}, "rating": 8, "rated_at": "2021-01-01T00:00:00Z"}
    removal, _ = build_payload(items, Feature.RATINGS, remove=True)
    assert removal["shows"] == [{"ids": {"tvdb": 2}}]
    summary = {"added": {"movies": 1, "shows": 0}, "not_found": {"movies": [], "shows": [{"ids": {"tvdb": 2}}]}}
    ok, missing = match_sent(items, summary_not_found(summary))
    assert ok == items[:1] and missing == items[1:]


def test_one_unknown_numbered_episode_does_not_take_its_show_along() -> None:
    show = {"tvdb": "81189"}
    episodes = [Item(type=MediaType.EPISODE, show_ids=show, season=1, episode=n) for n in (1, 2, 3)]
    echo = {"not_found": {"shows": [{"ids": {"tvdb": 81189}, "seasons": [{"number": 1, "episodes": [{"number": 2}]}]}]}}
    ok, missing = match_sent(episodes, summary_not_found(echo))
    assert [i.episode for i in ok] == [1, 3] and [i.episode for i in missing] == [2]
    whole = {"not_found": {"shows": [{"ids": {"tvdb": 81189}}]}}
    ok, missing = match_sent(episodes, summary_not_found(whole))
    assert ok == [] and len(missing) == 3


def test_a_rated_show_and_its_numbered_season_are_both_sent() -> None:
    """A season without ids of its own goes by its show's ids even when the show is in the batch."""
    from crosswatch_trakt.mapping import build_payload

    show = Item(type=MediaType.SHOW, ids={"tvdb": "75770"}, rating=7)
    season = Item(type=MediaType.SEASON, show_ids={"tvdb": "75770"}, season=1, rating=1)
    for items in ([show, season], [season, show]):
        body, refused = build_payload(items, Feature.RATINGS)
        entries = body["shows"]
        assert not refused
        assert any(e.get("rating") == 7 and "seasons" not in e for e in entries)  # the show itself, alone
        assert any(e.get("seasons") == [{"number": 1, "rating": 1}] and "rating" not in e for e in entries)
