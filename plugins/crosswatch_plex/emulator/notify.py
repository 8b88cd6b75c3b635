"""The notification websocket (``/:/websockets/notifications``, also ``/:/websocket/notifications``).

Connect with ``?X-Plex-Token=...`` (or the header); a missing or unknown token is refused
before the handshake completes (HTTP 403). ``filters=playing,timeline`` keeps only those
types (``-log`` style exclusions are accepted too). Each frame is one JSON text message
shaped like ``fixtures/plex-websocket``, wrapped as PMS sends it::

    {"NotificationContainer": {"type": "playing", "size": 1, "PlaySessionStateNotification": [
        {"sessionKey": "7", "clientIdentifier": "...", "guid": "", "ratingKey": "1234", "url": "",
         "key": "/library/metadata/1234", "viewOffset": 61000, "playQueueItemID": 41,
         "playQueueID": 12, "state": "playing"}]}}
    {"NotificationContainer": {"type": "timeline", "size": 1, "TimelineEntry": [
        {"identifier": "com.plexapp.plugins.library", "sectionID": "1", "itemID": "1234",
         "type": 1, "title": "...", "state": 5, "updatedAt": 1767225600}]}}
    {"NotificationContainer": {"type": "activity", "size": 1, "ActivityNotification": [
        {"event": "started"|"ended", "uuid": "...", "Activity": {"uuid": "...",
         "type": "library.refresh.items", "cancellable": false, "userID": 1, "title": "Refreshing",
         "subtitle": "...", "progress": 0|100, "Context": {"key": "/library/metadata/1234"}}}]}}

What sends them: a play (``/:/timeline`` reports and ``POST /_emulator/play``) sends
``playing`` frames; a rating (``/:/rate``, ``POST /_emulator/rate``) sends a ``timeline``
entry and an activity pair; scrobble and unscrobble send a ``timeline`` entry.
``websocket_drop=N`` closes each socket (code 1011) after N frames; ``POST
/_emulator/websocket/drop`` closes them all now.
"""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.websockets import WebSocket, WebSocketDisconnect

_encode = msgspec.json.Encoder().encode
_CLOSE = object()


def frame(kind: str, name: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"NotificationContainer": {"type": kind, "size": len(entries), name: entries}}


class Subscriber:
    """One open socket's queue of frames."""

    def __init__(self, filters: str | None) -> None:
        self.send: MemoryObjectSendStream[Any]
        self.receive: MemoryObjectReceiveStream[Any]
        self.send, self.receive = anyio.create_memory_object_stream(1000)
        self.only: set[str] = set()
        self.skip: set[str] = set()
        for part in (filters or "").split(","):
            part = part.strip()
            if part.startswith("-"):
                self.skip.add(part[1:])
            elif part:
                self.only.add(part)

    def wants(self, kind: str) -> bool:
        return kind not in self.skip and (not self.only or kind in self.only)


class Hub:
    """Fan-out of frames to the open sockets (all in the server's event loop)."""

    def __init__(self, seed: int = 1) -> None:
        self.subscribers: set[Subscriber] = set()
        self.sent = 0
        self.lost = 0
        self._rng = random.Random(f"crosswatch-plex-activities:{seed}")

    def new_uuid(self) -> str:
        """A seeded activity uuid."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def publish(self, message: dict[str, Any]) -> int:
        """Queue a frame for every socket that wants its type; the number of sockets."""
        kind = message["NotificationContainer"]["type"]
        count = 0
        for sub in list(self.subscribers):
            if not sub.wants(kind):
                continue
            try:
                sub.send.send_nowait(message)
                count += 1
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.lost += 1
        return count

    def drop_all(self) -> int:
        """Close every socket now; the number closed."""
        subs = list(self.subscribers)
        for sub in subs:
            try:
                sub.send.send_nowait(_CLOSE)
            except anyio.WouldBlock:
                sub.send.close()  # a full queue: ending the stream closes the socket too
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                continue
        return len(subs)


def playing(session: Any) -> dict[str, Any]:
    """A ``playing`` frame of a play session (:class:`.playback.Session`)."""
    return frame(
        "playing",
        "PlaySessionStateNotification",
        [
            {
                "sessionKey": str(session.key),
                "clientIdentifier": session.client_id,
                "guid": "",
                "ratingKey": str(session.rk),
                "url": "",
                "key": f"/library/metadata/{session.rk}",
                "viewOffset": session.view_offset,
                "playQueueItemID": session.play_queue_item_id,
                "playQueueID": session.play_queue_id,
                "state": session.state,
            }
        ],
    )


def timeline(section_id: int, rk: int, type_number: int, title: str, updated_at: int, state: int = 5) -> dict:
    """A ``timeline`` frame: an item changed (state 5: done)."""
    entry = {
        "identifier": "com.plexapp.plugins.library",
        "sectionID": str(section_id),
        "itemID": str(rk),
        "type": type_number,
        "title": title,
        "state": state,
        "updatedAt": updated_at,
    }
    return frame("timeline", "TimelineEntry", [entry])


def activity_pair(rk: int, user_id: int, ident: str) -> list[dict[str, Any]]:
    """``started`` and ``ended`` frames of a ``library.refresh.items`` activity (uuid ``ident``) on one item."""
    out = []
    for event, progress, subtitle in (("started", 0, ""), ("ended", 100, "Refreshing media analysis")):
        act = {
            "uuid": ident,
            "type": "library.refresh.items",
            "cancellable": False,
            "userID": user_id,
            "title": "Refreshing",
            "subtitle": subtitle,
            "progress": progress,
            "Context": {"key": f"/library/metadata/{rk}"},
        }
        out.append(frame("activity", "ActivityNotification", [{"event": event, "uuid": ident, "Activity": act}]))
    return out


async def notifications(websocket: WebSocket) -> None:
    """The websocket endpoint (see the module docstring)."""
    emu = websocket.app.state.emulator
    token = websocket.query_params.get("X-Plex-Token") or websocket.headers.get("x-plex-token")
    if emu.auth.account_of(token) is None:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    sub = Subscriber(websocket.query_params.get("filters") or websocket.query_params.get("filter"))
    hub: Hub = emu.hub
    hub.subscribers.add(sub)
    try:
        async with anyio.create_task_group() as tg:

            async def watch_client() -> None:
                try:
                    while True:
                        message = await websocket.receive()
                        if message["type"] == "websocket.disconnect":
                            break
                except (WebSocketDisconnect, RuntimeError):
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(watch_client)
            sent = 0
            async for message in sub.receive:
                if message is _CLOSE:
                    await websocket.close(code=1011)
                    break
                await websocket.send_text(_encode(message).decode())
                sent += 1
                hub.sent += 1
                limit = emu.settings.websocket_drop or math.inf
                if sent >= limit:
                    await websocket.close(code=1011)
                    break
            tg.cancel_scope.cancel()
    except (WebSocketDisconnect, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    finally:
        hub.subscribers.discard(sub)
        sub.send.close()
        sub.receive.close()
