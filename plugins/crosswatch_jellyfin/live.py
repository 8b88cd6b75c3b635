"""Live scrobbling from Jellyfin and Emby: the websocket listener, and the hooks that wire it and
the webhook (:mod:`.webhook`) into the daemon.

A daemon service keeps, while ``scrobble.watcher.enabled`` (plays) or ``scrobble.watcher.ratings``
is set, one websocket per ``[jellyfin]``/``[emby]`` profile in the config (Jellyfin's ``/socket``,
Emby's ``/embywebsocket``), signed in as the profile (``crosswatch auth``, or its API key), and
reconnects with backoff when the server goes away:

- it answers ``ForceKeepAlive`` with ``KeepAlive`` every half period;
- it subscribes to ``Sessions`` (``SessionsStart`` ``"0,1500"``) and turns each list into plays
  (:mod:`.sessions`); Emby's ``PlaybackStart``/``PlaybackStopped``/``SessionEnded`` too. The
  servers send ``Sessions`` to administrators and API keys only: for another user the
  listener asks ``GET /Sessions`` (their own sessions) every ``POLL_S`` seconds instead;
- ``UserDataChanged`` of the profile's user with a changed rating becomes ``RatingObserved``
  (the ratings are read once when the listener starts, to tell a change from a message
  about a play or a favourite). The servers send it to the user's own sockets: an API-key
  sign-in gets none.

Each play carries the session's user name and ``owner`` (whether it is the profile's user),
for the router's ``scrobble.users`` rule. Events go to the bus without waiting; a message
that is not what the servers send is counted and skipped. One log line per play state change
(``jellyfin.play``, ``emby.play``), per connect and per disconnect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import msgspec
import structlog
from httpx_ws import HTTPXWSException, aconnect_ws

from crosswatch.config import Config
from crosswatch.events import PlaybackObserved, RatingObserved
from crosswatch.http import HttpError, SignInError
from crosswatch.model import title_key
from crosswatch.services import ServiceContext
from crosswatch_jellyfin.config import MediaServerSettings
from crosswatch_jellyfin.link import LINKS, Link, norm_id, rating_of
from crosswatch_jellyfin.servers import EMBY, JELLYFIN, ServerKind
from crosswatch_jellyfin.sessions import SessionTracker

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from crosswatch.bus import BusView

log = structlog.get_logger("crosswatch.jellyfin")

#: where each server takes its websocket (Jellyfin takes it on any path; Emby's clients use this one)
KINDS = (JELLYFIN, EMBY)
SESSIONS_START = "0,1500"  # first list at once, then at most every 1.5 s
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
SIGNED_OUT_RETRY_S = 60.0
RECHECK_S = 5.0  # how often the service looks at the config for profiles and switches
POLL_S = 10.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # a Sessions list of a busy server is large
EXPECTED = (httpx.HTTPError, HttpError, HTTPXWSException, OSError, anyio.BrokenResourceError, anyio.EndOfStream)


def _expected(exc: BaseException) -> bool:
    """A server going away (httpx-ws raises it inside an exception group)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_expected(e) for e in exc.exceptions)
    return isinstance(exc, EXPECTED)


def _leaf(exc: BaseException) -> BaseException:
    """The first exception in a group (the group's own message says nothing)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _sign_in_error(exc: BaseException) -> SignInError | None:
    if isinstance(exc, BaseExceptionGroup):
        return next((found for e in exc.exceptions if (found := _sign_in_error(e)) is not None), None)
    return exc if isinstance(exc, SignInError) else None


# -- what the daemon gives the plugin (its hooks call these) -------------------------------------


@dataclass
class _Live:
    config: Config | None = None
    bus: BusView | None = None
    webhook: Any = None


LIVE = _Live()


def configure(config: Config) -> None:
    """``crosswatch_configure``: the config in force (the webhook reads it)."""
    LIVE.config = config


def subscribe(bus: BusView) -> None:
    """``crosswatch_subscribe``: the bus the webhook emits on."""
    LIVE.bus = bus


def services(ctx: ServiceContext) -> list[Callable[[ServiceContext], Awaitable[None]]]:
    """``crosswatch_services``: the websocket listeners."""
    return [watch]


def routes() -> list[BaseRoute]:
    """``crosswatch_web_routes``: ``POST /webhook/jellyfin/<secret>``."""
    from starlette.routing import Route

    return [Route("/webhook/jellyfin/{secret}", _webhook, methods=["POST"])]


async def _webhook(request: Request) -> Response:
    if LIVE.webhook is None:
        from crosswatch_jellyfin.webhook import Webhook

        LIVE.webhook = Webhook()
    LIVE.webhook.config, LIVE.webhook.bus = LIVE.config, LIVE.bus
    response: Response = await LIVE.webhook.receive(request)
    return response


# -- the service ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    """What a profile's listener does under the config in force."""

    socket: bool  # listen on the websocket (plays, or ratings, or both)
    plays: bool
    ratings: bool  # forward rating changes from the websocket
    read_ratings: bool  # know the ratings (for the websocket's or the webhook's rating changes)


def mode(config: Config) -> Mode:
    scrobble = config.scrobble
    watcher = scrobble.watcher
    return Mode(
        socket=watcher.enabled or watcher.ratings,
        plays=watcher.enabled,
        ratings=watcher.ratings,
        read_ratings=watcher.ratings or scrobble.webhook.ratings,
    )


def profiles(config: Config) -> dict[tuple[str, str], tuple[ServerKind, MediaServerSettings]]:
    """Every profile of the ``[jellyfin]`` and ``[emby]`` sections the config names."""
    out: dict[tuple[str, str], tuple[ServerKind, MediaServerSettings]] = {}
    for kind in KINDS:
        section = config.sections.get(kind.section)
        if section is None or kind.section not in config.raw:
            continue  # not configured: the section's defaults name no server
        for name, settings in section.profiles.items():
            out[(kind.section, name)] = (kind, settings)
    return out


async def watch(ctx: ServiceContext) -> None:
    """The service: one listener per profile while the config asks for one; follows config reloads."""
    running: dict[tuple[str, str], tuple[Any, anyio.CancelScope]] = {}
    try:
        async with anyio.create_task_group() as tg:
            while True:
                config = ctx.config
                now = mode(config)
                wanted = profiles(config) if now.socket or now.read_ratings else {}
                for key, (was, scope) in list(running.items()):
                    if key not in wanted or was != (wanted[key][1], now):
                        scope.cancel()
                        del running[key]
                for key, (kind, settings) in wanted.items():
                    if key not in running:
                        scope = anyio.CancelScope()
                        running[key] = ((settings, now), scope)
                        link = LINKS.get(kind, key[1], settings, ctx.state)
                        tg.start_soon(_scoped, Listener(ctx, link, now).run, scope)
                await anyio.sleep(RECHECK_S)
    finally:
        with anyio.CancelScope(shield=True):
            await LINKS.aclose()


watch.__name__ = "jellyfin_watcher"


async def _scoped(run: Callable[[], Awaitable[None]], scope: anyio.CancelScope) -> None:
    with scope:
        await run()


@dataclass
class Sender:
    """Messages to the server, one at a time (the keep-alive task and the listener share the socket)."""

    ws: Any
    lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def __call__(self, kind: str, data: Any = None) -> None:
        message: dict[str, Any] = {"MessageType": kind}
        if data is not None:
            message["Data"] = data
        async with self.lock:
            await self.ws.send_text(msgspec.json.encode(message).decode())


class Listener:
    """One profile's websocket and what it observes (see the module docstring)."""

    def __init__(self, ctx: ServiceContext, link: Link, mode: Mode) -> None:
        self.ctx = ctx
        self.link = link
        self.mode = mode
        self.kind = link.kind
        self.tracker = SessionTracker(link)
        self.frames = 0
        self.garbage = 0
        self.connects = 0
        self.keepalive_s: float | None = None
        self._keepalive_due: anyio.Event | None = None
        self._tracking = anyio.Lock()
        self._said = ""  # the last sign-in complaint logged (said once, not every minute)

    @property
    def section(self) -> str:
        return self.kind.section

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff; nothing it meets ends it."""
        failures = 0
        while True:
            frames = self.frames
            try:
                if self.mode.read_ratings:
                    await self.link.load_ratings()
                if not self.mode.socket:
                    await anyio.sleep_forever()  # only the webhook's ratings need this profile
                await self._connect()
                failures = 0
            except Exception as exc:
                refused = _sign_in_error(exc)
                if refused is not None:
                    await self._signed_out(refused)
                    continue
                if self.frames - frames > 1:  # it worked for a while: start the backoff afresh
                    failures = 0
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                if _expected(exc):
                    log.warning(
                        f"{self.section}.watcher_disconnected",
                        profile=self.link.profile,
                        error=str(_leaf(exc)) or repr(_leaf(exc)),
                        retry_in_s=delay,
                    )
                else:  # a fault of ours: said loudly, and the listener goes on
                    log.error(
                        f"{self.section}.watcher_failed",
                        profile=self.link.profile,
                        error=repr(_leaf(exc)),
                        retry_in_s=delay,
                    )
                await anyio.sleep(delay)

    async def _signed_out(self, exc: SignInError) -> None:
        message = str(exc)
        if message != self._said:
            self._said = message
            log.warning(
                f"{self.section}.watcher_signed_out",
                profile=self.link.profile,
                error=message,
                retry_in_s=SIGNED_OUT_RETRY_S,
            )
        await self.link.reset()
        await anyio.sleep(SIGNED_OUT_RETRY_S)

    def _socket_request(self, token: str, device_id: str) -> tuple[str, dict[str, str]]:
        root = self.link.settings.url.rstrip("/")
        base = self.kind.base_path
        if base and root.lower().endswith(base):
            root = root[: -len(base)]  # Emby's socket is beside its API's base path, not under it
        url = root + self.kind.websocket_path
        params = {"deviceId": device_id}
        if not self.kind.token_in_authorization:
            params["api_key"] = token  # Emby's clients name the token in the socket's URL
        return url, params

    async def _connect(self) -> None:
        client = await self.link.client()
        admin = await self.link.admin() if self.mode.plays else True
        url, params = self._socket_request(client.token, client.device_id)
        ws: Any
        async with aconnect_ws(
            url, client.http, params=params, headers=client.headers(), max_message_size_bytes=MAX_MESSAGE_BYTES
        ) as ws:
            self.connects += 1
            self._said = ""
            log.info(
                f"{self.section}.watcher_connected",
                profile=self.link.profile,
                url=url,
                connects=self.connects,
                plays=self.mode.plays,
                ratings=self.mode.ratings,
                sessions="pushed" if admin else f"polled every {POLL_S:g}s",
            )
            if self.mode.ratings and self.link.settings.api_key and self.connects == 1:
                log.warning(
                    f"{self.section}.watcher_no_ratings",
                    profile=self.link.profile,
                    hint="the server sends rating changes to the user's own sign-ins, not to an API key: "
                    f"sign in with `crosswatch auth {self.section}` (and no api_key) for them",
                )
            send = Sender(ws)
            async with anyio.create_task_group() as tg:
                self._keepalive_due = anyio.Event()
                tg.start_soon(self._keepalive, send)
                if self.mode.plays:
                    await send("SessionsStart", SESSIONS_START)
                    if not admin:
                        tg.start_soon(self._poll)
                while True:
                    text = await ws.receive_text()
                    self.frames += 1
                    await self.handle(text, send)

    async def _keepalive(self, send: Sender) -> None:
        assert self._keepalive_due is not None
        await self._keepalive_due.wait()
        while True:
            await anyio.sleep(max(1.0, (self.keepalive_s or 60.0) / 2))
            await send("KeepAlive")

    async def _poll(self) -> None:
        client = await self.link.client()
        while True:
            rows = await client.get("/Sessions")
            async with self._tracking:
                self._emit_plays(await self.tracker.update(rows, complete=True))
            await anyio.sleep(POLL_S)

    # -- messages -------------------------------------------------------------------------------

    async def handle(self, text: str, send: Sender) -> None:
        """One websocket message."""
        try:
            message = msgspec.json.decode(text)
            kind = message["MessageType"]
            data = message.get("Data")
            if not isinstance(kind, str):
                raise TypeError("MessageType is not text")
        except (msgspec.DecodeError, KeyError, TypeError, AttributeError, RecursionError):
            self.garbage += 1
            log.debug(f"{self.section}.watcher_garbage", profile=self.link.profile, message=text[:200])
            return
        if kind == "ForceKeepAlive":
            period = data if isinstance(data, (int, float)) and not isinstance(data, bool) and data > 0 else 60
            self.keepalive_s = float(period)
            await send("KeepAlive")
            if self._keepalive_due is not None:
                self._keepalive_due.set()
        elif kind == "Sessions" and self.mode.plays:
            async with self._tracking:
                self._emit_plays(await self.tracker.update(data, complete=True))
        elif kind == "PlaybackStart" and self.mode.plays:
            async with self._tracking:
                self._emit_plays(await self.tracker.update([data], complete=False))
        elif kind in ("PlaybackStopped", "SessionEnded") and self.mode.plays:
            async with self._tracking:
                self._emit_plays(await self.tracker.ended(data))
        elif kind == "UserDataChanged" and self.mode.ratings:
            await self._user_data(data)

    def _emit_plays(self, events: list[PlaybackObserved]) -> None:
        for event in events:
            self.ctx.bus.emit(event)
            log.info(
                f"{self.section}.play",
                profile=event.profile,
                state=event.state,
                item=title_key(event.item),
                progress=event.progress,
                user=event.user,
                owner=event.owner,
                session=event.session,
            )

    async def _user_data(self, data: Any) -> None:
        rows = data.get("UserDataList") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            self.garbage += 1
            return
        if self.link.owns(data.get("UserId")) is not True:
            return  # another user's data (the servers send a user's changes to their own sockets)
        for row in rows:
            item_id = row.get("ItemId") if isinstance(row, dict) else None
            if not isinstance(item_id, str) or not norm_id(item_id).strip("0"):
                continue  # Jellyfin 10.10 lists send zeros; its websocket names the item
            rating = rating_of(row)
            if not self.link.rating_changed(item_id, rating):
                continue
            try:
                item = await self.link.item(item_id)
            except SignInError:
                raise
            except HttpError as exc:
                log.info(f"{self.section}.item_unread", profile=self.link.profile, item=item_id, error=str(exc))
                continue
            if item is None:
                continue
            # the signed-in user's own rating: the owner's (it carries no user name, as Plex's)
            self.ctx.bus.emit(RatingObserved(self.kind.provider, self.link.profile, item, rating, owner=True))
            log.info(f"{self.section}.rating", profile=self.link.profile, item=title_key(item), rating=rating)
