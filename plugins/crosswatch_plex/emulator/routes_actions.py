"""PMS writes: ``/:/scrobble``, ``/:/unscrobble``, ``/:/rate``, ``/:/timeline``, ``/:/progress``.

All answer GET and PUT (``/:/timeline`` and ``/:/progress`` POST too), for the token's
account, and need ``identifier=com.plexapp.plugins.library`` (another identifier: 404;
``/:/timeline`` accepts it missing) and ``key`` (the ratingKey; 400 without it, 404 for an
unknown one). An empty 200 on success, except ``/:/timeline``, which answers a container like
``fixtures/plex/timeline/timeline.json``.

- scrobble: viewCount + 1, lastViewedAt = now, a history row at now, resume position cleared
  (a show or season: each episode). Plex records "now": there is no way to backdate.
- unscrobble: viewCount 0, lastViewedAt and resume position gone, the account's history rows
  of the item removed.
- rate: ``rating`` 0-10 (floats allowed); ``-1`` or ``0`` clears; optional ``ratedAt`` (epoch
  s; in the future: 400), else now; sets ``lastRatedAt``. Sends a timeline and an activity frame.
- timeline: ``ratingKey`` (or ``key=/library/metadata/<id>``), ``state``, ``time``, ``duration``;
  needs ``X-Plex-Client-Identifier`` (400); a movie or an episode (else 400); see :mod:`.playback`.
- progress: ``key``, ``time``, ``state``; a movie or an episode; see :func:`.playback.progress`.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.emulation.catalog import Media
from crosswatch_plex.emulator import notify
from crosswatch_plex.emulator.common import LIBRARY_ID, Reject, account, empty_ok, emulator, endpoint, int_param
from crosswatch_plex.emulator.library import TYPE_NUMBERS
from crosswatch_plex.emulator.playback import STATES, progress
from crosswatch_plex.emulator.render import container, respond, x_plex


def _item(request: Request, *, need_identifier: bool = True) -> Media:
    emu = emulator(request)
    identifier = request.query_params.get("identifier")
    if identifier is not None and identifier != LIBRARY_ID:
        raise Reject(404)
    if identifier is None and need_identifier:
        raise Reject(400)
    key = request.query_params.get("key") or request.query_params.get("ratingKey") or ""
    key = key.rsplit("/", 1)[-1] if key.startswith("/library/metadata/") else key
    if not key:
        raise Reject(400)
    media = emu.library.get(key)
    if media is None:
        raise Reject(404)
    return media


def item_changed(emu, media: Media, *, activity: bool = False, user: int = 1) -> None:
    """Tell the websocket that an item changed (a timeline entry; a rating adds an activity pair)."""
    lib = emu.library
    rk = lib.rk(media)
    title = getattr(media, "title", None) or f"Season {getattr(media, 'number', '')}"
    emu.hub.publish(notify.timeline(lib.section_of(media).id, rk, TYPE_NUMBERS[media.kind], title, int(time.time())))
    if activity:
        for message in notify.activity_pair(rk, user, emu.hub.new_uuid()):
            emu.hub.publish(message)


@endpoint
async def scrobble(request: Request) -> Response:
    emu = emulator(request)
    media = _item(request)
    emu.state.play(account(request), media, int(time.time()))
    item_changed(emu, media)
    return empty_ok()


@endpoint
async def unscrobble(request: Request) -> Response:
    emu = emulator(request)
    media = _item(request)
    emu.state.unwatch(account(request), media)
    item_changed(emu, media)
    return empty_ok()


def apply_rating(emu, who: int, media: Media, raw: str | None, rated_at: int | None) -> None:
    """Validate and apply one rating (shared with ``POST /_emulator/rate``); Reject(400) if bad."""
    try:
        rating = float(raw) if raw is not None else None
    except ValueError:
        raise Reject(400) from None
    if rating is None or not -1 <= rating <= 10 or (rating < 0 and rating != -1):
        raise Reject(400)
    now = int(time.time())
    if rated_at is not None and rated_at > now + 60:
        raise Reject(400)
    emu.state.rate(who, media, rating if rating > 0 else None, rated_at or now)
    item_changed(emu, media, activity=True, user=who)
    emu.webhooks.send("media.rate", who, media)


@endpoint
async def rate(request: Request) -> Response:
    emu = emulator(request)
    media = _item(request)
    apply_rating(emu, account(request), media, request.query_params.get("rating"), int_param(request, "ratedAt"))
    return empty_ok()


@endpoint
async def timeline(request: Request) -> Response:
    emu = emulator(request)
    client = x_plex(request, "X-Plex-Client-Identifier")
    if not client:
        raise Reject(400)
    media = _item(request, need_identifier=False)
    if media.kind not in ("movie", "episode"):
        raise Reject(400)
    state = request.query_params.get("state", "playing")
    if state not in STATES:
        raise Reject(400)
    offset = int_param(request, "time") or 0
    duration = int_param(request, "duration")
    who = account(request)
    if state == "buffering":
        state = "playing"
    emu.playback.report(
        who,
        media,
        state,
        offset,
        duration,
        client,
        product=x_plex(request, "X-Plex-Product"),
        platform=x_plex(request, "X-Plex-Platform"),
    )
    rk = emu.library.rk(media)
    count = emu.state.view_of(who, media)[0]
    kept = emu.state.users[who].offsets.get(rk, 0)
    return respond(request, container(size=0, playbackState="progress", skipCount=0, viewCount=count, viewOffset=kept))


@endpoint
async def progress_report(request: Request) -> Response:
    emu = emulator(request)
    media = _item(request)
    if media.kind not in ("movie", "episode"):
        raise Reject(400)
    state = request.query_params.get("state", "stopped")
    if state not in STATES:
        raise Reject(400)
    progress(emu, account(request), media, int_param(request, "time") or 0, state)
    return empty_ok()


ROUTES = [
    Route("/:/scrobble", scrobble, methods=["GET", "PUT"]),
    Route("/:/unscrobble", unscrobble, methods=["GET", "PUT"]),
    Route("/:/rate", rate, methods=["GET", "PUT", "POST"]),
    Route("/:/timeline", timeline, methods=["GET", "PUT", "POST"]),
    Route("/:/progress", progress_report, methods=["GET", "PUT", "POST"]),
]
