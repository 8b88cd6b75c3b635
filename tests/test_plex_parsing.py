"""Plex guid and metadata parsing against the recorded PMS responses and every guid style."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosswatch.model import MediaType
from crosswatch_plex.guids import parse_guid, parse_guids
from crosswatch_plex.mapping import iso, metadata_items, rating_of, to_item

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "plex" / "server" / "media"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared/fixtures is not beside the checkout")


@pytest.mark.parametrize(
    ("guid", "ids", "show_ids", "season", "episode"),
    [
        ("com.plexapp.agents.imdb://tt0165832?lang=en", {"imdb": "tt0165832"}, {}, None, None),
        ("com.plexapp.agents.themoviedb://278?lang=en", {"tmdb": "278"}, {}, None, None),
        ("com.plexapp.agents.thetvdb://268592/1/3?lang=en", {}, {"tvdb": "268592"}, 1, 3),
        ("com.plexapp.agents.thetvdb://268592/2?lang=en", {}, {"tvdb": "268592"}, 2, None),
        ("com.plexapp.agents.thetvdb://268592?lang=en", {"tvdb": "268592"}, {}, None, None),
        ("com.plexapp.agents.hama://tvdb-81797/1/1?lang=en", {}, {"tvdb": "81797"}, 1, 1),
        ("com.plexapp.agents.hama://tvdb-81797?lang=en", {"tvdb": "81797"}, {}, None, None),
        ("com.plexapp.agents.themoviedb://1399/2/5?lang=en", {}, {"tmdb": "1399"}, 2, 5),
        ("com.plexapp.agents.themoviedb://1399/2?lang=en", {}, {"tmdb": "1399"}, 2, None),
        ("plex://movie/5d7768b0ad5437001f7a3e1c", {"plex": "plex://movie/5d7768b0ad5437001f7a3e1c"}, {}, None, None),
        ("local://1234", {}, {}, None, None),
        ("com.plexapp.agents.none://8a730d03", {}, {}, None, None),
        ("", {}, {}, None, None),
    ],
)
def test_guid_styles(guid: str, ids: dict, show_ids: dict, season: int | None, episode: int | None) -> None:
    parsed = parse_guid(guid)
    assert (parsed.ids, parsed.show_ids, parsed.season, parsed.episode) == (ids, show_ids, season, episode)
    assert parsed.local_only == guid.startswith("local://")


def test_guid_children_win_and_clear_local_only() -> None:
    parsed = parse_guids("local://99", [{"id": "imdb://tt0111161"}, {"id": "tmdb://278"}, {"id": "tvdb://"}])
    assert parsed.ids == {"imdb": "tt0111161", "tmdb": "278"} and not parsed.local_only and parsed.has_external


@needs_fixtures
def test_recorded_movie_and_episodes() -> None:
    movies = metadata_items(json.loads((FIXTURES / "movie_library.json").read_text()))
    items = [to_item(m) for m in movies]
    assert all(i is not None and i.type == MediaType.MOVIE and i.ids.get("imdb") for i in items)
    assert items[0].extra["ratingKey"] == "55" and items[0].year == 2008
    episodes = [to_item(m) for m in metadata_items(json.loads((FIXTURES / "tv_episodes.json").read_text()))]
    first = episodes[0]
    assert first.type == MediaType.EPISODE
    assert first.show_ids == {"tvdb": "268592"} and (first.season, first.episode) == (1, 1)
    assert first.show_title == "The 100"


@needs_fixtures
@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")) if FIXTURES.is_dir() else [])
def test_every_recorded_container_parses(name: str) -> None:
    data = json.loads((FIXTURES / name).read_text())
    for meta in metadata_items(data):
        item = to_item(meta)
        if meta.get("type") in ("collection", "playlist"):
            assert item is None  # not watch state
        else:
            assert item is not None and item.extra["ratingKey"] == str(meta["ratingKey"])


def test_ratings_and_times() -> None:
    assert rating_of({"userRating": 7.5}) == 8
    assert rating_of({"userRating": 0}) is None and rating_of({}) is None
    assert rating_of({"userRating": 10.0}) == 10 and rating_of({"userRating": 0.4}) == 1
    assert iso(1663511468) == "2022-09-18T14:31:08Z" and iso(0) is None and iso(None) is None


def test_episode_with_hydrated_show_takes_the_show_ids() -> None:
    episode = {
        "type": "episode",
        "ratingKey": "9",
        "guid": "plex://episode/abc",
        "Guid": [{"id": "tvdb://555"}],
        "parentIndex": 2,
        "index": 4,
        "grandparentTitle": "Show",
    }
    show = {"guid": "plex://show/def", "Guid": [{"id": "tvdb://81189"}, {"id": "imdb://tt0903747"}]}
    item = to_item(episode, show=show)
    assert item.ids["tvdb"] == "555" and item.show_ids == {"tvdb": "81189", "imdb": "tt0903747"}
    assert (item.season, item.episode) == (2, 4)
