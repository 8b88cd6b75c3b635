"""What tells the emulated Jellyfin from the emulated Emby: one table of data, no code paths.

Both servers speak one API family (Emby's, which Jellyfin forked); the differences the
emulator reproduces are the fields of :class:`Flavour`. The routes read them; nothing else
asks which server it is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavour:
    """One server's differences (see each field)."""

    #: ``jellyfin`` or ``emby``: the CLI name and the config section the TOML block names
    name: str
    #: shown in messages and the TOML block
    title: str
    #: ``ProductName`` of ``/System/Info/Public`` (Emby has none)
    product: str | None
    #: ``Version`` reported
    version: str
    #: leading path segments the server strips (case-insensitive): Jellyfin 10.8-10.11's
    #: legacy rewrite of ``/emby`` and ``/mediabrowser``, Emby's documented ``/emby`` base
    prefixes: tuple[str, ...]
    #: item ids: ``guid`` (32 lower-case hex, Jellyfin) or ``number`` (decimal strings, Emby)
    item_ids: str
    #: Quick Connect endpoints exist (Jellyfin only)
    quick_connect: bool
    #: ``EnableLegacyAuthorization`` is a server setting (Jellyfin 10.11; the ``legacy_auth``
    #: knob) rather than always on (Emby)
    legacy_auth_setting: bool
    #: the 10.9+ routes without a user id in the path (``/UserItems``, ``/UserPlayedItems``,
    #: ``/UserFavoriteItems``, ``/UserViews``, ``/Items/{id}``)
    userless_routes: bool
    #: ``UserData.Likes`` is shown (Jellyfin); Emby's UserItemDataDto has no such field
    likes_field: bool
    #: ``UserData.ServerId`` is shown (Emby)
    userdata_server_id: bool
    #: ``POST .../Delete`` aliases of the DELETE routes (Emby)
    delete_aliases: bool
    #: the ``AnyProviderIdEquals`` item filter (Emby; Jellyfin has none)
    provider_id_filter: bool
    #: ``POST /Playlists`` takes ``Name``/``Ids``/``MediaType`` as query parameters and answers
    #: ``{Id, Name, ItemAddedCount}`` (Emby) instead of a JSON body and ``{Id}`` (Jellyfin)
    playlist_query_params: bool
    #: ``POST /Users/{u}/Items/{i}/UserData`` answers 204 without a body (Emby) instead of
    #: the UserItemDataDto (Jellyfin)
    userdata_post_empty: bool
    #: websocket messages ``PlaybackStart``/``PlaybackStopped`` with a SessionInfo (Emby only)
    playback_messages: bool
    #: the ``UserData.ItemId`` of listings: ``id`` (the item's id; Jellyfin 10.11+, Emby) or
    #: ``zeros`` (Jellyfin 10.10's all-zero Guid)
    userdata_item_id: str = "id"


JELLYFIN = Flavour(
    name="jellyfin",
    title="Jellyfin",
    product="Jellyfin Server",
    version="10.11.8",
    prefixes=("emby", "mediabrowser"),
    item_ids="guid",
    quick_connect=True,
    legacy_auth_setting=True,
    userless_routes=True,
    likes_field=True,
    userdata_server_id=False,
    delete_aliases=False,
    provider_id_filter=False,
    playlist_query_params=False,
    userdata_post_empty=False,
    playback_messages=False,
)

EMBY = Flavour(
    name="emby",
    title="Emby",
    product=None,
    version="4.9.0.33",
    prefixes=("emby", "mediabrowser"),
    item_ids="number",
    quick_connect=False,
    legacy_auth_setting=False,
    userless_routes=False,
    likes_field=False,
    userdata_server_id=True,
    delete_aliases=True,
    provider_id_filter=True,
    playlist_query_params=True,
    userdata_post_empty=True,
    playback_messages=True,
)

FLAVOURS = {f.name: f for f in (JELLYFIN, EMBY)}
