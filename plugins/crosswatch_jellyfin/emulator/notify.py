"""The websocket (``/socket`` by convention; Jellyfin takes an upgrade on any path, Emby's
clients use ``/embywebsocket``).

The token comes as for HTTP (``Authorization`` header, ``?ApiKey=``, or with legacy
authorization ``?api_key=``/``X-Emby-Token``); none or an unknown one is refused before the
handshake completes (HTTP 403). Every message is ``{"MessageType", "Data", "MessageId"}``:

- on connect ``ForceKeepAlive`` with ``Data`` = the ``keepalive_s`` knob (60); a client's
  ``KeepAlive`` is answered ``KeepAlive``;
- ``UserDataChanged`` ``{"UserId", "UserDataList": [UserItemDataDto with ItemId]}`` to the
  sockets of the user whose data changed, gathering the changes of ``userdata_debounce_ms``
  (500 ms) into one message, each changed item with its parent one level up (an episode's
  season, a season's series), as UserDataChangeNotifier.cs does; never for progress saves;
- ``SessionsStart`` (``Data`` ``"0,1500"``) from an administrator or an API key subscribes to
  ``Sessions`` (the ``GET /Sessions`` list) after every playback report; ``SessionsStop``
  ends it;
- Emby only: ``PlaybackStart``/``PlaybackStopped`` with the SessionInfo, to administrators
  and the playing user.

``websocket_drop=N`` closes each socket (code 1011) after N messages; ``POST
/_emulator/websocket/drop`` closes them all now.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.websockets import WebSocket, WebSocketDisconnect

from crosswatch.emulation.catalog import Episode, Media, Season
from crosswatch_jellyfin.emulator.render import user_data_dto
from crosswatch_jellyfin.emulator.users import Caller

_encode = msgspec.json.Encoder().encode
_CLOSE = ("close",)


@dataclass(eq=False)
class Subscriber:
    """One open socket: who it is and its queue of events."""

    caller: Caller
    send: MemoryObjectSendStream[Any]
    receive: MemoryObjectReceiveStream[Any]
    sessions: bool = False
    changed: dict[str, list[int]] = field(default_factory=dict)

    @property
    def user_id(self) -> str | None:
        return self.caller.user.id if self.caller.user is not None else None


class Hub:
    """Fan-out of events to the open sockets (all in the server's event loop)."""

    def __init__(self, emu: Any) -> None:
        self.emu = emu
        self.subscribers: set[Subscriber] = set()
        self.sent = 0
        self.lost = 0

    def _queue(self, sub: Subscriber, event: Any) -> None:
        try:
            sub.send.send_nowait(event)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.lost += 1

    def user_data_changed(self, user_id: str, indices: list[int], reason: str) -> None:
        """A user's data changed (the listener of :class:`.userdata.UserState`)."""
        if reason == "PlaybackProgress":
            return
        for sub in list(self.subscribers):
            if sub.user_id == user_id:
                self._queue(sub, ("userdata", user_id, list(indices)))

    def sessions_changed(self) -> None:
        """A ``Sessions`` message (the list as it is now) to each subscriber of ``SessionsStart``."""
        sessions = self.emu.sessions
        for sub in list(self.subscribers):
            if sub.sessions:
                self._queue(sub, ("message", "Sessions", [sessions.dto(s) for s in sessions.visible(sub.caller)]))

    def playback(self, kind: str, session: Any) -> None:
        """Emby's ``PlaybackStart``/``PlaybackStopped`` (Jellyfin has no such messages)."""
        if not self.emu.flavour.playback_messages:
            return
        data = self.emu.sessions.dto(session)
        for sub in list(self.subscribers):
            if sub.caller.admin or (session.user_id is not None and sub.user_id == session.user_id):
                self._queue(sub, ("message", kind, data))

    def drop_all(self) -> int:
        """Close every socket now; the number closed."""
        subs = list(self.subscribers)
        for sub in subs:
            try:
                sub.send.send_nowait(_CLOSE)
            except anyio.WouldBlock:
                sub.send.close()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                continue
        return len(subs)


def message(kind: str, data: Any) -> str:
    return _encode({"MessageType": kind, "Data": data, "MessageId": uuid.uuid4().hex}).decode()


def _user_data_list(emu: Any, user_id: str, indices: list[int]) -> list[dict[str, Any]]:
    """The changed items and each one's parent (one level up), each once, as UserItemDataDtos."""
    lib = emu.library
    seen: dict[int, None] = {}
    for i in indices:
        seen.setdefault(i, None)
        media = lib.media[i]
        parent: Media | None = None
        if isinstance(media, Episode):
            parent = media.show.season(media.season)
        elif isinstance(media, Season):
            parent = media.show
        if parent is not None:
            seen.setdefault(lib.index[parent], None)
    return [user_data_dto(emu, user_id, lib.media[i], live=True) for i in seen]


async def socket_endpoint(emu: Any, scope: Any, receive: Any, send: Any) -> None:
    """The websocket (see the module docstring)."""
    from crosswatch_jellyfin.emulator.gate import caller_of

    websocket = WebSocket(scope, receive, send)
    who = caller_of(emu, websocket.headers, websocket.query_params)
    if not who.signed_in:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    stream_send, stream_receive = anyio.create_memory_object_stream[Any](1000)
    sub = Subscriber(who, stream_send, stream_receive)
    hub: Hub = emu.hub
    hub.subscribers.add(sub)
    sent = 0

    async def say(kind: str, data: Any) -> bool:
        nonlocal sent
        await websocket.send_text(message(kind, data))
        sent += 1
        hub.sent += 1
        if sent >= (emu.settings.websocket_drop or math.inf):
            await websocket.close(code=1011)
            return False
        return True

    try:
        async with anyio.create_task_group() as tg:

            async def read_client() -> None:
                try:
                    while True:
                        text = await websocket.receive_text()
                        try:
                            incoming = msgspec.json.decode(text)
                        except msgspec.DecodeError:
                            continue
                        kind = incoming.get("MessageType") if isinstance(incoming, dict) else None
                        if kind == "KeepAlive":
                            stream_send.send_nowait(("message", "KeepAlive", None))
                        elif kind == "SessionsStart" and who.admin:
                            sub.sessions = True
                            stream_send.send_nowait(("sessions",))
                        elif kind == "SessionsStop":
                            sub.sessions = False
                except (WebSocketDisconnect, RuntimeError, anyio.WouldBlock):
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(read_client)
            if not await say("ForceKeepAlive", emu.settings.keepalive_s):
                tg.cancel_scope.cancel()
            async for event in stream_receive:
                if event is _CLOSE or not await _deliver(emu, sub, event, stream_receive, say):
                    with anyio.CancelScope(shield=True):
                        with contextlib.suppress(RuntimeError):  # already closed by websocket_drop
                            await websocket.close(code=1011)
                    break
            tg.cancel_scope.cancel()
    except (WebSocketDisconnect, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    finally:
        hub.subscribers.discard(sub)
        stream_send.close()
        stream_receive.close()


async def _deliver(emu: Any, sub: Subscriber, event: Any, queue: Any, say: Any) -> bool:
    """Send one event; False to stop. A user-data change waits for more until the debounce
    window passes without one (the server's timer restarts on every save), sending other
    events meanwhile, then goes out as one ``UserDataChanged`` per user."""
    if event[0] == "message":
        return await say(event[1], event[2])
    if event[0] == "sessions":
        visible = emu.sessions.visible(sub.caller)
        return await say("Sessions", [emu.sessions.dto(s) for s in visible])
    changed: dict[str, list[int]] = {event[1]: list(event[2])}
    going = True
    while going:
        more = None
        with anyio.move_on_after(emu.settings.userdata_debounce_ms / 1000):
            try:
                more = await queue.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                more, going = _CLOSE, False
        if more is None:
            break
        if more is _CLOSE:
            going = False
        elif more[0] == "userdata":
            changed.setdefault(more[1], []).extend(more[2])
        elif not await _deliver(emu, sub, more, queue, say):
            return False
    for user_id, indices in changed.items():
        data = {"UserId": user_id, "UserDataList": _user_data_list(emu, user_id, indices)}
        if not await say("UserDataChanged", data):
            return False
    return going
