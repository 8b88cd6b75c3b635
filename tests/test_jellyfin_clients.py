"""Independent clients, unmodified, against the Jellyfin and Emby emulator (served from a thread).

- ``jellyfin-apiclient-python`` (Jellyfin's own Python client): its README sign-in flow
  (``connect_to_address``, ``login``, ``authenticate``), Quick Connect, views, items with
  ``ProviderIds`` and ``UserData``, the query helpers, marking played and unplayed,
  favourites, the resume position (UserData update and playback reports), playlists, its
  websocket client receiving ``UserDataChanged``, and dropping its token on a 401.
- ``embyclient`` (Emby's generated client, imported as ``emby_client``): sign-in with
  ``X-Emby-Authorization`` then ``api_key`` on every call, views, items, played with a
  ``DatePlayed``, unplayed, favourites, likes, the UserData update, playback reports,
  playlists, and its ``ApiException`` on a 404.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from crosswatch.emulation.server import serve_in_thread
from crosswatch_jellyfin.emulator import EmbyEmulator, EmulatorSettings, JellyfinEmulator
from crosswatch_jellyfin.emulator.library import FULL, TICKS

jellyfin_apiclient_python = pytest.importorskip("jellyfin_apiclient_python")
emby_client = pytest.importorskip("emby_client")
from emby_client.rest import ApiException  # noqa: E402
from jellyfin_apiclient_python import JellyfinClient  # noqa: E402
from jellyfin_apiclient_python.connection_manager import CONNECTION_STATE  # noqa: E402
from jellyfin_apiclient_python.exceptions import HTTPException  # noqa: E402


def unplayed_movie(emu: Any) -> Any:
    """A movie with full ProviderIds and no data of the administrator's."""
    lib = emu.library
    return next(
        m for m in emu.catalog.movies if lib.style[m] == FULL and emu.state.get(emu.user_id, lib.index[m]) is None
    )


# -- jellyfin-apiclient-python ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def jellyfin() -> JellyfinEmulator:
    return JellyfinEmulator(seed=4, size=300, settings=EmulatorSettings(userdata_debounce_ms=50))


@pytest.fixture(scope="module")
def jellyfin_url(jellyfin: JellyfinEmulator) -> Iterator[str]:
    with serve_in_thread(jellyfin) as served:
        yield served


def new_client(device: str = "apc-1") -> JellyfinClient:
    client = JellyfinClient()
    client.config.app("crosswatch-tests", "1.0", "test box", device)
    client.config.data["auth.ssl"] = False
    return client


@pytest.fixture
def apc(jellyfin: JellyfinEmulator, jellyfin_url: str) -> Iterator[JellyfinClient]:
    """A client signed in the way the client's README does it."""
    client = new_client()
    state = client.auth.connect_to_address(jellyfin_url)
    assert state["State"] == CONNECTION_STATE.ServerSignIn
    assert client.auth.login(jellyfin_url, jellyfin.username, jellyfin.password)
    credentials = client.auth.credentials.get_credentials()
    assert (
        client.authenticate({"Servers": credentials["Servers"]}, discover=False)["State"] == CONNECTION_STATE.SignedIn
    )
    client.start()
    yield client
    client.stop()


def test_apc_signs_in_and_lists_views_and_items(
    apc: JellyfinClient, jellyfin: JellyfinEmulator, jellyfin_url: str
) -> None:
    assert apc.config.data["auth.user_id"] == jellyfin.user_id
    assert apc.auth.server_id == jellyfin.server_id
    assert apc.jellyfin.get_user()["Name"] == jellyfin.username
    assert apc.jellyfin.get_system_info_new()["ServerName"] == jellyfin.server_name
    views = apc.jellyfin.get_views()["Items"]
    assert [v["CollectionType"] for v in views[:3]] == ["movies", "tvshows", "music"]
    movie = jellyfin.catalog.movies[5]
    got = apc.jellyfin.get_items([jellyfin.item_id(movie)])["Items"]
    assert [m["Name"] for m in got] == [movie.title]
    assert got[0]["ProviderIds"].get("Tmdb") in (None, str(movie.tmdb)) and "UserData" in got[0]
    movies = apc.jellyfin.get_user_items(
        parent_id=views[0]["Id"], recursive=True, include_item_types="Movie", fields="ProviderIds", limit=20
    )
    assert movies["TotalRecordCount"] == len(jellyfin.catalog.movies) and len(movies["Items"]) == 20
    full = [m for m in movies["Items"] if jellyfin.library.style[jellyfin.library.get(m["Id"])] == FULL]
    assert full and all(set(m["ProviderIds"]) == {"Imdb", "Tmdb"} for m in full)
    played = apc.jellyfin.get_user_items(recursive=True, include_item_types="Movie", filters="IsPlayed")
    assert played["Items"] and all(m["UserData"]["Played"] for m in played["Items"])
    show = next(s for s in jellyfin.catalog.shows if len(s.seasons) > 1)
    seasons = apc.jellyfin.get_seasons(jellyfin.item_id(show))["Items"]
    assert [s["IndexNumber"] for s in seasons] == [s.number for s in show.seasons]
    episodes = apc.jellyfin.get_episodes(jellyfin.item_id(show), season_id=seasons[1]["Id"])["Items"]
    assert [e["IndexNumber"] for e in episodes] == [ep.number for ep in show.seasons[1].episodes]
    item = apc.jellyfin.get_item(jellyfin.item_id(show.seasons[1].episodes[0]))  # Fields with %2C, unknown names
    assert item["SeriesName"] == show.title and item["ProviderIds"]


def test_apc_marks_played_favourites_and_resume(apc: JellyfinClient, jellyfin: JellyfinEmulator) -> None:
    movie = unplayed_movie(jellyfin)
    item = jellyfin.item_id(movie)
    marked = apc.jellyfin.item_played(item, True, "2024-05-01T20:15:00Z")
    assert (marked["Played"], marked["PlayCount"], marked["LastPlayedDate"]) == (
        True,
        1,
        "2024-05-01T20:15:00.0000000Z",
    )
    assert apc.jellyfin.get_item(item)["UserData"]["Played"] is True
    assert apc.jellyfin.item_played(item, True, "20240601100000")["PlayCount"] == 2
    cleared = apc.jellyfin.item_played(item, False)
    assert (cleared["Played"], cleared["PlayCount"]) == (False, 0)
    assert apc.jellyfin.favorite(item, True)["IsFavorite"] is True
    favourites = apc.jellyfin.get_user_items(recursive=True, is_favorite=True, include_item_types="Movie")
    assert item in {m["Id"] for m in favourites["Items"]}
    assert apc.jellyfin.favorite(item, False)["IsFavorite"] is False
    # the resume position: a UserData update, read back by both helpers
    position = movie.runtime * 60 * TICKS // 3
    updated = apc.jellyfin.update_userdata_for_item(item, {"PlaybackPositionTicks": position})
    assert updated["PlaybackPositionTicks"] == position and updated["IsFavorite"] is False
    assert apc.jellyfin.get_userdata_for_item(item)["PlaybackPositionTicks"] == position
    assert item in {m["Id"] for m in apc.jellyfin.get_resume_items(limit=50)["Items"]}
    # playback reports: start, progress to 60 %, stop past 90 %: played, no position
    apc.jellyfin.session_playing({"ItemId": item, "PositionTicks": 0, "PlaySessionId": "apc"})
    apc.jellyfin.session_progress({"ItemId": item, "PositionTicks": position * 9 // 5, "IsPaused": False})
    assert apc.jellyfin.get_userdata_for_item(item)["PlaybackPositionTicks"] == position * 9 // 5
    apc.jellyfin.session_stop({"ItemId": item, "PositionTicks": movie.runtime * 60 * TICKS * 95 // 100})
    done = apc.jellyfin.get_userdata_for_item(item)
    assert (done["Played"], done["PlaybackPositionTicks"], done["PlayCount"]) == (True, 0, 1)


def test_apc_playlists(apc: JellyfinClient, jellyfin: JellyfinEmulator) -> None:
    picks = [jellyfin.item_id(m) for m in jellyfin.catalog.movies[10:13]]
    made = apc.jellyfin.new_playlist("From APC", picks[:2], is_public=False)
    apc.jellyfin.add_playlist_items(made["Id"], picks[2:])
    entries = apc.jellyfin.get_playlist_items(made["Id"], fields="ProviderIds")["Items"]
    assert [e["Id"] for e in entries] == picks and all(e["PlaylistItemId"] for e in entries)
    apc.jellyfin.remove_playlist_items(made["Id"], [entries[0]["PlaylistItemId"]])
    assert [e["Id"] for e in apc.jellyfin.get_playlist_items(made["Id"])["Items"]] == picks[1:]
    assert apc.jellyfin.get_playlist(made["Id"])["ItemIds"] == picks[1:]
    assert "From APC" in {p["Name"] for p in apc.jellyfin.get_playlists()["Items"]}


def test_apc_quick_connect(jellyfin: JellyfinEmulator, jellyfin_url: str) -> None:
    client = new_client("apc-quick")
    api = client.auth.API
    assert api.quick_connect_enabled(jellyfin_url) is True
    started = api.quick_connect_initiate(jellyfin_url)
    assert started["Code"] and started["Authenticated"] is False
    polls = [api.quick_connect_state(jellyfin_url, started["Secret"])["Authenticated"] for _ in range(3)]
    assert polls == [False, False, True]  # approve_after_polls = 2
    client.auth.connect_to_address(jellyfin_url)
    signed = client.auth.login_with_quick_connect(jellyfin_url, started["Secret"])
    assert signed["User"]["Id"] == jellyfin.user_id and client.config.data["auth.token"] == signed["AccessToken"]


def test_apc_websocket_receives_user_data_changes(apc: JellyfinClient, jellyfin: JellyfinEmulator) -> None:
    received: list[tuple[str, Any]] = []
    connected, seen = threading.Event(), threading.Event()
    movie = jellyfin.catalog.movies[20]

    def callback(message: str, data: Any) -> None:
        received.append((message, data))
        if message == "WebSocketConnect":
            connected.set()
        if message == "UserDataChanged" and any(
            d.get("ItemId") == jellyfin.item_id(movie) for d in data.get("UserDataList", [])
        ):
            seen.set()

    apc.callback = callback
    apc.start(websocket=True)
    assert connected.wait(10), received
    apc.jellyfin.favorite(jellyfin.item_id(movie), True)
    assert seen.wait(10), received
    changed = next(d for m, d in received if m == "UserDataChanged")
    assert changed["UserId"] == jellyfin.user_id and changed["UserDataList"][0]["IsFavorite"] is True


def test_apc_drops_its_token_on_a_401(apc: JellyfinClient, jellyfin: JellyfinEmulator) -> None:
    jellyfin.accounts.revoke(apc.config.data["auth.token"])
    with pytest.raises(HTTPException) as raised:
        apc.jellyfin.get_views()
    assert raised.value.status == "Unauthorized" and apc.config.data["auth.token"] is None


# -- embyclient ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emby() -> EmbyEmulator:
    return EmbyEmulator(seed=4, size=300)


@pytest.fixture(scope="module")
def ec(emby: EmbyEmulator) -> Iterator[Any]:
    """An ``emby_client.ApiClient`` signed in by user name and password (``host`` ends in ``/emby``)."""
    with serve_in_thread(emby) as url:
        config = emby_client.Configuration()
        config.host = f"{url}/emby"
        client = emby_client.ApiClient(config)
        header = 'Emby UserId="", Client="crosswatch-tests", Device="box", DeviceId="ec-1", Version="1.0"'
        body = emby_client.AuthenticateUserByName(username=emby.username, pw=emby.password)
        result = emby_client.UserServiceApi(client).post_users_authenticatebyname(body, header)
        assert result.server_id == emby.server_id and result.user.id == emby.user_id
        config.api_key["api_key"] = result.access_token
        yield client


def test_ec_public_info_views_and_items(ec: Any, emby: EmbyEmulator) -> None:
    public = emby_client.SystemServiceApi(ec).get_system_info_public()
    assert (public.id, public.version, public.server_name) == (emby.server_id, "4.9.0.33", emby.server_name)
    views = emby_client.UserViewsServiceApi(ec).get_users_by_userid_views(emby.user_id, False)
    assert [v.collection_type for v in views.items[:3]] == ["movies", "tvshows", "music"]
    listed = emby_client.ItemsServiceApi(ec).get_users_by_userid_items(
        emby.user_id, recursive=True, include_item_types="Movie", fields="ProviderIds", start_index=10, limit=25
    )
    assert listed.total_record_count == len(emby.catalog.movies) and len(listed.items) == 25
    assert all(i.id.isdigit() and i.type == "Movie" and i.user_data is not None for i in listed.items)
    full = next(i for i in listed.items if emby.library.style[emby.library.get(i.id)] == FULL)
    media = emby.library.get(full.id)
    assert full.provider_ids == {"Imdb": media.imdb, "Tmdb": str(media.tmdb)}
    played = emby_client.ItemsServiceApi(ec).get_users_by_userid_items(
        emby.user_id,
        recursive=True,
        include_item_types="Movie",
        is_played=True,
        sort_by="DatePlayed",
        sort_order="Descending",
    )
    stamps = [i.user_data.last_played_date for i in played.items if i.user_data.last_played_date]
    assert stamps and stamps == sorted(stamps, reverse=True)
    with pytest.raises(ApiException) as missing:
        emby_client.UserLibraryServiceApi(ec).get_users_by_userid_items_by_id(emby.user_id, "1")
    assert missing.value.status == 404


def test_ec_writes(ec: Any, emby: EmbyEmulator) -> None:
    playstate = emby_client.PlaystateServiceApi(ec)
    library = emby_client.UserLibraryServiceApi(ec)
    movie = unplayed_movie(emby)
    item = emby.item_id(movie)
    marked = playstate.post_users_by_userid_playeditems_by_id(emby.user_id, item, date_played="20240501201500")
    assert (marked.played, marked.play_count, marked.last_played_date.year) == (True, 1, 2024)
    assert marked.item_id == item and marked.server_id == emby.server_id
    got = library.get_users_by_userid_items_by_id(emby.user_id, item)
    assert got.user_data.played is True and got.provider_ids["Imdb"] == movie.imdb
    assert playstate.delete_users_by_userid_playeditems_by_id(emby.user_id, item).played is False
    assert library.post_users_by_userid_favoriteitems_by_id(emby.user_id, item).is_favorite is True
    assert library.post_users_by_userid_favoriteitems_by_id_delete(emby.user_id, item).is_favorite is False
    assert library.post_users_by_userid_items_by_id_rating(emby.user_id, item, True).rating == 10
    assert library.delete_users_by_userid_items_by_id_rating(emby.user_id, item).rating is None
    update = emby_client.UserItemDataDto(playback_position_ticks=900 * TICKS, is_favorite=True)
    assert playstate.post_users_by_userid_items_by_itemid_userdata(update, emby.user_id, item) is None
    after = library.get_users_by_userid_items_by_id(emby.user_id, item).user_data
    assert (after.playback_position_ticks, after.is_favorite, after.played) == (900 * TICKS, True, False)
    # playback reports
    playstate.post_sessions_playing(emby_client.PlaybackStartInfo(item_id=item, position_ticks=0))
    playstate.post_sessions_playing_stopped(
        emby_client.PlaybackStopInfo(item_id=item, position_ticks=movie.runtime * 60 * TICKS)
    )
    done = library.get_users_by_userid_items_by_id(emby.user_id, item).user_data
    assert (done.played, done.playback_position_ticks, done.play_count) == (True, 0, 1)
    # playlists, Emby's way
    playlists = emby_client.PlaylistServiceApi(ec)
    made = playlists.post_playlists(name="From EC", ids=item, media_type="Video")
    assert (made.name, made.item_added_count) == ("From EC", 1)
    added = playlists.post_playlists_by_id_items(emby.item_id(emby.catalog.movies[0]), made.id)
    assert added.item_added_count == 1
    entries = playlists.get_playlists_by_id_items(made.id, user_id=emby.user_id)
    assert [i.id for i in entries.items] == [item, emby.item_id(emby.catalog.movies[0])]
