"""Writing a feature: titles found by their ids in the index, then at most ``workers`` requests at once.

==========  ============================  =========================================================
feature     add                           remove
==========  ============================  =========================================================
history     mark played with ``DatePlayed``  unmark the title (every play goes: the server keeps
            = ``watched_at``; a title played  no single plays), when the Item is its last play (or
            at that time or later already     has no date); an older play is not held: ok
            is left alone (no double count)
progress    ``PlaybackPositionTicks``     position 0
ratings     ``Rating`` = the 1-10 rating  the rating cleared (``DELETE .../Rating``)
watchlist   favourite (mode favorites),   unfavourite, or the playlist's entries of the title
            or an entry of the playlist,
            which is made when missing
==========  ============================  =========================================================

Titles are found by ``match_keys`` (IMDb, TMDB, TVDB ids; episodes also by their show's ids
and numbers) among the items of the feature's libraries; a title in two libraries is written
in both. An item without any of those ids is found only where it came from this server's own
reads (its ``extra`` names the item and this server: a capture restored, a clear): anything
else without them, and an add that finds nothing, is unresolved and frozen (``crosswatch
unresolved list``); a remove that finds nothing is ok (nothing of it is held). Each title's
requests go one after the other; titles go ``workers`` at a time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from crosswatch import progress
from crosswatch.http import HttpError, OutcomeUnknown, SignInError
from crosswatch.model import STRONG_IDS, Feature, Item, MediaType, epoch_seconds
from crosswatch.provider import WriteResult
from crosswatch.unresolved import UnresolvedStore
from crosswatch_jellyfin.client import MediaServerClient
from crosswatch_jellyfin.library import Library, Target, View
from crosswatch_jellyfin.mapping import TICKS_PER_MS, date_played

#: ids per request where a request names several items (``Ids=``, ``EntryIds=``)
BATCH = 100
PLAYABLE = (MediaType.MOVIE, MediaType.EPISODE)
#: the ids a server item may have (a Trakt id alone finds nothing here)
SERVER_IDS = ("imdb", "tmdb", "tvdb")
NO_IDS = "no IMDb, TMDB or TVDB id (a title from elsewhere is found by these ids only)"


@dataclass
class Job:
    """The requests for one server item: the Items that name it, by their place in the call."""

    target: Target
    items: list[tuple[int, Item]] = field(default_factory=list)


class Writer:
    """Adds and removes of one profile's user (see the module docstring)."""

    def __init__(self, client: MediaServerClient, library: Library, unresolved: UnresolvedStore) -> None:
        self.client = client
        self.library = library
        self.unresolved = unresolved

    @property
    def user(self) -> str:
        return self.client.user_id

    @property
    def playlist_mode(self) -> bool:
        return self.client.settings.watchlist.mode == "playlist"

    async def write(self, feature: Feature, items: Sequence[Item], *, add: bool) -> WriteResult:
        todo, frozen = await anyio.to_thread.run_sync(self.unresolved.split, str(feature), list(items))
        result = WriteResult(frozen=frozen)
        if todo:
            views = await self.library.libraries(feature)
            matcher = await self.library.matcher(views)
            resolved: list[tuple[Item, list[Target]]] = []
            for item in todo:
                why = self._unsupported(feature, item)
                if why:
                    if add:
                        result.unresolved.append((item, why))
                    else:
                        result.ok.append(item)  # never held here, so absent
                    continue
                if not any(item.ids.get(n) or item.show_ids.get(n) for n in SERVER_IDS):
                    own = self.library.own(item, views)
                    if own:
                        resolved.append((item, own))
                    else:
                        result.unresolved.append((item, NO_IDS))
                    continue
                hits = matcher.find(item)
                if hits:
                    resolved.append((item, hits))
                elif add:
                    result.unresolved.append((item, self._not_found(item, views)))
                else:
                    result.ok.append(item)
            failures = await self._apply(feature, resolved, add)
            for n, (item, _) in enumerate(resolved):
                reason = failures.get(n)
                if reason is None:
                    result.ok.append(item)
                else:
                    result.failed.append((item, reason))
            if result.unresolved:
                await anyio.to_thread.run_sync(self.unresolved.freeze, str(feature), result.unresolved)
        await self.library.save()
        return result

    def _unsupported(self, feature: Feature, item: Item) -> str:
        """Why ``feature`` cannot hold ``item`` on this server ("" when it can)."""
        kind = self.client.kind.title
        if feature in (Feature.HISTORY, Feature.PROGRESS) and item.type not in PLAYABLE:
            return f"{kind} keeps {feature} of movies and episodes, not of a {item.type}"
        if feature == Feature.WATCHLIST and self.playlist_mode and item.type not in PLAYABLE:
            return (
                f"a playlist holds movies and episodes, not a {item.type} "
                f'(with watchlist mode = "favorites", {kind} keeps shows and seasons too)'
            )
        return ""

    def _not_found(self, item: Item, views: Sequence[View]) -> str:
        ids = ", ".join(f"{k} {v}" for k, v in item.ids.items() if k in STRONG_IDS)
        if item.type in (MediaType.EPISODE, MediaType.SEASON) and item.show_ids:
            show = ", ".join(f"{k} {v}" for k, v in item.show_ids.items() if k in STRONG_IDS)
            number = f"s{item.season:02d}" if item.season is not None else ""
            number += f"e{item.episode:02d}" if item.episode is not None else ""
            ids = (ids + "; " if ids else "") + f"show {show} {number}".rstrip()
        where = ", ".join(v.name for v in views) or "no library"
        return f"no {item.type} with {ids} in {where}"

    # -- applying -------------------------------------------------------------------------------

    async def _apply(self, feature: Feature, resolved: list[tuple[Item, list[Target]]], add: bool) -> dict[int, str]:
        """Write every resolved item; the failures by the item's place in ``resolved``."""
        if not resolved:
            return {}
        if feature == Feature.WATCHLIST and self.playlist_mode:
            return await self._playlist(resolved, add)
        jobs: dict[str, Job] = {}
        for n, (item, targets) in enumerate(resolved):
            for target in targets:
                jobs.setdefault(target[1], Job(target)).items.append((n, item))
        run: Callable[[Job], Awaitable[dict[int, str]]]
        if feature == Feature.HISTORY:
            data = await self._user_data([j.target[1] for j in jobs.values()])
            run = (
                (lambda job: self._play(job, data.get(job.target[1], {})))
                if add
                else (lambda job: self._unplay(job, data.get(job.target[1], {})))
            )
        elif feature == Feature.PROGRESS:
            run = self._position if add else self._no_position
        elif feature == Feature.RATINGS:
            run = self._rate if add else self._unrate
        else:
            run = self._favourite if add else self._unfavourite
        verb = "adding" if add else "removing"
        return await self._each(f"{self.client.kind.provider} {feature}: {verb}", list(jobs.values()), run)

    async def _each(
        self, what: str, jobs: list[Job], run: Callable[[Job], Awaitable[dict[int, str]]]
    ) -> dict[int, str]:
        """Run the jobs ``workers`` at a time. A refused request fails its items; a refused sign-in
        or a write of unknown outcome stops the rest and is raised."""
        failures: dict[int, str] = {}
        fatal: list[Exception] = []
        limiter = anyio.CapacityLimiter(self.client.settings.workers)
        bar = progress.task(what, total=sum(len(j.items) for j in jobs))

        async def one(job: Job, scope: anyio.CancelScope) -> None:
            async with limiter:
                try:
                    failures.update(await run(job))
                except (SignInError, OutcomeUnknown) as exc:
                    fatal.append(exc)
                    scope.cancel()
                    return
                except HttpError as exc:
                    if exc.status == 404:
                        self.library.forget(*job.target)
                    for n, _ in job.items:
                        failures[n] = str(exc)
            bar.advance(len(job.items))

        try:
            async with anyio.create_task_group() as tg:
                for job in jobs:
                    tg.start_soon(one, job, tg.cancel_scope)
        finally:
            bar.done()
        if fatal:
            raise fatal[0]
        return failures

    async def _user_data(self, item_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The user's data on these items, a batch of ids per request."""
        out: dict[str, dict[str, Any]] = {}
        path = f"/Users/{self.user}/Items"
        for start in range(0, len(item_ids), BATCH):
            batch = item_ids[start : start + BATCH]
            params = {"Ids": ",".join(batch), "EnableImages": "false", "EnableUserData": "true"}
            rows = await self.library.listing(path, params)
            for row in rows:
                if isinstance(row.get("Id"), str) and isinstance(row.get("UserData"), dict):
                    out[row["Id"]] = row["UserData"]
        return out

    # -- history --------------------------------------------------------------------------------

    async def _play(self, job: Job, data: dict[str, Any]) -> dict[int, str]:
        played = data.get("Played") is True
        last = epoch_seconds(data.get("LastPlayedDate")) if isinstance(data.get("LastPlayedDate"), str) else None
        path = f"/Users/{self.user}/PlayedItems/{job.target[1]}"
        for _, item in sorted(job.items, key=lambda p: epoch_seconds(p[1].watched_at) or 0.0):
            when = epoch_seconds(item.watched_at)
            if played and (when is None or (last is not None and last >= when - 1)):
                continue  # this play, or a later one, is held already
            stamp = date_played(item.watched_at) if item.watched_at else None
            params = {"DatePlayed": stamp} if stamp else None
            # a dated mark counts a play: sent again after an unknown outcome, it would count twice
            await self.client.request("POST", path, params=params, idempotent=stamp is None)
            played = True
            last = when if when is not None else (last or time.time())
        return {}

    async def _unplay(self, job: Job, data: dict[str, Any]) -> dict[int, str]:
        if data.get("Played") is not True:
            return {}
        last = epoch_seconds(data.get("LastPlayedDate")) if isinstance(data.get("LastPlayedDate"), str) else None
        for _, item in job.items:
            when = epoch_seconds(item.watched_at)
            if when is None or last is None or abs(last - when) <= 1:
                await self.client.request("DELETE", f"/Users/{self.user}/PlayedItems/{job.target[1]}")
                break
        return {}

    # -- progress, ratings, favourites ----------------------------------------------------------

    async def _user_data_update(self, item_id: str, body: dict[str, Any]) -> None:
        await self.client.request("POST", f"/Users/{self.user}/Items/{item_id}/UserData", json=body, idempotent=True)

    async def _position(self, job: Job) -> dict[int, str]:
        _, item = job.items[-1]  # the last one asked wins
        ticks = None
        if item.progress_ms is not None:
            ticks = item.progress_ms * TICKS_PER_MS
        elif item.progress is not None:
            entry = self.library.entry(job.target)
            if entry is not None and entry.runtime:
                ticks = int(entry.runtime * item.progress / 100)
        if ticks is None:
            why = "no resume position (progress_ms, or progress of a title whose runtime the server knows)"
            return {n: why for n, _ in job.items}
        await self._user_data_update(job.target[1], {"PlaybackPositionTicks": max(0, ticks)})
        return {}

    async def _no_position(self, job: Job) -> dict[int, str]:
        await self._user_data_update(job.target[1], {"PlaybackPositionTicks": 0})
        return {}

    async def _rate(self, job: Job) -> dict[int, str]:
        _, item = job.items[-1]
        if item.rating is None or not 1 <= item.rating <= 10:
            return {m: f"no rating from 1 to 10 (got {i.rating})" for m, i in job.items}
        await self._user_data_update(job.target[1], {"Rating": float(item.rating)})
        return {}

    async def _unrate(self, job: Job) -> dict[int, str]:
        await self.client.request("DELETE", f"/Users/{self.user}/Items/{job.target[1]}/Rating")
        return {}

    async def _favourite(self, job: Job) -> dict[int, str]:
        await self.client.request("POST", f"/Users/{self.user}/FavoriteItems/{job.target[1]}", idempotent=True)
        return {}

    async def _unfavourite(self, job: Job) -> dict[int, str]:
        await self.client.request("DELETE", f"/Users/{self.user}/FavoriteItems/{job.target[1]}")
        return {}

    # -- the watchlist playlist -----------------------------------------------------------------

    async def _playlist(self, resolved: list[tuple[Item, list[Target]]], add: bool) -> dict[int, str]:
        name = self.client.settings.watchlist.playlist
        playlist = await self.library.playlist_id(name)
        entries: list[tuple[str, str]] = []
        if playlist is not None:
            try:
                entries = await self._entries(playlist)
            except HttpError as exc:
                if exc.status not in (400, 404):
                    raise
                playlist = await self.library.playlist_id(name, fresh=True)
                entries = await self._entries(playlist) if playlist is not None else []
        failures: dict[int, str] = {}
        bar = progress.task(f"{self.client.kind.provider} watchlist: {'adding' if add else 'removing'}", len(resolved))
        try:
            if add:
                have = {item_id for _, item_id in entries}
                wanted: dict[str, list[int]] = {}
                for n, (_, targets) in enumerate(resolved):
                    for _, item_id in targets:
                        if item_id not in have:
                            wanted.setdefault(item_id, []).append(n)
                missing = list(wanted)
                if missing and playlist is None:
                    playlist = await self._create(name, missing[:BATCH])
                    missing = missing[BATCH:]
                for start in range(0, len(missing), BATCH):
                    batch = missing[start : start + BATCH]
                    assert playlist is not None
                    try:
                        await self.client.request(
                            "POST",
                            f"/Playlists/{playlist}/Items",
                            params={"Ids": ",".join(batch), "UserId": self.user},
                            idempotent=False,
                        )
                    except (SignInError, OutcomeUnknown):
                        raise
                    except HttpError as exc:
                        for item_id in batch:
                            failures.update({n: str(exc) for n in wanted[item_id]})
            elif playlist is not None:
                doomed_ids = {item_id for _, targets in resolved for _, item_id in targets}
                doomed = [entry for entry, item_id in entries if item_id in doomed_ids]
                for start in range(0, len(doomed), BATCH):
                    await self.client.request(
                        "DELETE",
                        f"/Playlists/{playlist}/Items",
                        params={"EntryIds": ",".join(doomed[start : start + BATCH])},
                    )
            bar.advance(len(resolved))
        finally:
            bar.done()
        return failures

    async def _entries(self, playlist: str) -> list[tuple[str, str]]:
        """The playlist's (entry id, item id) pairs, in order."""
        params = {"UserId": self.user, "EnableImages": "false", "EnableUserData": "false"}
        rows = await self.library.listing(f"/Playlists/{playlist}/Items", params)
        out = []
        for row in rows:
            entry, item_id = row.get("PlaylistItemId"), row.get("Id")
            if isinstance(entry, str) and isinstance(item_id, str):
                out.append((entry, item_id))
        return out

    async def _create(self, name: str, item_ids: list[str]) -> str:
        """Make the watchlist playlist (with its first items); its id."""
        kind = self.client.kind
        if kind.playlist_query_params:
            params = {"Name": name, "Ids": ",".join(item_ids), "MediaType": "Video", "UserId": self.user}
            body = await self.client.request("POST", "/Playlists", params=params, idempotent=False)
        else:
            payload = {"Name": name, "Ids": item_ids, "UserId": self.user, "MediaType": "Video"}
            body = await self.client.request("POST", "/Playlists", json=payload, idempotent=False)
        playlist = body.get("Id") if isinstance(body, dict) else None
        if not isinstance(playlist, str) or not playlist:
            raise HttpError(f"{kind.title}: POST /Playlists: the answer names no playlist Id")
        self.library.remember_playlist(name, playlist)
        return playlist
