"""PMS server-level reads: ``GET /`` (server info), ``/identity`` (no token needed), ``/library``,
``/accounts`` (account 0, the owner as 1, the home users by their plex.tv ids) and
``/status/sessions`` (the open play sessions of :mod:`.playback`, with ``User``, ``Player``
and ``Session`` children; a home user sees only their own).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch_plex.emulator.common import (
    LIBRARY_ID,
    MEDIA_TAG_PREFIX,
    MEDIA_TAG_VERSION,
    VERSION,
    account,
    emulator,
    endpoint,
)
from crosswatch_plex.emulator.items import item_el
from crosswatch_plex.emulator.render import El, container, respond


@endpoint
async def server_info(request: Request) -> Response:
    emu = emulator(request)
    names: tuple[str, ...] = (
        "activities",
        "butler",
        "channels",
        "clients",
        "diagnostics",
        "hubs",
        "library",
        "livetv",
        "media",
    )
    names += ("metadata", "player", "playlists", "playQueues", "resources", "search", "server", "servers")
    names += ("statistics", "system", "transcode", "updater", "user")
    dirs = [El("Directory", {"count": 1, "key": n, "title": n}) for n in names]
    attrs = {
        "allowCameraUpload": True,
        "allowChannelAccess": True,
        "allowMediaDeletion": True,
        "allowSharing": True,
        "allowSync": True,
        "allowTuners": False,
        "backgroundProcessing": True,
        "certificate": False,
        "companionProxy": True,
        "countryCode": "gbr",
        "diagnostics": "logs,databases,streaminglogs",
        "eventStream": True,
        "friendlyName": emu.friendly_name,
        "hubSearch": True,
        "itemClusters": True,
        "livetv": 7,
        "machineIdentifier": emu.machine_identifier,
        "mediaProviders": True,
        "multiuser": True,
        "musicAnalysis": 2,
        "myPlex": True,
        "myPlexMappingState": "mapped",
        "myPlexSigninState": "ok",
        "myPlexSubscription": True,
        "myPlexUsername": emu.state.owner.email,
        "offlineTranscode": 1,
        "ownerFeatures": "webhooks,home,pass,sync,watchlist",
        "platform": "Linux",
        "platformVersion": "6.1.0",
        "pluginHost": True,
        "pushNotifications": False,
        "readOnlyLibraries": False,
        "streamingBrainABRVersion": 3,
        "streamingBrainVersion": 2,
        "sync": True,
        "transcoderActiveVideoSessions": 0,
        "transcoderAudio": True,
        "transcoderLyrics": True,
        "transcoderPhoto": True,
        "transcoderSubtitles": True,
        "transcoderVideo": True,
        "transcoderVideoBitrates": "64,96,208,320,720,1500,2000,3000,4000,8000,10000,12000,20000",
        "transcoderVideoQualities": "0,1,2,3,4,5,6,7,8,9,10,11,12",
        "transcoderVideoResolutions": "128,128,160,240,320,480,768,720,720,1080,1080,1080,1080",
        "updatedAt": 1734545021,
        "updater": True,
        "version": VERSION,
        "voiceSearch": True,
    }
    return respond(request, container(dirs, **attrs))


async def identity(request: Request) -> Response:
    emu = emulator(request)
    return respond(request, container(size=0, claimed=True, machineIdentifier=emu.machine_identifier, version=VERSION))


@endpoint
async def library_root(request: Request) -> Response:
    dirs = [
        El("Directory", {"key": "sections", "title": "Library Sections"}),
        El("Directory", {"key": "recentlyAdded", "title": "Recently Added Content"}),
        El("Directory", {"key": "onDeck", "title": "On Deck Content"}),
    ]
    attrs = {
        "allowSync": False,
        "art": "/:/resources/library-art.jpg",
        "content": "",
        "identifier": LIBRARY_ID,
        "mediaTagPrefix": MEDIA_TAG_PREFIX,
        "mediaTagVersion": MEDIA_TAG_VERSION,
        "title1": "Plex Library",
        "title2": "",
    }
    return respond(request, container(dirs, **attrs))


@endpoint
async def accounts(request: Request) -> Response:
    emu = emulator(request)
    base = {"defaultAudioLanguage": "en", "autoSelectAudio": True, "defaultSubtitleLanguage": "en", "subtitleMode": 0}
    rows = [El("Account", {"id": 0, "key": "/accounts/0", "name": "", **base, "thumb": ""})]
    for acct in emu.state.accounts.values():
        name = acct.username if acct.admin else acct.title
        rows.append(
            El("Account", {"id": acct.id, "key": f"/accounts/{acct.id}", "name": name, **base, "thumb": acct.thumb})
        )
    return respond(request, container(rows, identifier="com.plexapp.system.accounts"))


@endpoint
async def sessions(request: Request) -> Response:
    emu = emulator(request)
    who = account(request)
    rows = []
    for session in emu.playback.open_sessions():
        if who != 1 and session.account != who:
            continue
        media = emu.library.get(session.rk)
        if media is None:
            continue
        el = item_el(emu.library, emu.state, session.account, media, detail=True)
        el.attrs["sessionKey"] = str(session.key)
        el.attrs["viewOffset"] = session.view_offset
        acct = emu.state.accounts.get(session.account)
        el.children.append(
            El(
                "User",
                {
                    "id": str(session.account),
                    "thumb": acct.thumb if acct else "",
                    "title": (acct.title if acct else ""),
                },
                key="User",
                one=True,
            )
        )
        el.children.append(
            El(
                "Player",
                {
                    "address": "127.0.0.1",
                    "machineIdentifier": session.client_id,
                    "platform": session.platform,
                    "product": session.product,
                    "state": session.state,
                    "title": session.product,
                    "local": True,
                },
                key="Player",
                one=True,
            )
        )
        el.children.append(
            El(
                "Session",
                {"id": f"session-{session.key}", "bandwidth": 4200, "location": "lan"},
                key="Session",
                one=True,
            )
        )
        rows.append(el)
    return respond(request, container(rows))


ROUTES = [
    Route("/", server_info, methods=["GET", "HEAD"]),
    Route("/identity", identity, methods=["GET", "HEAD"]),
    Route("/library", library_root, methods=["GET"]),
    Route("/accounts", accounts, methods=["GET"]),
    Route("/status/sessions", sessions, methods=["GET"]),
]
