"""Sessions as the servers list them, turned into plays that start, pause, resume and stop.

A ``SessionInfo`` (``GET /Sessions``, the websocket's ``Sessions``, Emby's ``PlaybackStart``
and ``PlaybackStopped``) names what a client plays now (``NowPlayingItem``, with its
``ProviderIds`` and ``RunTimeTicks``) and how far (``PlayState.PositionTicks``, ``IsPaused``).
:class:`SessionTracker` keeps the last state of each session and says what changed:

- a session plays an item it did not play before: ``playing`` (``paused`` if it starts paused);
- the same item paused or resumed: ``paused`` / ``playing``; a position moving on is no change
  (the router would send nothing for it);
- a session plays nothing any more, plays another item, or is gone from the list: ``stopped``
  for what it played. The servers drop the position with the item, so the stop's percent is
  the user's data on the item as the server saved it at the stop: the resume position, or
  100 % when the server counts the play as finished; else the last position seen.

A play's ``session`` is the client's device id and the item id, which the webhook's payloads
name too: the router sends one scrobble whichever of the two reports a state first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from crosswatch.events import PlaybackObserved
from crosswatch.http import HttpError, SignInError
from crosswatch.model import Item
from crosswatch_jellyfin.link import PLAYABLE, Link, norm_id

log = structlog.get_logger("crosswatch.jellyfin")
PLAYING, PAUSED, STOPPED = "playing", "paused", "stopped"
#: the stop of a play the server counts as played to completion
FINISHED = 100.0


def percent(ticks: Any, runtime: int | None) -> float:
    """A position in ticks as a percent of the runtime (0 when either is unknown)."""
    if not isinstance(ticks, int) or isinstance(ticks, bool) or ticks <= 0 or not runtime:
        return 0.0
    return round(min(100.0, ticks / runtime * 100), 2)


def session_key(device: str, item_id: str) -> str:
    """One client playing one item, as both the websocket and the webhook name it."""
    return f"{device}:{norm_id(item_id)}"


@dataclass
class Play:
    """What one session plays, as last seen."""

    session: str  # the server's session id
    device: str
    item_id: str
    item: Item
    state: str
    progress: float
    user: str
    user_id: str
    runtime: int | None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class SessionTracker:
    """The sessions of one profile's server and the plays in them (see the module docstring)."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.plays: dict[str, Play] = {}
        self.unknown = 0  # sessions or items that were not what the servers send

    async def update(self, rows: Any, *, complete: bool) -> list[PlaybackObserved]:
        """Sessions as listed now; ``complete``: the whole list, so a session not in it has ended."""
        if not isinstance(rows, list):
            self.unknown += 1
            return []
        out: list[PlaybackObserved] = []
        seen: set[str] = set()
        for row in rows:
            sid = _text(row.get("Id")) if isinstance(row, dict) else ""
            if not sid:
                self.unknown += 1
                continue
            seen.add(sid)
            try:
                out += await self._session(sid, row)
            except SignInError:
                raise
            except HttpError as exc:  # the item could not be looked up: tried again with the next list
                log.info(f"{self.link.kind.section}.item_unread", profile=self.link.profile, error=str(exc))
        if complete:
            for sid in [s for s in self.plays if s not in seen]:
                out += await self._stop(self.plays.pop(sid))
        return out

    async def ended(self, row: Any) -> list[PlaybackObserved]:
        """A session stopped playing (Emby's ``PlaybackStopped``, ``SessionEnded``)."""
        sid = _text(row.get("Id")) if isinstance(row, dict) else ""
        if not sid:
            self.unknown += 1
            return []
        out: list[PlaybackObserved] = []
        if sid not in self.plays:  # its start was missed: what it played is in the message
            try:
                out += await self._session(sid, row)
            except SignInError:
                raise
            except HttpError:
                return out
        play = self.plays.pop(sid, None)
        return out + (await self._stop(play) if play is not None else [])

    async def _session(self, sid: str, row: dict[str, Any]) -> list[PlaybackObserved]:
        now = row.get("NowPlayingItem")
        before = self.plays.get(sid)
        item_id = _text(now.get("Id")) if isinstance(now, dict) else ""
        out: list[PlaybackObserved] = []
        if before is not None and (not item_id or norm_id(item_id) != norm_id(before.item_id)):
            del self.plays[sid]
            out += await self._stop(before)
            before = None
        if not item_id:
            return out
        item = await self.link.item(item_id, now)
        if item is None or item.type not in PLAYABLE:
            return out  # music, a trailer, live TV: not crosswatch's
        state_row = row.get("PlayState")
        play_state: dict[str, Any] = state_row if isinstance(state_row, dict) else {}
        runtime = now.get("RunTimeTicks") if isinstance(now, dict) else None
        if not isinstance(runtime, int) or runtime <= 0:
            runtime = item.duration_ms * 10_000 if item.duration_ms else None
        state = PAUSED if play_state.get("IsPaused") is True else PLAYING
        progress = percent(play_state.get("PositionTicks"), runtime)
        play = Play(
            sid,
            _text(row.get("DeviceId")) or sid,
            item_id,
            item,
            state,
            progress,
            _text(row.get("UserName")),
            _text(row.get("UserId")),
            runtime,
        )
        self.plays[sid] = play
        if before is None or before.state != state:
            out.append(self._event(play, state, progress))
        return out

    async def _stop(self, play: Play) -> list[PlaybackObserved]:
        progress = play.progress
        data = await self.link.user_data(play.user_id, play.item_id)
        if data is not None:
            saved = percent(data.get("PlaybackPositionTicks"), play.runtime)
            if saved:
                progress = saved  # stopped part-way: the server kept where
            elif data.get("Played") is True:
                progress = FINISHED  # the server reset the position: played to the end
        return [self._event(play, STOPPED, progress)]

    def _event(self, play: Play, state: str, progress: float) -> PlaybackObserved:
        link = self.link
        return PlaybackObserved(
            link.kind.provider,
            link.profile,
            state,
            play.item,
            progress,
            source="watcher",
            user=play.user,
            session=session_key(play.device, play.item_id),
            owner=link.owns(play.user_id),
        )
