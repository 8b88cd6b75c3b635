"""What tells Jellyfin from Emby, as data: the code path is one, these fields differ.

Both speak one API family (Jellyfin forked Emby). Every route crosswatch uses exists on both
under the same path (``/Users/{userId}/...``; Jellyfin keeps those beside its newer user-less
routes); what differs is the base path, how the token travels, Quick Connect, and the shape
of a playlist creation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerKind:
    """One server family's differences."""

    #: the provider id (``JELLYFIN``) and its config section (``jellyfin``)
    provider: str
    section: str
    title: str
    #: the base path every route sits under (Emby documents ``/emby/{path}``)
    base_path: str
    #: the Authorization scheme (``MediaBrowser``; Emby's own ``Emby``)
    scheme: str
    #: the token goes in the Authorization header's ``Token=`` (Jellyfin: the only form
    #: Jellyfin 12 accepts) or in ``X-Emby-Token`` (Emby's documented form)
    token_in_authorization: bool
    #: Quick Connect exists (Jellyfin only)
    quick_connect: bool
    #: ``POST /Playlists`` takes Name, Ids and MediaType in the query (Emby) or a JSON body
    playlist_query_params: bool
    #: the environment variable a password may be given in (``crosswatch auth``)
    password_env: str
    #: the websocket's path, beside (not under) the base path
    websocket_path: str


JELLYFIN = ServerKind(
    provider="JELLYFIN",
    section="jellyfin",
    title="Jellyfin",
    base_path="",
    scheme="MediaBrowser",
    token_in_authorization=True,
    quick_connect=True,
    playlist_query_params=False,
    password_env="CROSSWATCH_JELLYFIN_PASSWORD",
    websocket_path="/socket",
)

EMBY = ServerKind(
    provider="EMBY",
    section="emby",
    title="Emby",
    base_path="/emby",
    scheme="Emby",
    token_in_authorization=False,
    quick_connect=False,
    playlist_query_params=True,
    password_env="CROSSWATCH_EMBY_PASSWORD",
    websocket_path="/embywebsocket",
)

KINDS = {k.provider: k for k in (JELLYFIN, EMBY)}
BY_SECTION = {k.section: k for k in (JELLYFIN, EMBY)}
