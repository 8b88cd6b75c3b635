"""Jellyfin's webhook plugin: ``POST /webhook/jellyfin/<secret>`` on the daemon's endpoint.

Set up a *Generic* destination of the Jellyfin webhook plugin with the URL
``http://HOST:8787/webhook/jellyfin/<scrobble.webhook.secret>``, the notification types
Playback Start, Playback Progress, Playback Stop (and User Data Saved for ratings), movies
and episodes, and either "Send All Properties" or a template that names the plugin's keys.
It posts the object as JSON, as ``text/plain`` unless a header says otherwise; both are taken.

=================  ==========================================================================
NotificationType   becomes
=================  ==========================================================================
PlaybackStart      ``PlaybackObserved`` ``playing`` (``paused`` when ``IsPaused``)
PlaybackProgress   ``playing`` or ``paused`` (the router sends only a change)
PlaybackStop       ``stopped`` at ``PlaybackPositionTicks`` of ``RunTimeTicks``; 100 % when
                   ``PlayedToCompletion``
UserDataSaved      ``RatingObserved`` when the ``Rating`` changed (``SaveReason``
                   ``UpdateUserRating`` or ``UpdateUserData``; 0 = none, as the plugin writes
                   a missing rating)
=================  ==========================================================================

The title is the payload's ``ItemType``, ``Provider_imdb``/``_tmdb``/``_tvdb`` and numbers; an
episode's show ids come from its series, read from the server through the ``[jellyfin]``
profile whose user posted (``UserId``), which is also what ``owner`` says. ``user`` is
``NotificationUsername``. A play's ``session`` is its device and item, as the websocket
listener names it, so the router sends one scrobble when both report a play.

Answers: 200 (also for a notification crosswatch does not use), 403 for a wrong secret
(logged once per source address), 404 while ``scrobble.webhook.enabled`` is off, 413 for a
body over ``scrobble.webhook.max_body_kb``, 400 for a body that is not a JSON object (or not what
the plugin sends).
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crosswatch.config import Config
from crosswatch.events import PlaybackObserved, RatingObserved
from crosswatch.http import HttpError
from crosswatch.model import Item
from crosswatch.state import StateDir
from crosswatch.webhooks import WebhookGate
from crosswatch_jellyfin.link import LINKS, PLAYABLE, Link, norm_id, rating_of
from crosswatch_jellyfin.mapping import Show, entry_of, item_of
from crosswatch_jellyfin.servers import JELLYFIN
from crosswatch_jellyfin.sessions import FINISHED, PAUSED, PLAYING, STOPPED, percent, session_key

log = structlog.get_logger("crosswatch.jellyfin")
PLAYBACK = {"playbackstart", "playbackprogress", "playbackstop"}
RATING_REASONS = {"updateuserrating", "updateuserdata"}
OTHERS_KEPT = 10_000  # other users' ratings remembered


def _int(value: Any) -> int | None:
    """A number as the plugin writes it: a JSON number, or text from a template."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return None
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _bool(value: Any) -> bool:
    """True, or ``"True"``/``"true"`` (a template writes C#'s spelling)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else str(value) if isinstance(value, int) else ""


class Webhook:
    """The route and what it needs from the daemon (set by the plugin's hooks)."""

    def __init__(self) -> None:
        self.config: Config | None = None
        self.bus: Any = None
        self.gate = WebhookGate("jellyfin")
        self.received = 0
        self._others: dict[tuple[str, str], int | None] = {}  # other users' ratings seen

    async def receive(self, request: Request) -> Response:
        if self.config is None or self.bus is None:
            return Response(status_code=503)
        body = await self.gate.admit(request, self.config)
        if isinstance(body, Response):
            return body
        try:
            payload = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return JSONResponse({"error": "the body is not JSON (send all properties, or a JSON template)"}, 400)
        except RecursionError:
            return JSONResponse({"error": "the body is nested too deeply to be a webhook's"}, 400)
        if not isinstance(payload, dict):
            return JSONResponse({"error": "the body is not a JSON object"}, status_code=400)
        self.received += 1
        fields = {str(k).lower(): v for k, v in payload.items()}
        try:
            event = await self.event(fields)
        except (TypeError, ValueError, AttributeError, KeyError):
            return JSONResponse({"error": "the payload is not what the webhook plugin sends"}, status_code=400)
        if event is not None:
            self.bus.emit(event)
            kind = str(fields.get("notificationtype"))
            # progress comes every few seconds of a play: a line each only when asked for (debug)
            say = log.debug if kind.lower() == "playbackprogress" else log.info
            say(
                "jellyfin.webhook",
                kind=kind,
                profile=event.profile,
                state=getattr(event, "state", None),
                rating=getattr(event, "rating", None),
                user=event.user,
            )
        return Response(status_code=200)

    # -- payloads -------------------------------------------------------------------------------

    async def event(self, fields: dict[str, Any]) -> PlaybackObserved | RatingObserved | None:
        """The event of one payload (keys in lower case), or None when it names nothing to forward."""
        kind = _text(fields.get("notificationtype")).lower()
        rating_saved = kind == "userdatasaved" and _text(fields.get("savereason")).lower() in RATING_REASONS
        if kind not in PLAYBACK and not rating_saved:
            return None
        item_id = _text(fields.get("itemid"))
        if not item_id:
            return None
        link, owner = await self._profile(fields)
        item = await self._item(fields, item_id, link)
        if item is None:
            return None
        user = _text(fields.get("notificationusername")) or _text(fields.get("username"))
        profile = link.profile if link is not None else "default"
        if rating_saved:
            value = _number(fields.get("rating"))
            rating = rating_of({"Rating": value}) if value else None  # the plugin writes none as 0
            if not self._rating_changed(link, owner, user, item_id, rating):
                return None
            return RatingObserved(JELLYFIN.provider, profile, item, rating, source="webhook", user=user, owner=owner)
        if item.type not in PLAYABLE:
            return None
        progress = percent(_int(fields.get("playbackpositionticks")), _int(fields.get("runtimeticks")))
        if kind == "playbackstop":
            state, progress = STOPPED, FINISHED if _bool(fields.get("playedtocompletion")) else progress
        else:
            state = PAUSED if _bool(fields.get("ispaused")) else PLAYING
        device = _text(fields.get("deviceid")) or _text(fields.get("id")) or _text(fields.get("userid"))
        return PlaybackObserved(
            JELLYFIN.provider,
            profile,
            state,
            item,
            progress,
            source="webhook",
            user=user,
            session=session_key(device, item_id),
            owner=owner,
        )

    async def _item(self, fields: dict[str, Any], item_id: str, link: Link | None) -> Item | None:
        """The payload's title; an episode's show ids from its series on the server (when a profile can read it)."""
        provider_ids = {k.removeprefix("provider_"): v for k, v in fields.items() if k.startswith("provider_")}
        kind = _text(fields.get("itemtype"))
        number = fields.get("episodenumber") if kind == "Episode" else fields.get("seasonnumber")
        dto = {
            "Id": item_id,
            "Type": kind,
            "Name": _text(fields.get("name")),
            "ProductionYear": _int(fields.get("year")),
            "ProviderIds": {k: _text(v) for k, v in provider_ids.items()},
            "RunTimeTicks": _int(fields.get("runtimeticks")),
            "SeriesId": _text(fields.get("seriesid")) or None,
            "ParentIndexNumber": _int(fields.get("seasonnumber")),
            "IndexNumber": _int(number),
        }
        entry = entry_of(dto)
        if entry is None:
            return None
        series_name = _text(fields.get("seriesname")) or None
        show: Show | None = Show({}, series_name) if entry.series or series_name else None
        if entry.series and link is not None:
            try:
                show = await link.show(entry.series, series_name)
            except HttpError as exc:  # the play still counts by the episode's own ids
                log.info("jellyfin.webhook_series_unread", series=entry.series, error=str(exc))
        return item_of(entry, item_id, show)

    async def _profile(self, fields: dict[str, Any]) -> tuple[Link | None, bool | None]:
        """The ``[jellyfin]`` profile of the payload's user, and whether it is that profile's own user."""
        config = self.config
        assert config is not None
        section = config.sections.get(JELLYFIN.section)
        if section is None or JELLYFIN.section not in config.raw:
            return None, None
        state = StateDir(config.config_dir)
        names = sorted(section.profiles, key=lambda n: (n != "default", n))
        links = [LINKS.get(JELLYFIN, name, section.profiles[name], state) for name in names]
        user_id = fields.get("userid")
        usable: list[Link] = []
        for link in links:
            try:
                await link.client()
            except HttpError as exc:
                log.debug("jellyfin.webhook_profile_unusable", profile=link.profile, error=str(exc))
                continue
            usable.append(link)
            if link.owns(user_id):
                return link, True
        if not usable:
            return None, None
        return usable[0], False if norm_id(user_id) else None

    def _rating_changed(
        self, link: Link | None, owner: bool | None, user: str, item_id: str, rating: int | None
    ) -> bool:
        if link is not None and owner:
            return link.rating_changed(item_id, rating)
        key = (user, norm_id(item_id))  # another user's: only what this webhook saw of them
        before = self._others.pop(key, ...)
        self._others[key] = rating
        if len(self._others) > OTHERS_KEPT:
            del self._others[next(iter(self._others))]
        return rating is not None if before is ... else before != rating
