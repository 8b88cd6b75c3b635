"""One profile's live connection, shared by the websocket listener and the webhook.

A :class:`Link` holds the profile's provider (its sign-in and HTTP client), the items it has
looked up (a session names an item by its server id; an episode's show ids come from its
series, fetched once) and the ratings it knows, so that a rating change can be told from a
message about something else (a play, a favourite). :data:`LINKS` keeps one per profile for
the daemon's lifetime; a changed config section gives the profile a new one.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import anyio
import structlog

from crosswatch.http import HttpError
from crosswatch.model import Feature, Item, MediaType
from crosswatch.provider import ProviderContext
from crosswatch.state import StateDir
from crosswatch_jellyfin.adapter import MediaServerProvider
from crosswatch_jellyfin.client import MediaServerClient
from crosswatch_jellyfin.config import MediaServerSettings
from crosswatch_jellyfin.mapping import Show, entry_of, item_of, show_of, user_fields
from crosswatch_jellyfin.servers import ServerKind

log = structlog.get_logger("crosswatch.jellyfin")

#: items and series kept per profile (a library's worth of lookups stays small)
ITEM_CACHE = 2000
PLAYABLE = (MediaType.MOVIE, MediaType.EPISODE)
_UNKNOWN = object()


def norm_id(value: Any) -> str:
    """A server id as one spelling: Jellyfin's Guids with or without dashes, in any case; Emby's numbers."""
    return str(value).replace("-", "").strip().lower() if value not in (None, "") else ""


def rating_of(user_data: Any) -> int | None:
    """The 1-10 rating a ``UserData`` object holds, or None."""
    found = user_fields(Feature.RATINGS, user_data, None)
    return found["rating"] if found else None


class Link:
    """One Jellyfin or Emby profile as the live listeners see it (see the module docstring)."""

    def __init__(self, kind: ServerKind, profile: str, settings: MediaServerSettings, state: StateDir) -> None:
        self.kind = kind
        self.profile = profile
        self.settings = settings
        self._context = ProviderContext(kind.provider, profile, settings, state)
        self.provider = MediaServerProvider(self._context, kind)
        self._items: OrderedDict[str, Item | None] = OrderedDict()
        self._shows: OrderedDict[str, Show] = OrderedDict()
        #: the ratings seen, by item id; once ``ratings_read``, an id missing from it is unrated
        self.ratings: dict[str, int | None] = {}
        self.ratings_read = False
        self._lock: anyio.Lock | None = None
        self._admin: bool | None = None

    @property
    def name(self) -> str:
        """The profile as a person writes it: ``jellyfin`` or ``jellyfin.kids``."""
        return self.kind.section if self.profile == "default" else f"{self.kind.section}.{self.profile}"

    def _locked(self) -> anyio.Lock:
        if self._lock is None:
            self._lock = anyio.Lock()
        return self._lock

    async def client(self) -> MediaServerClient:
        """The signed-in client (the first call signs in: the saved token, or the API key and its user).

        Raises :class:`crosswatch.http.SignInError` when the profile is not signed in.
        """
        if self.provider.client is None or not self.provider.client.user_id:
            async with self._locked():  # one sign-in, whoever asks first
                await self.provider.connect()
        client = self.provider.client
        assert client is not None
        return client

    async def user_id(self) -> str:
        """The id of the profile's user: the owner of what the listeners forward."""
        return (await self.client()).user_id

    async def admin(self) -> bool:
        """Whether the sign-in sees every session (an administrator, or an API key)."""
        if self._admin is None:
            client = await self.client()
            if self.settings.api_key:
                self._admin = True
            else:
                user = await client.get(f"/Users/{client.user_id}")
                policy = user.get("Policy") if isinstance(user, dict) else None
                self._admin = isinstance(policy, dict) and policy.get("IsAdministrator") is True
        return self._admin

    def owns(self, user_id: Any) -> bool | None:
        """Whether ``user_id`` is the profile's user (None when either is not known)."""
        client = self.provider.client
        mine = norm_id(client.user_id) if client is not None else ""
        theirs = norm_id(user_id)
        return (mine == theirs) if mine and theirs else None

    # -- items ----------------------------------------------------------------------------------

    async def item(self, item_id: str, dto: Any = None) -> Item | None:
        """The Item of a server item (``dto`` when the caller has it with ``ProviderIds``; else it is
        fetched), with its show's ids for an episode or season; None for what crosswatch does not
        keep (music, folders)."""
        key = norm_id(item_id)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        if not isinstance(dto, dict) or not isinstance(dto.get("ProviderIds"), dict) or "Type" not in dto:
            dto = await self._get(item_id)
        entry = entry_of(dto)
        made: Item | None = None
        if entry is not None:
            show = None
            if entry.series:
                name = dto.get("SeriesName") if isinstance(dto.get("SeriesName"), str) else None
                show = await self.show(entry.series, name)
            made = item_of(entry, str(dto["Id"]), show)
        self._items[key] = made
        if len(self._items) > ITEM_CACHE:
            self._items.popitem(last=False)
        return made

    async def show(self, series_id: str, name: str | None = None) -> Show | None:
        """A series' ids and title (fetched once); only its name when it cannot be read."""
        key = norm_id(series_id)
        found = self._shows.get(key)
        if found is None:
            try:
                found = show_of(entry_of(await self._get(series_id)), name)
            except HttpError as exc:
                if exc.status not in (400, 404):
                    raise
                found = show_of(None, name)
            if found is None:
                return None
            self._shows[key] = found
            if len(self._shows) > ITEM_CACHE:
                self._shows.popitem(last=False)
        return found

    async def _get(self, item_id: str) -> Any:
        client = await self.client()
        return await client.get(f"/Users/{client.user_id}/Items/{item_id}")

    async def user_data(self, user_id: str, item_id: str) -> dict[str, Any] | None:
        """A user's ``UserData`` on an item as the server holds it now (None when it cannot be read)."""
        client = await self.client()
        try:
            found = await client.get(f"/Users/{user_id or client.user_id}/Items/{item_id}")
        except HttpError as exc:
            log.info(f"{self.kind.section}.user_data_unread", profile=self.profile, item=item_id, error=str(exc))
            return None
        data = found.get("UserData") if isinstance(found, dict) else None
        return data if isinstance(data, dict) else None

    # -- ratings --------------------------------------------------------------------------------

    async def load_ratings(self) -> int:
        """Read the user's ratings as they are now (once per link); how many are rated."""
        await self.client()
        async with self._locked():
            if not self.ratings_read:
                rated = await self.provider.read(Feature.RATINGS)
                self.ratings = {norm_id(i.extra.get("Id")): i.rating for i in rated if i.extra.get("Id")}
                self.ratings_read = True
                log.info(f"{self.kind.section}.ratings_known", profile=self.profile, rated=len(self.ratings))
        return len(self.ratings)

    def rating_changed(self, item_id: str, rating: int | None) -> bool:
        """Remember ``rating`` for the item; whether it is a change worth forwarding.

        Once the ratings were read, an item not in them was unrated. Before that, a rating of
        an item not seen yet counts as new when it is set; clearing it is not forwarded
        (nothing says it was rated before).
        """
        key = norm_id(item_id)
        before = self.ratings.get(key, None if self.ratings_read else _UNKNOWN)
        self.ratings[key] = rating
        if before is _UNKNOWN:
            return rating is not None
        return before != rating

    async def reset(self) -> None:
        """Sign in afresh on next use (the token was refused; ``crosswatch auth`` may have saved a new one)."""
        old, self.provider = self.provider, MediaServerProvider(self._context, self.kind)
        self._admin = None
        await old.aclose()

    async def aclose(self) -> None:
        await self.provider.aclose()


class Links:
    """The links of the daemon, one per profile (see the module docstring)."""

    def __init__(self) -> None:
        self._links: dict[tuple[str, str], Link] = {}
        self._retired: list[Link] = []

    def get(self, kind: ServerKind, profile: str, settings: MediaServerSettings, state: StateDir) -> Link:
        """The profile's link; a new one when its settings or state folder changed."""
        key = (kind.provider, profile)
        found = self._links.get(key)
        if found is not None and found.settings == settings and found._context.state.path == state.path:
            return found
        if found is not None:
            self._retired.append(found)
        made = self._links[key] = Link(kind, profile, settings, state)
        return made

    async def aclose(self) -> None:
        """Close every link's client (the daemon is stopping)."""
        links, self._retired = [*self._links.values(), *self._retired], []
        self._links.clear()
        for link in links:
            await link.aclose()


LINKS = Links()
