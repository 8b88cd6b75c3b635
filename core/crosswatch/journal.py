"""The write-ahead journal of plays crosswatch writes to a provider that dates them "now".

Plex records a play crosswatch writes at the moment it is written, so nothing on Plex tells
that play from one a person made. Before such a write is sent (a sync, a restore), each play is
recorded here — ``.cw_state/<provider>_history.journal.json``, one file per provider profile,
written atomically and fsynced — so that a process killed during the write, a SIGTERM, or a
lost or damaged pair baseline can never turn crosswatch's own writes into "new" plays that a
sync sends on to the other side. The planner hides a play of a recorded title dated within
:data:`ECHO_WINDOW_S` after the record (an *echo*).

Records stay while their play can still be read back: one older than the window that matches
no play on the provider any more (the write never landed, or the play was deleted) is dropped
when a full read of the provider shows it (:func:`prune`). The journal is not a cache: the
README never tells people to delete it, and nothing else is kept in it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import msgspec
import structlog

from crosswatch.crashpoints import crash_point
from crosswatch.model import Feature, Item, epoch_seconds
from crosswatch.profiles import Profile
from crosswatch.provider import file_prefix
from crosswatch.state import StateDir
from crosswatch.sync.match import TitleIndex

log = structlog.get_logger("crosswatch.journal")
VERSION = 1
#: a play read back this long after crosswatch wrote it is taken for its echo
ECHO_WINDOW_S = 3600
#: Plex keeps whole seconds and the record's time is taken just before the write: allow this early
EARLY_S = 2


class Echo(msgspec.Struct, kw_only=True, gc=False):
    """A play crosswatch wrote to ``side``, which records it at the time it was written."""

    side: str  # profile name (PLEX, PLEX.kids)
    item: Item
    at: float  # epoch seconds, taken just before the write was sent


class JournalFile(msgspec.Struct, kw_only=True):
    version: int = VERSION
    echoes: list[Echo] = []


def file_name(profile: Profile, feature: Feature = Feature.HISTORY) -> str:
    return f"{file_prefix(profile.provider, profile.profile)}_{feature.value}.journal.json"


def records_now(profile: Profile, feature: Feature) -> bool:
    """Whether ``profile`` dates a written ``feature`` entry "now" (its writes need the journal)."""
    support = profile.support(feature)
    return feature == Feature.HISTORY and support is not None and support.writes_now


def load(state: StateDir, profile: Profile) -> list[Echo]:
    """The recorded writes to ``profile`` (a damaged journal is moved aside, reported, and read as empty)."""
    found = state.read_json_or_default(
        file_name(profile),
        JournalFile(),
        type=JournalFile,
        instead="the plays crosswatch wrote there are now known only from the pairs' baselines",
    )
    return list(found.echoes)


def record(state: StateDir, profile: Profile, items: Iterable[Item], at: float | None = None) -> float:
    """Durably record that ``items`` are about to be written to ``profile``; returns the time used.

    Call it *before* the write is sent: a crash after this leaves a record of a write that may
    not have landed (harmless), never a landed write without a record.
    """
    at = time.time() if at is None else at
    new = [Echo(side=profile.name, item=_bare(i), at=at) for i in items]
    if not new:
        return at
    name = file_name(profile)
    crash_point("journal.record.before", name)
    with state.lock(name):
        current = load(state, profile)
        state.write_json(name, JournalFile(echoes=current + new), pretty=False)
    crash_point("journal.record.after", name)
    return at


def prune(state: StateDir, profile: Profile, read: list[Item], now: float | None = None) -> int:
    """Drop records whose play is not on ``profile`` any more (a full ``read`` of it); returns how many."""
    now = time.time() if now is None else now
    name = file_name(profile)
    index: TitleIndex | None = None
    with state.lock(name):
        current = load(state, profile)
        if all(e.at > now - ECHO_WINDOW_S for e in current):
            return 0
        index = TitleIndex(read)
        kept = [e for e in current if e.at > now - ECHO_WINDOW_S or _still_there(e, index)]
        if len(kept) == len(current):
            return 0
        state.write_json(name, JournalFile(echoes=kept), pretty=False)
    return len(current) - len(kept)


def _still_there(echo: Echo, index: TitleIndex) -> bool:
    group = index.group_of(echo.item)
    return group is not None and any(hides(echo.at, play) for play in index.groups[group])


def hides(at: float, play: Item) -> bool:
    """``play`` is dated within the echo window of a write made at ``at``."""
    when = epoch_seconds(play.watched_at)
    return when is not None and -EARLY_S <= when - at <= ECHO_WINDOW_S


def merged(*groups: Iterable[Echo]) -> list[Echo]:
    """The echoes of every group, each once (a journal and a baseline's copy overlap)."""
    seen: set[tuple[str, bytes, float]] = set()
    out = []
    for group in groups:
        for echo in group:
            key = (echo.side, _encode(echo.item), echo.at)
            if key not in seen:
                seen.add(key)
                out.append(echo)
    return out


def _bare(item: Item) -> Item:
    """What identifies the title (ids, numbers), without a provider's write-back extras."""
    return msgspec.structs.replace(item, extra={}) if item.extra else item


_encode = msgspec.json.Encoder().encode
