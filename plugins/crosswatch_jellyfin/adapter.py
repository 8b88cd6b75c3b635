"""Providers ``JELLYFIN`` and ``EMBY``: watchlist, ratings, history and progress of one user on one server."""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from crosswatch.http import SignInError
from crosswatch.model import Feature, Item
from crosswatch.provider import ProviderContext, WriteResult, file_prefix
from crosswatch.unresolved import UnresolvedStore
from crosswatch_jellyfin.auth import SignIn, load_sign_in
from crosswatch_jellyfin.client import MediaServerClient, new_device_id
from crosswatch_jellyfin.config import MediaServerSettings
from crosswatch_jellyfin.library import Library
from crosswatch_jellyfin.reads import Reader
from crosswatch_jellyfin.servers import ServerKind
from crosswatch_jellyfin.users import find_user, same_id, wanted
from crosswatch_jellyfin.writes import Writer


class MediaServerProvider:
    """One Jellyfin or Emby profile (``kind`` says which); connects on first use.

    It signs in with the profile's saved token (``crosswatch auth``), or with the config's
    ``api_key`` for the configured user. Reads and writes are in :mod:`.reads` and
    :mod:`.writes`; the libraries and their index in :mod:`.library`.
    """

    def __init__(self, ctx: ProviderContext, kind: ServerKind) -> None:
        self.id = kind.provider
        self.profile = ctx.profile
        self.kind = kind
        self.settings: MediaServerSettings = ctx.settings
        self.state = ctx.state
        self.prefix = file_prefix(kind.provider, ctx.profile)
        self.unresolved = UnresolvedStore(ctx.state, self.prefix)
        self.client: MediaServerClient | None = None
        self._reader: Reader | None = None
        self._writer: Writer | None = None
        self._planned: frozenset[Feature] = frozenset()

    @property
    def requests(self) -> int:
        """Requests sent so far for this profile's account (the process-wide policy's count)."""
        return self.client.policy.stats.requests if self.client is not None else 0

    def _refuse(self, why: str) -> SignInError:
        command = f"crosswatch auth {self.kind.section}" + (
            "" if self.profile == "default" else f" --profile {self.profile}"
        )
        where = "" if self.profile == "default" else f" (profile {self.profile})"
        return SignInError(f"{self.kind.title}{where}: {why}: run `{command}`", provider=self.id, profile=self.profile)

    def _check(self, sign_in: SignIn | None) -> SignIn:
        settings = self.settings
        if sign_in is None or not sign_in.access_token:
            raise self._refuse("not signed in")
        if sign_in.url.rstrip("/") != settings.url.rstrip("/"):
            raise self._refuse(f"signed in at {sign_in.url}, but the config's url is {settings.url}")
        if settings.user_id and not same_id(settings.user_id, sign_in.user_id):
            raise self._refuse(
                f"signed in as user id {sign_in.user_id}, but the config's user_id is {settings.user_id}"
            )
        if settings.user and settings.user.strip().lower() != sign_in.user_name.strip().lower():
            raise self._refuse(f"signed in as {sign_in.user_name!r}, but the config's user is {settings.user!r}")
        return sign_in

    def _names(self, sign_in: SignIn, url: str) -> bool:
        """Whether an API-key sign-in was for the configured server and user (by name)."""
        same_user = self.settings.user.strip().lower() == sign_in.user_name.strip().lower()
        return sign_in.method == "api_key" and sign_in.url == url and same_user

    async def connect(self) -> MediaServerClient:
        """The signed-in client (the first call signs in); SignInError when the profile is not."""
        await self._ready()
        assert self.client is not None
        return self.client

    async def _ready(self) -> tuple[Reader, Writer]:
        if self._reader is not None and self._writer is not None:
            return self._reader, self._writer
        settings = self.settings
        sign_in = await anyio.to_thread.run_sync(load_sign_in, self.state, self.kind, self.profile)
        if settings.api_key:
            device = sign_in.device_id if sign_in is not None else new_device_id()
            client = MediaServerClient(self.kind, settings, self.profile, device_id=device, token=settings.api_key)
            self.client = client
            user_id = settings.user_id
            if not user_id and sign_in is not None and self._names(sign_in, client.url):
                user_id = sign_in.user_id  # the user the API-key sign-in looked up
            if not user_id:
                user_id = str((await find_user(client, settings.user, ""))["Id"])
            client.user_id = user_id
        else:
            signed = self._check(sign_in)
            self.client = MediaServerClient(
                self.kind,
                settings,
                self.profile,
                device_id=signed.device_id,
                token=signed.access_token,
                user_id=signed.user_id,
            )
        assert self.client is not None
        if not self.client.user_id:
            raise self._refuse(f"no user to act for ({wanted(settings) or 'none configured'})")
        library = Library(self.client, self.state, self.prefix, settings)
        self._reader = Reader(self.client, library)
        self._reader.plan(self._planned)
        self._writer = Writer(self.client, library, self.unresolved)
        return self._reader, self._writer

    def will_read(self, features: Sequence[Feature]) -> None:
        """The features this instance's run is about to read (they share one listing: ReadAhead)."""
        self._planned = frozenset(Feature(f) for f in features)
        if self._reader is not None:
            self._reader.plan(self._planned)

    async def read(self, feature: Feature) -> list[Item]:
        reader, _ = await self._ready()
        return await reader.read(Feature(feature))

    async def add(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        reader, writer = await self._ready()
        reader.forget()  # what was listed no longer holds once a write lands
        return await writer.write(Feature(feature), items, add=True)

    async def remove(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        reader, writer = await self._ready()
        reader.forget()
        return await writer.write(Feature(feature), items, add=False)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
