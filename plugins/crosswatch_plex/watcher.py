"""The Plex watcher: the server's notification websocket turned into observed plays and ratings.

A daemon service (``crosswatch_services``) that, while ``scrobble.watcher.enabled`` (plays)
or ``scrobble.watcher.ratings`` is set, keeps one websocket per signed-in Plex profile open
to ``/:/websockets/notifications`` and reconnects with backoff when the server goes away.

- ``playing`` frames (a session's state and position) become ``PlaybackObserved`` with the
  item's external ids (hydrated once per item and cached), the session's user (from
  ``/status/sessions``) and its library;
- ``timeline`` frames of library items are checked for a changed ``userRating`` (the known
  ratings are read when the socket opens) and become ``RatingObserved`` (none = cleared).

Events go to the bus without waiting (``emit``); a frame that is not what Plex sends is
counted and skipped, never fatal.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import anyio
import httpx
import msgspec
import structlog
from httpx_ws import HTTPXWSException, aconnect_ws

from crosswatch.events import PlaybackObserved, RatingObserved
from crosswatch.http import HttpError
from crosswatch.model import Feature, Item
from crosswatch.provider import ProviderContext
from crosswatch.services import ServiceContext
from crosswatch_plex.client import PlexClient
from crosswatch_plex.mapping import metadata_items, rating_of, section_id, to_item
from crosswatch_plex.scan import hydrate, rating_key

log = structlog.get_logger("crosswatch.plex")
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
ITEM_CACHE = 2000
LIBRARY_TYPES = (1, 2, 3, 4)  # movie, show, season, episode


EXPECTED = (httpx.HTTPError, HttpError, HTTPXWSException, OSError)


def _expected(exc: BaseException) -> bool:
    """A server going away (httpx-ws raises it inside an exception group)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_expected(e) for e in exc.exceptions)
    return isinstance(exc, EXPECTED)


def _entries(container: dict[str, Any], name: str) -> list[dict[str, Any]]:
    found = container.get(name)
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def _enabled(ctx: ServiceContext) -> bool:
    watcher = ctx.config.scrobble.watcher
    return watcher.enabled or watcher.ratings


async def watch(ctx: ServiceContext) -> None:
    """The service: one watcher per signed-in Plex profile, while the config asks for it."""
    while not _enabled(ctx):
        await anyio.sleep(5)
    section = ctx.config.sections.get("plex")
    profiles = sorted(section.profiles) if section is not None else []
    async with anyio.create_task_group() as tg:
        for profile in profiles:
            tg.start_soon(PlexWatcher(ctx, profile).run)


class PlexWatcher:
    """One Plex profile's websocket and what it observes."""

    def __init__(self, ctx: ServiceContext, profile: str) -> None:
        self.ctx = ctx
        self.profile = profile
        self.frames = 0
        self.garbage = 0
        self.connects = 0
        self._items: OrderedDict[str, tuple[Item, int | None]] = OrderedDict()
        self._users: dict[str, tuple[str, bool | None]] = {}
        self._ratings: dict[str, int | None] = {}

    @property
    def settings(self) -> Any:
        return self.ctx.config.sections["plex"].profiles[self.profile]

    async def run(self) -> None:
        failures = 0
        while True:
            if not _enabled(self.ctx):
                await anyio.sleep(5)
                continue
            client = PlexClient(self.settings, self.ctx.state, self.profile)
            try:
                await self._session(client)
                failures = 0
            except Exception as exc:
                if not _expected(exc):
                    raise
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                log.warning("plex.watcher_disconnected", profile=self.profile, error=repr(exc), retry_in_s=delay)
                await anyio.sleep(delay)
            finally:
                with anyio.CancelScope(shield=True):
                    await client.aclose()

    async def _session(self, client: PlexClient) -> None:
        http = await client.http()
        headers = await client.server_headers() or {}
        url = self.settings.url.rstrip("/") + "/:/websockets/notifications"
        if self.ctx.config.scrobble.watcher.ratings:
            await self._load_ratings()
        ws: Any
        async with aconnect_ws(url, http, params={"filters": "playing,timeline"}, headers=headers) as ws:
            self.connects += 1
            log.info("plex.watcher_connected", profile=self.profile, url=url, connects=self.connects)
            while _enabled(self.ctx):
                text = await ws.receive_text()
                self.frames += 1
                await self.handle(client, text)

    async def _load_ratings(self) -> None:
        """The ratings as they are now, to tell a changed rating from a frame about something else."""
        spec = self.ctx.providers.get("PLEX")
        provider = spec.factory(ProviderContext("PLEX", self.profile, self.settings, self.ctx.state))
        try:
            items = await provider.read(Feature.RATINGS)
        finally:
            await provider.aclose()
        self._ratings = {str(i.extra.get("ratingKey")): i.rating for i in items}

    async def handle(self, client: PlexClient, text: str) -> None:
        """One websocket frame."""
        try:
            frame = msgspec.json.decode(text)
            container = frame["NotificationContainer"]
            kind = container["type"]
            if not isinstance(container, dict):
                raise TypeError("not an object")
        except (msgspec.DecodeError, KeyError, TypeError, RecursionError):
            self.garbage += 1
            log.debug("plex.watcher_garbage", profile=self.profile, frame=text[:200])
            return
        listed = {"playing": "PlaySessionStateNotification", "timeline": "TimelineEntry"}.get(kind)
        if listed and not isinstance(container.get(listed, []), list):
            self.garbage += 1  # not what Plex sends: skip the frame, keep watching
            return
        if kind == "playing" and self.ctx.config.scrobble.watcher.enabled:
            for entry in _entries(container, "PlaySessionStateNotification"):
                await self._playing(client, entry)
        elif kind == "timeline" and self.ctx.config.scrobble.watcher.ratings:
            for entry in _entries(container, "TimelineEntry"):
                if entry.get("type") in LIBRARY_TYPES:
                    await self._timeline(client, entry)

    async def _item(self, client: PlexClient, key: str, *, fresh: bool = False) -> tuple[Item, int | None, dict] | None:
        if not fresh and key in self._items:
            self._items.move_to_end(key)
            item, library = self._items[key]
            return item, library, {}
        metas = await hydrate(client, {key}, "PLEX:watcher")
        meta = metas.get(key)
        if meta is None:
            return None
        show = None
        parent = rating_key(meta.get("grandparentRatingKey") or meta.get("parentRatingKey"))
        if parent is not None:
            show = (await hydrate(client, {parent}, "PLEX:watcher")).get(parent)
        made = to_item(meta, show=show)
        if made is None:
            return None
        library = section_id(meta.get("librarySectionID"))
        self._items[key] = (made, library)
        if len(self._items) > ITEM_CACHE:
            self._items.popitem(last=False)
        return made, library, meta

    async def _user(self, client: PlexClient, session: str) -> tuple[str, bool | None]:
        """The session's account: its title, and whether it is the server owner (account 1)."""
        if session not in self._users:
            body = await client.get("/status/sessions", scope="PLEX:watcher")
            for meta in metadata_items(body):
                user = meta.get("User") or {}
                if isinstance(user, list):  # some servers wrap it in a list of one
                    user = user[0] if user else {}
                if isinstance(user, dict):
                    title = str(user.get("title") or user.get("id") or "")
                    self._users[str(meta.get("sessionKey"))] = (title, str(user.get("id")) == "1")
        return self._users.get(session, ("", None))

    async def _playing(self, client: PlexClient, entry: dict[str, Any]) -> None:
        key = rating_key(entry.get("ratingKey"))
        state = entry.get("state")
        if key is None or state not in ("playing", "paused", "stopped", "buffering"):
            self.garbage += 1
            return
        found = await self._item(client, key)
        if found is None:
            log.info("plex.watcher_unknown_item", profile=self.profile, ratingKey=key)
            return
        item, library, _ = found
        session = str(entry.get("sessionKey") or "")
        user, owner = await self._user(client, session) if session else ("", None)
        offset = view_offset if isinstance(view_offset := entry.get("viewOffset"), int) else 0
        progress = 100 * offset / item.duration_ms if item.duration_ms else 0.0
        event = PlaybackObserved(
            "PLEX",
            self.profile,
            "playing" if state == "buffering" else state,
            item,
            round(progress, 2),
            source="watcher",
            user=user,
            library=library,
            session=f"{session}:{key}",
            owner=owner,
        )
        self.ctx.bus.emit(event)
        if state == "stopped":
            self._users.pop(session, None)

    async def _timeline(self, client: PlexClient, entry: dict[str, Any]) -> None:
        key = rating_key(entry.get("itemID"))
        if key is None:
            return
        found = await self._item(client, key, fresh=True)
        if found is None:
            return
        item, library, meta = found
        rating = rating_of(meta)
        if key in self._ratings and self._ratings[key] == rating:
            return  # a timeline entry about something else (a play, a scan)
        if key not in self._ratings and rating is None:
            self._ratings[key] = None
            return
        self._ratings[key] = rating
        # the signed-in account's own rating (the token's): the owner's
        event = RatingObserved("PLEX", self.profile, item, rating, source="watcher", library=library, owner=True)
        self.ctx.bus.emit(event)
