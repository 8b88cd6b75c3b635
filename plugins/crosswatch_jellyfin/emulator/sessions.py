"""Sessions: one per signed-in device (and per API key), what each plays, and ``SessionInfo``.

A sign-in opens its device's session; playback reports (``/Sessions/Playing*``) are booked
to the caller's session, as the servers book them to the token's user and device
(RequestHelpers.cs ``GetSession``). ``GET /Sessions`` lists them (an administrator or an
API key: all; a user: their own) with ``NowPlayingItem`` and ``PlayState``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from crosswatch_jellyfin.emulator.render import iso, item_dto
from crosswatch_jellyfin.emulator.users import Caller


@dataclass
class Session:
    id: str
    user_id: str | None
    user_name: str | None
    client: str
    device_name: str
    device_id: str
    version: str
    last_activity: float
    now_playing: int | None = None
    position: int = 0
    paused: bool = False
    play_session_id: str | None = None
    play_method: str = "DirectPlay"
    last_playback_check_in: float | None = None


class Sessions:
    """The open sessions of one server."""

    def __init__(self, emu: Any) -> None:
        self.emu = emu
        self.open: dict[tuple[str, str], Session] = {}

    def of(self, caller: Caller) -> Session:
        """The caller's session (made on first use)."""
        owner = caller.user.id if caller.user is not None else f"key:{caller.token}"
        device_id = caller.device_id or "unknown-device"
        session = self.open.get((owner, device_id))
        now = time.time()
        if session is None:
            user = caller.user
            session = Session(
                self.emu.library.new_id(),
                user.id if user else None,
                user.name if user else None,
                caller.client or "unknown",
                caller.device or "unknown",
                device_id,
                caller.version or "0",
                now,
            )
            self.open[(owner, device_id)] = session
        session.last_activity = now
        return session

    def visible(self, caller: Caller) -> list[Session]:
        sessions = list(self.open.values())
        if caller.admin:
            return sessions
        return [s for s in sessions if caller.user is not None and s.user_id == caller.user.id]

    def reset(self) -> None:
        for session in self.open.values():
            session.now_playing, session.position, session.paused = None, 0, False

    def dto(self, session: Session) -> dict[str, Any]:
        """``SessionInfo``."""
        emu = self.emu
        out: dict[str, Any] = {
            "PlayState": {
                "CanSeek": session.now_playing is not None,
                "IsPaused": session.paused,
                "IsMuted": False,
                "RepeatMode": "RepeatNone",
                "PlaybackOrder": "Default",
            },
            "AdditionalUsers": [],
            "Capabilities": {"PlayableMediaTypes": ["Video"], "SupportedCommands": [], "SupportsMediaControl": False},
            "RemoteEndPoint": "127.0.0.1",
            "PlayableMediaTypes": ["Video"],
            "Id": session.id,
            "ServerId": emu.server_id,
            "Client": session.client,
            "LastActivityDate": iso(session.last_activity),
            "DeviceName": session.device_name,
            "DeviceId": session.device_id,
            "ApplicationVersion": session.version,
            "IsActive": True,
            "SupportsMediaControl": False,
            "SupportsRemoteControl": False,
            "HasCustomDeviceName": False,
            "SupportedCommands": [],
        }
        if session.user_id is not None:
            out["UserId"] = session.user_id
            out["UserName"] = session.user_name
        if session.now_playing is not None:
            out["PlayState"] |= {"PositionTicks": session.position, "PlayMethod": session.play_method}
            if session.play_session_id:
                out["PlayState"]["PlaySessionId"] = session.play_session_id
            media = emu.library.media[session.now_playing]
            out["NowPlayingItem"] = item_dto(emu, media, None, frozenset({"providerids"}))
            out["LastPlaybackCheckIn"] = iso(session.last_playback_check_in)
        return out
