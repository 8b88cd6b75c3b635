"""Play sessions: what ``/:/timeline`` reports (and ``POST /_emulator/play``) do to the state.

A session is one client (``X-Plex-Client-Identifier``) playing one item for one account.
Each report:

1. sets the resume position (``viewOffset`` = ``time``) of the account's item;
2. once ``time`` reaches ``watched_threshold`` (90 %) of the duration, counts one play (viewCount
   + 1, lastViewedAt and a history row at now, resume position cleared), once per session;
3. sends a ``playing`` websocket frame with the state (``playing``, ``paused``, ``stopped``);
4. ``stopped`` ends the session (``/status/sessions`` lists the open ones).

``/:/progress`` (:func:`progress`) is the older, session-less call: it sets the position,
and a ``stopped`` report past the threshold counts a play; it sends no frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from crosswatch.emulation.catalog import Media
from crosswatch_plex.emulator import notify

STATES = ("playing", "paused", "stopped", "buffering")


@dataclass
class Session:
    key: int
    rk: int
    account: int
    client_id: str
    state: str
    view_offset: int
    duration: int
    play_queue_id: int
    play_queue_item_id: int
    product: str = "Plex Web"
    platform: str = "Chrome"
    scrobbled: bool = False
    started: float = 0.0


class Playback:
    """Open sessions of one emulator."""

    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.sessions: dict[tuple[str, int], Session] = {}
        self.next_key = 1
        self.next_queue = 1

    def report(
        self,
        account: int,
        media: Media,
        state: str,
        time_ms: int,
        duration_ms: int | None,
        client_id: str,
        *,
        product: str | None = None,
        platform: str | None = None,
    ) -> Session:
        """Apply one timeline report (see the module docstring); the session it belongs to."""
        emu = self.emu
        rk = emu.library.rk(media)
        duration = duration_ms or emu.library.duration_ms(media) or 0
        slot = (client_id, rk)
        session = self.sessions.get(slot)
        before = session.state if session is not None and session.account == account else None
        if session is None or session.account != account:
            session = Session(
                self.next_key, rk, account, client_id, state, 0, duration, self.next_queue, self.next_queue * 10 + 1
            )
            session.started = time.time()
            self.next_key += 1
            self.next_queue += 1
            self.sessions[slot] = session
        session.state, session.view_offset, session.duration = state, max(0, int(time_ms)), duration
        if product:
            session.product = product
        if platform:
            session.platform = platform
        counted = False
        if not session.scrobbled:
            if duration and session.view_offset >= emu.settings.watched_threshold * duration:
                emu.state.play(account, media, int(time.time()))
                session.scrobbled = counted = True
            else:
                emu.state.set_offset(account, media, session.view_offset)
        emu.hub.publish(notify.playing(session))
        event = _webhook_event(before, state)
        if event:
            emu.webhooks.send(event, account, media, view_offset=session.view_offset, player=session)
        if counted:
            emu.webhooks.send("media.scrobble", account, media, view_offset=session.view_offset, player=session)
        if state == "stopped":
            self.sessions.pop(slot, None)
        return session

    def open_sessions(self) -> list[Session]:
        return list(self.sessions.values())


def _webhook_event(before: str | None, state: str) -> str:
    """The webhook a state change sends: play, resume, pause, stop ("" for none)."""
    if state == "stopped":
        return "media.stop"
    if state == "paused":
        return "media.pause" if before != "paused" else ""
    if state == "playing":
        if before is None:
            return "media.play"
        return "media.resume" if before == "paused" else ""
    return ""


def progress(emu: Any, account: int, media: Media, time_ms: int, state: str) -> bool:
    """``/:/progress``: set the position; a stop past the threshold is a play (True then)."""
    duration = emu.library.duration_ms(media) or 0
    if state == "stopped" and duration and time_ms >= emu.settings.watched_threshold * duration:
        emu.state.play(account, media, int(time.time()))
        return True
    emu.state.set_offset(account, media, max(0, int(time_ms)))
    return False
