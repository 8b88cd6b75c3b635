"""Writing to Trakt: batches within the write pace, frozen items, and no duplicate plays.

``POST /sync/history`` is not idempotent (Trakt keeps every play it is sent). When a history
batch's outcome is unknown (a timeout, a dropped connection, a 5xx) the plays of that batch's
time window are read back and only the missing ones are sent again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import msgspec
import structlog

from crosswatch import progress
from crosswatch.http import HttpError, OutcomeUnknown
from crosswatch.model import Feature, Item, MediaType, epoch_seconds, item_key, match_keys
from crosswatch.provider import WriteResult
from crosswatch.unresolved import UnresolvedStore
from crosswatch_trakt.client import TraktClient
from crosswatch_trakt.errors import AccountLimit, TraktError
from crosswatch_trakt.mapping import api_ids, build_payload, match_sent, parse_entry, parse_list, summary_not_found

log = structlog.get_logger("crosswatch.trakt")

PATHS = {
    Feature.WATCHLIST: "/sync/watchlist",
    Feature.RATINGS: "/sync/ratings",
    Feature.HISTORY: "/sync/history",
}
#: how often an unknown-outcome history batch is reconciled and re-sent before giving up
MAX_RECONCILE = 5


def remove_path(path: str) -> bool:
    return path.endswith("/remove")


def epoch(stamp: str | None) -> int | None:
    """Whole seconds since the epoch of an ISO time (Trakt keeps seconds); None if unreadable."""
    seconds = epoch_seconds(stamp)
    return None if seconds is None else int(seconds)


def play_keys(item: Item) -> set[tuple]:
    """Keys under which a play is the same play: any id (or show ids + numbers) with its second."""
    when = epoch(item.watched_at)
    keys: set[tuple[Any, ...]] = {
        (str(item.type), name, value, when) for name, value in item.ids.items() if name != "slug"
    }
    if item.type == MediaType.EPISODE and item.season is not None:
        keys |= {("ep", name, value, item.season, item.episode, when) for name, value in item.show_ids.items()}
    return keys


def scrobble_body(item: Item, percent: float) -> dict[str, Any]:
    """A ``/scrobble/*`` body: the movie or episode by its ids, else the episode by show and numbers."""
    kind = "movie" if item.type == MediaType.MOVIE else "episode"
    ids = api_ids(item.ids)
    if kind == "episode" and not ids and item.show_ids:
        media = {"show": {"ids": api_ids(item.show_ids)}, "episode": {"season": item.season, "number": item.episode}}
        return {**media, "progress": round(percent, 2)}
    return {kind: {"ids": ids}, "progress": round(percent, 2)}


class Writer:
    """Batched writes of one profile, freezing what Trakt cannot take."""

    def __init__(
        self,
        client: TraktClient,
        unresolved: UnresolvedStore,
        *,
        count: Callable[[Feature], Awaitable[int]],
        on_write: Callable[[], None] = lambda: None,
    ) -> None:
        self.client = client
        self.unresolved = unresolved
        self.count = count  # how many items a feature holds now (for the room left under a cap)
        self.on_write = on_write

    def _batches(self, items: Sequence[Item]) -> list[list[Item]]:
        size = self.client.settings.batch_size
        return [list(items[i : i + size]) for i in range(0, len(items), size)]

    async def add(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        return await self._write(feature, items, remove=False)

    async def remove(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        if feature == Feature.HISTORY:
            return await self._remove_plays(items)
        return await self._write(feature, items, remove=True)

    async def _write(self, feature: Feature, items: Sequence[Item], *, remove: bool) -> WriteResult:
        scope = f"TRAKT:{feature}"
        todo, frozen = await anyio.to_thread.run_sync(self.unresolved.split, feature, items)
        result = WriteResult(frozen=list(frozen))
        fresh: list[tuple[Item, str]] = []  # frozen by this call
        try:
            if feature == Feature.HISTORY and not remove and todo:
                # Trakt keeps every play it is sent: plays already there (a re-run after a
                # half-failed write) are reported as done, never sent twice
                todo, present = await self._not_yet_there(todo)
                if present:
                    log.info("trakt.already_there", scope=scope, skipped=len(present), sending=len(todo))
                    result.ok.extend(present)
            await self._send_batches(feature, todo, remove, result, fresh)
        finally:  # whatever happened, what Trakt refused stays frozen
            result.unresolved.extend(fresh)
            if fresh:
                await anyio.to_thread.run_sync(self.unresolved.freeze, feature, fresh)
        if feature == Feature.HISTORY and not remove and result.ok and self.client.settings.history.add_collections:
            await self._collect(result.ok)
        log.info(
            "trakt.write",
            scope=scope,
            action="remove" if remove else "add",
            ok=len(result.ok),
            failed=len(result.failed),
            unresolved=len(result.unresolved),
        )
        return result

    async def _send_batches(
        self, feature: Feature, todo: list[Item], remove: bool, result: WriteResult, fresh: list[tuple[Item, str]]
    ) -> None:
        scope = f"TRAKT:{feature}"
        batches = self._batches(todo)
        number_fallback = self.client.settings.history.number_fallback
        path = PATHS[feature] + ("/remove" if remove else "")
        verb = "removing" if remove else "writing"
        for index, batch in enumerate(progress.batches(f"TRAKT {feature}: {verb}", batches)):
            payload, refused = build_payload(batch, feature, number_fallback=number_fallback, remove=remove)
            fresh.extend(refused)
            sendable = [i for i in batch if all(i is not r for r, _ in refused)]
            if not sendable:
                continue
            try:
                if feature == Feature.HISTORY and not remove:
                    summary = await self._add_plays(path, payload, sendable)
                else:
                    summary = await self.client.post(path, payload, scope=scope, idempotent=True)
                if not isinstance(summary, dict):
                    raise TraktError(f"POST {path}: Trakt sent no write summary")
            except AccountLimit as exc:
                rest = sendable + [i for later in batches[index + 1 :] for i in later]
                taken, lost, refused_now = await self._fill_room(feature, path, rest, exc)
                result.ok.extend(taken)
                fresh.extend((i, "not found on Trakt") for i in lost)
                fresh.extend(refused_now)
                settled = {id(i) for i in taken + lost} | {id(i) for i, _ in refused_now}
                reason = f"Trakt account limit reached (420{f', limit {exc.limit}' if exc.limit else ''}; VIP lifts it)"
                capped = [i for i in rest if id(i) not in settled]
                fresh.extend((i, reason) for i in capped)
                log.warning("trakt.account_limit", scope=scope, added=len(taken), frozen=len(capped), limit=exc.limit)
                return
            except HttpError as exc:
                log.error("trakt.write_failed", scope=scope, items=len(sendable), error=str(exc))
                result.failed.extend((i, str(exc)) for i in sendable)
                continue
            finally:
                self.on_write()
            ok, missing = match_sent(sendable, summary_not_found(summary))
            result.ok.extend(ok)
            fresh.extend((i, "not found on Trakt") for i in missing)

    async def _fill_room(
        self, feature: Feature, path: str, items: list[Item], exc: AccountLimit
    ) -> tuple[list[Item], list[Item], list[tuple[Item, str]]]:
        """After a 420, send what still fits under the cap: (taken, not found, refused) items.

        Items Trakt does not know free their slot again, so the room is refilled a few times.
        """
        taken: list[Item] = []
        lost: list[Item] = []
        refused: list[tuple[Item, str]] = []
        if exc.limit is None or remove_path(path):
            return taken, lost, refused
        room = exc.limit - await self.count(feature)
        queue = list(items)
        number_fallback = self.client.settings.history.number_fallback
        for _ in range(5):
            if room <= 0 or not queue:
                break
            chunk, queue = queue[:room], queue[room:]
            payload, no_ids = build_payload(chunk, feature, number_fallback=number_fallback)
            refused.extend(no_ids)
            fits = [i for i in chunk if all(i is not r for r, _ in no_ids)]
            if not fits:
                continue
            try:
                summary = await self.client.post(path, payload, scope=f"TRAKT:{feature}", idempotent=True)
            except HttpError:
                break
            finally:
                self.on_write()
            ok, missing = match_sent(fits, summary_not_found(summary))
            taken.extend(ok)
            lost.extend(missing)
            room -= len(ok)
        return taken, lost, refused

    async def _add_plays(self, path: str, payload: dict[str, Any], batch: list[Item]) -> Any:
        """Send one batch of plays; on an unknown outcome read back and send only what is missing."""
        scope = "TRAKT:history"
        for attempt in range(MAX_RECONCILE + 1):
            try:
                return await self.client.post(path, payload, scope=scope, idempotent=False)
            except OutcomeUnknown as exc:
                if attempt == MAX_RECONCILE:
                    raise TraktError(f"POST {path}: outcome still unknown after {attempt} read-backs") from exc
                missing = await self._missing_plays(batch)
                log.warning(
                    "trakt.reconciled",
                    scope=scope,
                    error=str(exc),
                    sent=len(batch),
                    already_on_trakt=len(batch) - len(missing),
                    resending=len(missing),
                )
                if not missing:
                    return {"added": {}, "not_found": {}}
                batch = missing
                payload, _ = build_payload(
                    batch, Feature.HISTORY, number_fallback=self.client.settings.history.number_fallback
                )
        raise AssertionError("unreachable")

    async def _not_yet_there(self, plays: list[Item]) -> tuple[list[Item], list[Item]]:
        """(plays to send, plays Trakt has already or that repeat one in the list)."""
        dated = [i for i in plays if epoch(i.watched_at) is not None]
        missing = {id(i) for i in await self._missing_plays(dated)} if dated else set()
        send, present, seen = [], [], set()
        for item in plays:
            key = item_key(item)
            if (id(item) in missing or epoch(item.watched_at) is None) and key not in seen:
                send.append(item)
            else:
                present.append(item)
            seen.add(key)
        return send, present

    async def _window(self, plays: list[Item]) -> list[Item]:
        """Trakt's plays over the time window of ``plays`` (each with a ``watched_at``)."""
        times = [epoch(p.watched_at) or 0.0 for p in plays]
        start = datetime.fromtimestamp(min(times) - 1, UTC)
        end = datetime.fromtimestamp(max(times) + 1, UTC) + timedelta(seconds=1)
        params = {"start_at": _iso(start), "end_at": _iso(end)}
        data = await self.client.get_pages("/sync/history", scope="TRAKT:history", params=params)
        return parse_list(data)[0]

    async def _missing_plays(self, batch: list[Item]) -> list[Item]:
        """The plays of ``batch`` that Trakt does not have (read back over their time window)."""
        if any(epoch(i.watched_at) is None for i in batch):
            raise TraktError("a play without watched_at had an unknown outcome: not re-sent, to avoid a duplicate")
        present: set[tuple] = set()
        for play in await self._window(batch):
            present |= play_keys(play)
        return [item for item in batch if not play_keys(item) & present]

    async def _history_ids(self, plays: list[Item]) -> dict[int, int]:
        """History ids of ``plays`` (by ``id()``), read back over their time window."""
        dated = [p for p in plays if epoch(p.watched_at) is not None]
        if not dated:
            return {}
        free: dict[tuple, list[int]] = {}
        for play in await self._window(dated):
            history_id = play.extra.get("id")
            if isinstance(history_id, int):
                for key in play_keys(play):
                    free.setdefault(key, []).append(history_id)
        out: dict[int, int] = {}
        taken: set[int] = set()
        for play in dated:
            for key in play_keys(play):
                ids = [i for i in free.get(key, ()) if i not in taken]
                if ids:
                    out[id(play)] = ids[0]
                    taken.add(ids[0])
                    break
        return out

    async def _remove_plays(self, items: Sequence[Item]) -> WriteResult:
        """Remove plays by their history ids (never all plays of a title for one play).

        A play without its id (one crosswatch sent and carried into the index) gets it from
        a read of its time window first.
        """
        scope = "TRAKT:history"
        result = WriteResult()
        found = await self._history_ids([i for i in items if not isinstance(i.extra.get("id"), int)])

        def history_id(item: Item) -> int | None:
            given = item.extra.get("id")
            return given if isinstance(given, int) else found.get(id(item))

        with_ids = [i for i in items if history_id(i) is not None]
        result.ok.extend(i for i in items if history_id(i) is None)  # no play at that time: already gone
        for batch in progress.batches("TRAKT history: removing", self._batches(with_ids)):
            body = {"ids": [history_id(i) for i in batch]}
            try:
                await self.client.post("/sync/history/remove", body, scope=scope, idempotent=True)
            except HttpError as exc:
                result.failed.extend((i, str(exc)) for i in batch)
                continue
            finally:
                self.on_write()
            result.ok.extend(batch)  # removed, or (Trakt's not_found) not there any more: gone either way
        log.info("trakt.write", scope=scope, action="remove", ok=len(result.ok), failed=len(result.failed))
        return result

    async def _collect(self, plays: list[Item]) -> None:
        """ "Add collections to Trakt": the played titles also go into the collection."""
        seen: set[str] = set()
        unique = []
        for play in plays:
            key = repr(sorted(play.ids.items())) + repr(sorted(play.show_ids.items())) + f"{play.season}x{play.episode}"
            if key not in seen:
                seen.add(key)
                unique.append(msgspec.structs.replace(play, watched_at=None))
        for batch in self._batches(unique):
            payload, _ = build_payload(
                batch, Feature.WATCHLIST, number_fallback=self.client.settings.history.number_fallback
            )
            try:
                await self.client.post("/sync/collection", payload, scope="TRAKT:collection", idempotent=True)
            except HttpError as exc:  # the plays are in; a collection failure is only reported
                log.warning("trakt.collection_failed", scope="TRAKT:collection", items=len(batch), error=str(exc))
            finally:
                self.on_write()

    async def set_progress(self, items: Sequence[Item]) -> WriteResult:
        """Progress the way Trakt allows it: a paused scrobble at that percentage."""
        result = WriteResult()
        for item in items:
            percent = item.progress
            if percent is None and item.progress_ms and item.duration_ms:
                percent = 100 * item.progress_ms / item.duration_ms
            if percent is None or not 1 <= percent < 100:
                result.failed.append((item, "progress must be between 1 and 99 percent"))
                continue
            try:
                body = scrobble_body(item, percent)
                await self.client.post("/scrobble/pause", body, scope="TRAKT:progress", idempotent=True)
                result.ok.append(item)
            except HttpError as exc:
                if exc.status == 404:  # Trakt does not know the title: freeze it, do not retry every run
                    result.unresolved.append((item, "Trakt has no title with these ids"))
                else:
                    result.failed.append((item, str(exc)))
            finally:
                self.on_write()
        return result

    async def scrobble(self, action: str, item: Item, progress: float) -> str:
        """``/scrobble/start|pause|stop`` at ``progress`` percent: "ok", "duplicate" (409) or "unknown" (404)."""
        body = scrobble_body(item, min(max(progress, 0.0), 100.0))
        try:
            # a repeated stop is answered 409 by Trakt (no second play), so retrying is safe
            await self.client.post(f"/scrobble/{action}", body, scope="TRAKT:scrobble", idempotent=True)
            return "ok"
        except HttpError as exc:
            if exc.status == 409:  # Trakt already has this scrobble (a repeated stop)
                return "duplicate"
            if exc.status == 404:
                return "unknown"
            raise
        finally:
            self.on_write()

    async def remove_progress(self, items: Sequence[Item]) -> WriteResult:
        result = WriteResult()
        known = await self._playback_ids([i for i in items if not isinstance(i.extra.get("id"), int)])
        for item in items:
            playback = item.extra.get("id")
            if not isinstance(playback, int):
                playback = next((known[k] for k in match_keys(item) if k in known), None)
            if playback is None:
                result.ok.append(item)  # Trakt holds no progress of it: already gone
                continue
            try:
                response = await self.client.request("DELETE", f"/sync/playback/{playback}", scope="TRAKT:progress")
                if response.status_code != 404:
                    self.client.check(response, f"DELETE /sync/playback/{playback}")
                result.ok.append(item)
            except HttpError as exc:
                result.failed.append((item, str(exc)))
            finally:
                self.on_write()
        return result

    async def _playback_ids(self, items: Sequence[Item]) -> dict[tuple[object, ...], int]:
        """The playback ids Trakt holds, by match key (read only when some item lacks its id)."""
        if not items:
            return {}
        entries = await self.client.get("/sync/playback", scope="TRAKT:progress")
        out: dict[tuple[object, ...], int] = {}
        for entry in entries if isinstance(entries, list) else ():
            item = parse_entry(entry)
            playback = item.extra.get("id") if item is not None else None
            if item is not None and isinstance(playback, int):
                for key in match_keys(item):
                    out[key] = playback
        return out


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
