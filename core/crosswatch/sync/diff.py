"""The plan of one feature of one pair: what to add, update and remove on which side.

Rules:

- Watchlist and ratings: a title missing on the target is added; a different rating is an
  update (one-way: the source's; two-way: the newer ``rated_at``). A removal is propagated
  only when the baseline says the title was there at the last sync and is gone now.
- History: plays are compared per title as times. A source play with a target play of the
  same title within ``sync.history_tolerance_s`` is already there: never a duplicate play.
  A target that records plays at "now" (Plex) gets one play per title it has none of (its
  watched state), and crosswatch remembers those writes as echoes so they are never sent
  back as new plays; one deleted there afterwards is not written again (even before a read
  of that side showed it). A target that keeps one date per title (Jellyfin) gets the newest play
  of each title it has none of or only an older one of; as a source, only a title gone from
  it lost plays (its date moving on is no removal). Plays without a date are never sent.
- Progress: a resume position moves forward, or to a newer one (later ``paused_at``).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from crosswatch import journal
from crosswatch.journal import Echo
from crosswatch.model import Feature, Item, epoch_seconds, title_key
from crosswatch.profiles import Profile
from crosswatch.sync.baseline import Baseline
from crosswatch.sync.match import TitleIndex

ECHO_WINDOW_S = journal.ECHO_WINDOW_S


@dataclass
class Changes:
    """The writes of one direction of one feature."""

    source: str  # profile names, e.g. PLEX, TRAKT.kids
    target: str
    add: list[Item] = field(default_factory=list)
    update: list[Item] = field(default_factory=list)  # written like adds: they replace a value
    remove: list[Item] = field(default_factory=list)
    skipped: list[tuple[Item, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.add or self.update or self.remove)


@dataclass
class FeaturePlan:
    feature: Feature
    changes: list[Changes] = field(default_factory=list)
    refused: str = ""  # a guard's message: nothing of this feature is written
    counts: dict[str, int] = field(default_factory=dict)  # items read per side
    first_run: bool = False
    settled: bool = False  # inputs unchanged since a run with nothing to do: not planned again

    def toward(self, target: str) -> list[Changes]:
        return [c for c in self.changes if c.target == target]


epoch = epoch_seconds  # the planner's short name for the one timestamp rule


@dataclass
class Side:
    """One side's present items, what it held at the last sync, and what it can do."""

    profile: Profile
    items: list[Item]
    before: list[Item] | None  # None: no baseline (first run, or --full)
    sent_now: list[Item] = field(default_factory=list)  # the last run's writes here, dated "now" by the side

    @cached_property
    def index(self) -> TitleIndex:
        return TitleIndex(self.items)

    @cached_property
    def before_index(self) -> TitleIndex | None:
        """The baseline's items by title (built when a rule asks: most plans need only one side's)."""
        return TitleIndex(self.before) if self.before is not None else None

    @property
    def name(self) -> str:
        return self.profile.name

    def removed_here(self, item: Item) -> bool:
        """``item``'s title was on this side at the last sync and is gone now."""
        return self.before_index is not None and item in self.before_index and item not in self.index

    def keeps_watched_at(self, feature: Feature) -> bool:
        support = self.profile.support(feature)
        return support is None or support.keeps_watched_at

    def one_date_per_title(self, feature: Feature) -> bool:
        """The side keeps one date per title, the one it is given (Jellyfin's last played date):
        a newer play moves it on, and an older date gone from it says nothing of a play removed."""
        support = self.profile.support(feature)
        return support is not None and not support.keeps_watched_at and not support.writes_now


# -- watchlist and ratings ---------------------------------------------------------------


def _newer(a: Item, b: Item) -> Item | None:
    """The more recently rated of two items, None when their times cannot tell."""
    ta, tb = epoch(a.rated_at), epoch(b.rated_at)
    if ta is None or tb is None or ta == tb:
        return None
    return a if ta > tb else b


def plan_titles(feature: Feature, a: Side, b: Side, two_way: bool, add: bool, remove: bool) -> list[Changes]:
    """Watchlist or ratings, from ``a`` to ``b`` (and back when two-way)."""
    forward, back = Changes(a.name, b.name), Changes(b.name, a.name)
    for item in a.items:
        other = b.index.find(item)
        if other is None:
            if two_way and b.removed_here(item):
                if remove:
                    back.remove.append(item)
                else:
                    forward.skipped.append((item, f"removed on {b.name} since the last sync"))
            elif add:
                forward.add.append(item)
        elif feature == Feature.RATINGS and item.rating != other.rating and add:
            if not two_way:
                forward.update.append(item)
                continue
            winner = _newer(item, other) or _changed_side(item, other, a, b)
            if winner is item:
                forward.update.append(item)
            elif winner is other:
                back.update.append(other)
            else:
                forward.skipped.append((item, f"rated {item.rating} here and {other.rating} on {b.name}: no newer one"))
    for item in b.items:
        if item in a.index:
            continue
        if a.removed_here(item):
            if remove:
                forward.remove.append(item)
            elif two_way:
                back.skipped.append((item, f"removed on {a.name} since the last sync"))
        elif two_way and add:
            back.add.append(item)
    return [forward, back] if two_way else [forward]


def _changed_side(x: Item, y: Item, a: Side, b: Side) -> Item | None:
    """Without rating times: the side whose rating differs from its last-sync value changed it."""
    if a.before_index is None or b.before_index is None:
        return None
    was_x, was_y = a.before_index.find(x), b.before_index.find(y)
    x_changed = was_x is not None and was_x.rating != x.rating
    y_changed = was_y is not None and was_y.rating != y.rating
    if x_changed != y_changed:
        return x if x_changed else y
    return None


# -- history -------------------------------------------------------------------------------


def _times(plays: Iterable[Item]) -> list[float]:
    return sorted(t for p in plays if (t := epoch(p.watched_at)) is not None)


class Echoes:
    """The plays crosswatch wrote to one side that records them at "now", by title."""

    def __init__(self, echoes: Iterable[Echo]) -> None:
        self.index = TitleIndex()
        self.by_title: dict[int, list[Echo]] = {}
        for echo in echoes:
            self.by_title.setdefault(self.index.add(echo.item), []).append(echo)

    def __bool__(self) -> bool:
        return bool(self.by_title)

    def hides(self, play: Item) -> bool:
        """``play`` is crosswatch's own write read back (dated within the echo window after it)."""
        return self.written(play) is not None

    def written(self, play: Item) -> Item | None:
        """The play crosswatch wrote that ``play`` is the echo of, as it was sent (with its own date)."""
        group = self.index.group_of(play)
        if group is None:
            return None
        return next((e.item for e in self.by_title[group] if journal.hides(e.at, play)), None)


def plan_plays(src: Side, dst: Side, tolerance: float, add: bool, remove: bool, echoes: list[Echo]) -> Changes:
    """History plays from ``src`` to ``dst``."""
    out = Changes(src.name, dst.name)
    src_echoes = Echoes(e for e in echoes if e.side == src.name)
    keeps = dst.keeps_watched_at(Feature.HISTORY)
    deleted = _deleted_on(dst, tolerance, keeps)
    by_title: dict[int, list[Item]] = {}
    lone: list[Item] = []
    seen: set[tuple[str, str]] = set()
    for play in src.items:
        if not play.watched_at:
            out.skipped.append((play, "no date: a play without a date is never sent"))
            continue
        if src_echoes and src_echoes.hides(play):
            continue  # crosswatch's own write, read back
        once = (title_key(play), play.watched_at[:19])
        if once in seen:
            continue  # the source lists one play twice (two rows in one second)
        seen.add(once)
        if deleted(play):
            out.skipped.append((play, f"deleted on {dst.name} since the last sync"))
            continue
        group = dst.index.group_of(play)
        if group is None:
            lone.append(play)
        else:
            by_title.setdefault(group, []).append(play)
    if add:
        if keeps:
            for group, plays in by_title.items():
                out.add += _unmatched(plays, _times(dst.index.groups[group]), tolerance)
            out.add += lone
        else:  # one play for each title the target has no play of (it records "now", or one date)
            newest: dict[str, Item] = {}
            if dst.one_date_per_title(Feature.HISTORY):  # and a newer play than the date it holds
                lone = lone + _newer_than_held(by_title, dst, tolerance)
            for play in lone:
                key = title_key(play)
                if key not in newest or (epoch(play.watched_at) or 0) > (epoch(newest[key].watched_at) or 0):
                    newest[key] = play
            out.add += newest.values()
    if remove and src.before is not None:
        out.remove += _removed_plays(src, dst, tolerance, keeps, src_echoes)
    return out


def _newer_than_held(by_title: dict[int, list[Item]], dst: Side, tolerance: float) -> list[Item]:
    """Of each title ``dst`` holds with a date, the newest source play when it is newer than that date."""
    out = []
    for group, plays in by_title.items():
        held = _times(dst.index.groups[group])
        latest = max(plays, key=lambda p: epoch(p.watched_at) or 0.0)
        when = epoch(latest.watched_at)
        if held and when is not None and when > held[-1] + tolerance:
            out.append(latest)
    return out


def _deleted_on(dst: Side, tolerance: float, keeps: bool) -> Callable[[Item], bool]:
    """Whether a play was on ``dst`` at the last sync and was deleted there since (never re-add it)."""
    if dst.before_index is None:
        return lambda play: False
    before, now = dst.before_index, dst.index
    sent = TitleIndex(dst.sent_now) if dst.sent_now and not keeps else None
    before_times: dict[int, list[float]] = {}
    now_times: dict[int, list[float]] = {}

    def near(index: TitleIndex, cache: dict[int, list[float]], group: int | None, when: float) -> bool:
        if group is None:
            return False
        if group not in cache:
            cache[group] = _times(index.groups[group])
        times = cache[group]
        i = bisect.bisect_left(times, when - tolerance)
        return i < len(times) and times[i] <= when + tolerance

    def deleted(play: Item) -> bool:
        group = before.group_of(play)
        if not keeps:  # times of a target that records "now" say nothing: the title's plays all went
            held = group is not None or (sent is not None and play in sent)
            return held and play not in now
        if group is None:
            return False
        when = epoch(play.watched_at) or 0.0
        return near(before, before_times, group, when) and not near(now, now_times, now.group_of(play), when)

    return deleted


def _unmatched(plays: list[Item], times: list[float], tolerance: float) -> list[Item]:
    """Plays with no unused target play within ``tolerance`` (each target play matches once)."""
    used = [False] * len(times)
    missing = []
    for play in sorted(plays, key=lambda p: p.watched_at or ""):
        when = epoch(play.watched_at)
        assert when is not None
        i = bisect.bisect_left(times, when - tolerance)
        while i < len(times) and times[i] <= when + tolerance and used[i]:
            i += 1
        if i < len(times) and times[i] <= when + tolerance:
            used[i] = True
        else:
            missing.append(play)
    return missing


def _removed_plays(src: Side, dst: Side, tolerance: float, keeps: bool, src_echoes: Echoes) -> list[Item]:
    """Target plays of source plays that were there at the last sync and are gone now.

    A play crosswatch wrote to a source that dates it "now" (its echo, or one the last run
    wrote there) stands for the play it was copied from: that one is the target's to lose.
    """
    assert src.before is not None
    now = src.index
    one_date = src.one_date_per_title(Feature.HISTORY)
    gone: list[Item] = []
    for play in src.before:
        group = now.group_of(play)
        when = epoch(play.watched_at)
        if when is None:
            continue
        if one_date:  # its date moves on with each new play: only a title gone from it lost plays
            if group is None:
                gone.append(play)
            continue
        present = _times(now.groups[group]) if group is not None else []
        if not any(abs(t - when) <= 1 for t in present):
            gone.append(src_echoes.written(play) or play)
    gone += [p for p in src.sent_now if p not in now and epoch(p.watched_at) is not None]
    out: list[Item] = []
    if keeps:
        for play in gone:
            group = dst.index.group_of(play)
            if group is None:
                continue
            when = epoch(play.watched_at) or 0.0
            match = next(
                (
                    p
                    for p in dst.index.groups[group]
                    if abs((epoch(p.watched_at) or 0) - when) <= tolerance and p not in out
                ),
                None,
            )
            if match is not None:
                out.append(match)
    else:  # the target keeps no times: remove its plays of titles the source has no play of any more
        for play in gone:
            if play in now:
                continue
            group = dst.index.group_of(play)
            if group is not None:
                out += [p for p in dst.index.groups[group] if p not in out]
    return out


# -- progress ------------------------------------------------------------------------------


def _percent(item: Item) -> float | None:
    if item.progress is not None:
        return item.progress
    if item.progress_ms is not None and item.duration_ms:
        return 100 * item.progress_ms / item.duration_ms
    return None


def plan_progress(a: Side, b: Side, two_way: bool, add: bool) -> list[Changes]:
    forward, back = Changes(a.name, b.name), Changes(b.name, a.name)
    if not add:
        return [forward, back] if two_way else [forward]
    for item in a.items:
        other = b.index.find(item)
        mine = _percent(item)
        if mine is None:
            continue
        if other is None:
            forward.add.append(item)
            continue
        theirs = _percent(other)
        newer = (epoch(item.paused_at) or 0) > (epoch(other.paused_at) or 0)
        if theirs is None or (abs(mine - theirs) > 0.5 and (newer or (not two_way and mine > theirs))):
            forward.update.append(item)
        elif two_way and abs(mine - theirs) > 0.5 and (epoch(other.paused_at) or 0) > (epoch(item.paused_at) or 0):
            back.update.append(other)
    if two_way:
        back.add += [i for i in b.items if i not in a.index and _percent(i) is not None]
    return [forward, back] if two_way else [forward]


def plan_feature(
    feature: Feature,
    a: Side,
    b: Side,
    *,
    two_way: bool,
    add: bool,
    remove: bool,
    tolerance: float,
    baseline: Baseline | None,
    echoes: list[Echo] | None = None,
) -> list[Changes]:
    """The changes of ``feature`` between ``a`` (the source) and ``b`` (the target).

    ``echoes``: crosswatch's own writes to a side that dates them "now" (the journals merged
    with the baseline's copy); the baseline's copy alone when not given.
    """
    if feature in (Feature.WATCHLIST, Feature.RATINGS):
        return plan_titles(feature, a, b, two_way, add, remove)
    if feature == Feature.PROGRESS:
        return plan_progress(a, b, two_way, add)
    if echoes is None:
        echoes = baseline.echoes if baseline is not None else []
    changes = [plan_plays(a, b, tolerance, add, remove, echoes)]
    if two_way:
        changes.append(plan_plays(b, a, tolerance, add, remove, echoes))
    return changes
