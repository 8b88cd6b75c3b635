"""What the server answers: JSON bodies (PascalCase, or camelCase on request), dates, errors,
and the DTOs of items, user data, users and sessions.

- JSON is PascalCase; ``Accept: application/json; profile="CamelCase"`` switches property
  names (not ``ProviderIds`` keys) to camelCase. Null properties are left out, except
  ``ChannelId``, which the servers write as ``null``.
- Dates are UTC with ``Z``: whole seconds as ``2024-05-01T20:15:00.0000000Z``, others with
  their fraction digits (``...:49.571Z``), as Jellyfin's JsonDateTimeConverter writes them.
- Errors are ``text/plain`` (a 401 for a missing or unknown token has no body); a malformed
  Guid or number in the query or path is a 400 ``application/problem+json``, as
  ASP.NET's model binding answers.
- Item fields: a listing shows ``ProviderIds``, ``DateCreated``, ``DateLastSaved``,
  ``SortName``, ``Path``, ``ParentId``, ``Overview``, ``Genres``, ``Etag``, ``ChildCount``
  and ``RecursiveItemCount`` only when ``Fields`` asks; a single item shows all of them.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from crosswatch.emulation.catalog import Episode, Media, Movie, Season, Show
from crosswatch_jellyfin.emulator.library import ITEM_TYPES, Folder
from crosswatch_jellyfin.emulator.userdata import Data, Playlist

_encode = msgspec.json.Encoder().encode
JSON_TYPE = "application/json; charset=utf-8"
#: the optional item fields this emulator knows (others a client names are dropped silently)
OPTIONAL_FIELDS = frozenset(
    {
        "providerids",
        "datecreated",
        "datelastsaved",
        "sortname",
        "path",
        "parentid",
        "overview",
        "genres",
        "etag",
        "childcount",
        "recursiveitemcount",
    }
)
ALL_FIELDS = OPTIONAL_FIELDS
_ZERO_GUID = "00000000000000000000000000000000"


# -- dates ----------------------------------------------------------------------------------------


def iso(ts: float | None) -> str | None:
    """Epoch seconds as the servers write a date (None stays None)."""
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, UTC)
    head = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond == 0:
        return f"{head}.0000000Z"
    return f"{head}.{f'{dt.microsecond:06d}'.rstrip('0')}Z"


def parse_date(text: str | None) -> float | None:
    """``yyyyMMddHHmmss`` (UTC) or ISO 8601 (no offset: UTC) as epoch seconds; ValueError if neither."""
    if text is None:
        return None
    value = text.strip()
    if len(value) == 14 and value.isdigit():
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()
    parsed = datetime.fromisoformat(value.replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


# -- answers --------------------------------------------------------------------------------------


def _camel(data: Any, inside_ids: bool = False) -> Any:
    if isinstance(data, dict):
        if inside_ids:
            return data
        return {(k[:1].lower() + k[1:]): _camel(v, k == "ProviderIds") for k, v in data.items()}
    if isinstance(data, list):
        return [_camel(v) for v in data]
    return data


def wants_camel(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return 'profile="camelcase"' in accept or "profile=camelcase" in accept


def reply(request: Request, data: Any, status: int = 200) -> Response:
    """A JSON answer in the casing the client asked for."""
    body = _camel(data) if wants_camel(request) else data
    return Response(_encode(body), status_code=status, media_type=JSON_TYPE)


def fail(status: int, text: str = "", headers: dict[str, str] | None = None) -> Response:
    """The servers' plain-text error (``text`` may be empty, as for a 401 without a token)."""
    return Response(text, status_code=status, media_type="text/plain; charset=utf-8", headers=headers)


def problem(name: str, value: str) -> Response:
    """ASP.NET's 400 for a value that does not bind (a malformed Guid, number or bool)."""
    body = {
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": {name: [f"The value '{value}' is not valid."]},
    }
    return Response(_encode(body), status_code=400, media_type="application/problem+json; charset=utf-8")


class Reject(Exception):
    """Raised by a handler to answer ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# -- DTOs -----------------------------------------------------------------------------------------


def user_dto(emu: Any, user: Any) -> dict[str, Any]:
    """``UserDto``."""
    return {
        "Name": user.name,
        "ServerId": emu.server_id,
        "Id": user.id,
        "HasPassword": bool(user.password),
        "HasConfiguredPassword": bool(user.password),
        "HasConfiguredEasyPassword": False,
        "EnableAutoLogin": False,
        "LastLoginDate": iso(user.last_login),
        "LastActivityDate": iso(user.last_activity),
        "Configuration": {
            "PlayDefaultAudioTrack": True,
            "DisplayMissingEpisodes": False,
            "GroupedFolders": [],
            "SubtitleMode": "Default",
            "OrderedViews": [],
            "LatestItemsExcludes": [],
            "MyMediaExcludes": [],
            "HidePlayedInLatest": True,
            "RememberAudioSelections": True,
            "RememberSubtitleSelections": True,
            "EnableNextEpisodeAutoPlay": True,
        },
        "Policy": {
            "IsAdministrator": user.admin,
            "IsHidden": user.hidden,
            "IsDisabled": False,
            "EnableUserPreferenceAccess": True,
            "EnableRemoteAccess": True,
            "EnableContentDeletion": user.admin,
            "EnablePlaybackRemuxing": True,
            "EnableAllFolders": True,
            "EnabledFolders": [],
            "EnableAllDevices": True,
            "AuthenticationProviderId": "Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider",
            "PasswordResetProviderId": "Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider",
        },
    }


def user_data_dto(emu: Any, user_id: str, media: Media, *, live: bool = False) -> dict[str, Any]:
    """``UserItemDataDto`` of a user on an item; ``live``: the websocket's (ItemId always the id)."""
    lib, state, flavour = emu.library, emu.state, emu.flavour
    i = lib.index[media]
    data = state.get(user_id, i) or Data()
    item_id = lib.ids[i]
    out: dict[str, Any] = {}
    if data.rating is not None:
        out["Rating"] = data.rating
    folder = isinstance(media, (Show, Season))
    if folder:
        played_count, total = state.folder_counts(user_id, media)
        if total:
            out["PlayedPercentage"] = played_count / total * 100
        out["UnplayedItemCount"] = total - played_count
        played = total > 0 and played_count == total
    else:
        played = data.played
        runtime = lib.runtime_ticks(media)
        if data.position > 0 and runtime:
            out["PlayedPercentage"] = data.position / runtime * 100
    out |= {"PlaybackPositionTicks": data.position, "PlayCount": data.play_count, "IsFavorite": data.favorite}
    if flavour.likes_field and data.likes is not None:
        out["Likes"] = data.likes
    if data.last_played is not None:
        out["LastPlayedDate"] = iso(data.last_played)
    out |= {"Played": played, "Key": lib.user_data_key(media)}
    out["ItemId"] = item_id if live or flavour.userdata_item_id == "id" else _ZERO_GUID
    if flavour.userdata_server_id:
        out["ServerId"] = emu.server_id
    return out


def _folder_user_data(emu: Any, key: str) -> dict[str, Any]:
    out = {"PlaybackPositionTicks": 0, "PlayCount": 0, "IsFavorite": False, "Played": False, "Key": key}
    out["ItemId"] = key if emu.flavour.userdata_item_id == "id" else _ZERO_GUID
    if emu.flavour.userdata_server_id:
        out["ServerId"] = emu.server_id
    return out


def folder_dto(emu: Any, folder: Folder, user_id: str | None, fields: frozenset[str]) -> dict[str, Any]:
    """A library, the playlists folder or the root folder as a BaseItemDto."""
    out: dict[str, Any] = {"Name": folder.name, "ServerId": emu.server_id, "Id": folder.id}
    if "etag" in fields:
        out["Etag"] = folder.id[:8]
    if "datecreated" in fields:
        out["DateCreated"] = iso(folder.created)
    out["ChannelId"] = None
    if "sortname" in fields:
        out["SortName"] = folder.name.lower()
    if "path" in fields and folder.type == "CollectionFolder":
        out["Path"] = f"/config/root/default/{folder.name}"
    if "parentid" in fields and folder.type != "UserRootFolder":
        out["ParentId"] = emu.library.root.id
    out |= {"IsFolder": True, "Type": folder.type}
    if folder.collection_type:
        out["CollectionType"] = folder.collection_type
    if user_id is not None:
        out["UserData"] = _folder_user_data(emu, folder.id)
    out |= {"LocationType": "FileSystem", "MediaType": "Unknown"}
    return out


def playlist_dto(emu: Any, playlist: Playlist, user_id: str | None, fields: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": playlist.name, "ServerId": emu.server_id, "Id": playlist.id}
    if "datecreated" in fields:
        out["DateCreated"] = iso(playlist.created)
    out["ChannelId"] = None
    if "childcount" in fields or "recursiveitemcount" in fields:
        out["ChildCount"] = len(playlist.entries)
    if "parentid" in fields:
        out["ParentId"] = emu.library.playlists_folder.id
    out |= {"IsFolder": True, "Type": "Playlist"}
    if user_id is not None:
        out["UserData"] = _folder_user_data(emu, playlist.id)
    out |= {"LocationType": "FileSystem", "MediaType": playlist.media_type}
    return out


def item_dto(emu: Any, media: Media, user_id: str | None, fields: frozenset[str]) -> dict[str, Any]:
    """A movie, series, season or episode as a BaseItemDto (UserData when there is a user)."""
    lib = emu.library
    i = lib.index[media]
    item_id = lib.ids[i]
    out: dict[str, Any] = {"Name": lib.name(media), "ServerId": emu.server_id, "Id": item_id}
    if "etag" in fields:
        out["Etag"] = f"{zlib.crc32(f'{item_id}:{lib.saved[i]}'.encode()):08x}"
    if "datecreated" in fields:
        out["DateCreated"] = iso(lib.created[i])
    if "datelastsaved" in fields:
        out["DateLastSaved"] = iso(lib.saved[i])
    if "sortname" in fields:
        out["SortName"] = lib.sort_name(media)
    premiere = lib.premiere(media)
    if premiere is not None:
        out["PremiereDate"] = iso(premiere)
    if "path" in fields and not isinstance(media, Season):
        out["Path"] = _path(lib, media)
    out["ChannelId"] = None
    if "genres" in fields:
        out["Genres"] = []
    if "overview" in fields:
        out["Overview"] = f"{lib.name(media)}: an emulated title."
    if "providerids" in fields:
        out["ProviderIds"] = lib.provider_ids(media)
    runtime = lib.runtime_ticks(media)
    if runtime:
        out["RunTimeTicks"] = runtime
    title = lib.title_of(media)
    out["ProductionYear"] = title.year
    if isinstance(media, Season):
        out["IndexNumber"] = media.number
    elif isinstance(media, Episode):
        out["IndexNumber"] = media.number
        out["ParentIndexNumber"] = media.season
    folder = isinstance(media, (Show, Season))
    out["IsFolder"] = folder
    if "parentid" in fields:
        out["ParentId"] = _parent_id(lib, media)
    out["Type"] = ITEM_TYPES[media.kind]
    if isinstance(media, (Season, Episode)):
        show = media.show
        out["SeriesName"] = show.title
        out["SeriesId"] = lib.id_of(show)
        if isinstance(media, Episode):
            season = show.season(media.season)
            if season is not None:
                out["SeasonId"] = lib.id_of(season)
            out["SeasonName"] = f"Season {media.season}"
    if folder and ("childcount" in fields or "recursiveitemcount" in fields):
        out["ChildCount"] = len(lib.children(media))
        if "recursiveitemcount" in fields:
            out["RecursiveItemCount"] = sum(1 for _ in _episodes(media))
    if user_id is not None:
        out["UserData"] = user_data_dto(emu, user_id, media)
    out["LocationType"] = "FileSystem"
    out["MediaType"] = "Unknown" if folder else "Video"
    if isinstance(media, Movie | Episode):
        out["VideoType"] = "VideoFile"
    return out


def _episodes(media: Media) -> list[Episode]:
    if isinstance(media, Show):
        return [ep for s in media.seasons for ep in s.episodes]
    if isinstance(media, Season):
        return list(media.episodes)
    return []


def _parent_id(lib: Any, media: Media) -> str:
    if isinstance(media, Episode):
        season = media.show.season(media.season)
        return lib.id_of(season) if season is not None else lib.id_of(media.show)
    if isinstance(media, Season):
        return lib.id_of(media.show)
    return lib.view_of(media).id


def _path(lib: Any, media: Media) -> str:
    title = lib.title_of(media)
    folder = f"{title.title} ({title.year})"
    if isinstance(media, Movie):
        return f"/media/movies/{folder}/{folder}.mkv"
    if isinstance(media, Show):
        return f"/media/shows/{folder}"
    assert isinstance(media, Episode)
    return f"/media/shows/{folder}/Season {media.season:02d}/S{media.season:02d}E{media.number:02d}.mkv"
