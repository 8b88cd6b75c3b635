"""``/sync/history``, ``/sync/playback``, ``/sync/watched``: plays and progress.

History is never de-duplicated: every sent play is a new play with a new history id, as on
Trakt. A page costs O(page): the plays are kept sorted (newest first) until the next write.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.emulation.catalog import Episode, Media, Movie
from crosswatch_trakt.emulator.media import PLURAL
from crosswatch_trakt.emulator.resolve import Invalid, resolve
from crosswatch_trakt.emulator.responses import (
    BadRequest,
    counts,
    endpoint,
    etag_for,
    json_response,
    not_modified,
    page_of,
    read_json,
)
from crosswatch_trakt.emulator.routes_sync import emulator, key_of
from crosswatch_trakt.emulator.times import iso, now_ms, parse_iso
from crosswatch_trakt.emulator.userstate import Key, Play

HISTORY_TYPES = {"movies": "movie", "shows": "episode", "seasons": "episode", "episodes": "episode"}
PLAYBACK_TYPES = {"movies": "movie", "episodes": "episode"}


def _time_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    parsed = parse_iso(value)
    if parsed is None:
        raise BadRequest(400, "bad_request", f"{name} must be an ISO 8601 time")
    return parsed


def _window(times_neg: list[int], start_at: int | None, end_at: int | None) -> tuple[int, int]:
    """Index range of a newest-first list whose times lie in [start_at, end_at]."""
    lo = 0 if end_at is None else bisect_left(times_neg, -end_at)
    hi = len(times_neg) if start_at is None else bisect_right(times_neg, -start_at)
    return lo, max(lo, hi)


def _belongs(media: Media, type_name: str, trakt: int) -> bool:
    if type_name in ("movies", "episodes"):
        return media.trakt == trakt
    assert isinstance(media, Episode)
    if type_name == "shows":
        return media.show.trakt == trakt
    season = media.show.season(media.season)
    return season is not None and season.trakt == trakt


@endpoint
async def get_history(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    type_name = request.path_params.get("type")
    if type_name is not None and type_name not in HISTORY_TYPES:
        raise BadRequest(404, "not_found", f"unknown type {type_name!r}")
    kind = HISTORY_TYPES[type_name] if type_name else None
    raw_id = request.path_params.get("id")
    kinds = (kind,) if kind else ("movie", "episode")
    etag = etag_for(request, [state.digests["history"][k] for k in kinds])
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    start_at, end_at = _time_param(request, "start_at"), _time_param(request, "end_at")
    if raw_id is None:
        plays, times_neg = state.history_view(kind)
    else:
        if not raw_id.isdigit():
            raise BadRequest(404, "not_found", "the id must be a Trakt id")
        trakt = int(raw_id)
        assert type_name is not None

        def build() -> tuple[list[Play], list[int]]:
            chosen = [p for p in state.history_view(kind)[0] if _belongs(state.media(p.key), type_name, trakt)]
            return chosen, [-p.watched_at for p in chosen]

        plays, times_neg = state.view("history", (type_name, trakt), build)
    lo, hi = _window(times_neg, start_at, end_at)
    s = emu.settings
    page = page_of(request, hi - lo, default=s.default_page_limit, maximum=s.max_page_limit, always=True)
    assert page is not None
    media = emu.media
    items = [
        media.attach({"id": p.id, "watched_at": iso(p.watched_at), "action": p.action}, state.media(p.key))
        for p in plays[lo + page.start : lo + page.stop]
    ]
    return json_response(items, headers={**page.headers, "ETag": etag})


def _watched_at(value: Any, media: Media, now: int) -> int:
    if value is None:
        return now
    if value == "released":
        if isinstance(media, Movie):
            return media.released * 1000
        assert isinstance(media, Episode)
        return (media.aired + media.runtime * 60) * 1000
    if value == "unknown":
        return 0
    parsed = parse_iso(value)
    if parsed is None:
        raise Invalid(f"watched_at must be an ISO 8601 time, 'released' or 'unknown', got {value!r}")
    return parsed


@endpoint
async def add_history(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    resolved = resolve(emu.catalog, await read_json(request), "episodes")
    now = now_ms()
    plays = [(key_of(t.media), _watched_at(t.fields.get("watched_at"), t.media, now)) for t in resolved.targets]
    added = counts("movies", "episodes")
    for key, at in plays:
        state.add_play(key, at, "watch")
        added[PLURAL[key[0]]] += 1
    if plays:
        state.activities.touch({(PLURAL[k[0]], "watched_at") for k, _ in plays}, now)
    summary = {"added": added, "updated": counts("movies", "episodes"), "not_found": resolved.not_found}
    return json_response(summary, 201)


@endpoint
async def remove_history(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    body = await read_json(request)
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    raw_ids = body.get("ids") or []
    if not isinstance(raw_ids, list):
        raise Invalid("ids must be a list of history ids")
    resolved = resolve(emu.catalog, {k: v for k, v in body.items() if k != "ids"}, "episodes")
    deleted = counts("movies", "episodes")
    keys: set[Key] = {key_of(t.media) for t in resolved.targets}
    if keys:
        for play in [p for p in state.plays.values() if p.key in keys]:
            state.remove_play(play.id)
            deleted[PLURAL[play.key[0]]] += 1
    missing = []
    for value in raw_ids:
        play = state.remove_play(value) if isinstance(value, int) and not isinstance(value, bool) else None
        if play is None:
            missing.append(value)
        else:
            deleted[PLURAL[play.key[0]]] += 1
    if any(deleted.values()):
        state.activities.touch({(p, "watched_at") for p, n in deleted.items() if n}, now_ms())
    return json_response({"deleted": deleted, "not_found": {**resolved.not_found, "ids": missing}})


# -- playback --------------------------------------------------------------------------------


@endpoint
async def get_playback(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    type_name = request.path_params.get("type")
    if type_name is not None and type_name not in PLAYBACK_TYPES:
        raise BadRequest(404, "not_found", f"unknown type {type_name!r}")
    kinds = (PLAYBACK_TYPES[type_name],) if type_name else ("movie", "episode")
    etag = etag_for(request, [state.digests["playback"][k] for k in kinds])
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    start_at, end_at = _time_param(request, "start_at"), _time_param(request, "end_at")

    def build() -> tuple[list[Any], list[int]]:
        rows = sorted((p for p in state.playback.values() if p.key[0] in kinds), key=lambda p: (p.paused_at, p.id))
        rows.reverse()
        return rows, [-p.paused_at for p in rows]

    rows, times_neg = state.view("playback", kinds, build)
    lo, hi = _window(times_neg, start_at, end_at)
    page = page_of(request, hi - lo, default=10, maximum=emu.settings.max_page_limit, always=False)
    window = rows[lo + page.start : lo + page.stop] if page else rows[lo:hi]
    items = [
        emu.media.attach({"progress": p.progress, "paused_at": iso(p.paused_at), "id": p.id}, state.media(p.key))
        for p in window
    ]
    return json_response(items, headers={**(page.headers if page else {}), "ETag": etag})


@endpoint
async def delete_playback(request: Request) -> Response:
    state = emulator(request).state
    raw = request.path_params["id"]
    entry = state.unpause(int(raw)) if raw.isdigit() else None
    if entry is None:
        raise BadRequest(404, "not_found", "no such playback entry")
    state.activities.touch([(PLURAL[entry.key[0]], "paused_at")], now_ms())
    return Response(status_code=204)


# -- watched (plays per title) ---------------------------------------------------------------


@endpoint
async def get_watched(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    type_name = request.path_params["type"]
    if type_name not in ("movies", "shows"):
        raise BadRequest(404, "not_found", f"unknown type {type_name!r}")
    kind = "movie" if type_name == "movies" else "episode"
    etag = etag_for(request, [state.digests["history"][kind]])
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    rows = state.view("history", ("watched", type_name), lambda: _watched_rows(emu, kind))
    noseasons = "noseasons" in request.query_params.get("extended", "")
    if noseasons:
        rows = [{k: v for k, v in row.items() if k != "seasons"} for row in rows]
    page = page_of(request, len(rows), default=10, maximum=emu.settings.max_page_limit, always=False)
    window = rows[page.start : page.stop] if page else rows
    return json_response(window, headers={**(page.headers if page else {}), "ETag": etag})


def _watched_rows(emu: Any, kind: str) -> list[dict[str, Any]]:
    state, media = emu.state, emu.media
    per: dict[int, list[int]] = {}  # trakt id -> [plays, last]
    for play in state.plays.values():
        if play.key[0] == kind:
            entry = per.setdefault(play.key[1], [0, 0])
            entry[0] += 1
            entry[1] = max(entry[1], play.watched_at)
    if kind == "movie":
        ordered = sorted(per.items(), key=lambda kv: (kv[1][0], kv[1][1]), reverse=True)
        return [
            {
                "plays": n,
                "last_watched_at": iso(last),
                "last_updated_at": iso(last),
                "movie": media.raw(state.media(("movie", trakt))),
            }
            for trakt, (n, last) in ordered
        ]
    shows: dict[int, dict[int, dict[int, list[int]]]] = {}
    for trakt, stats in per.items():
        ep = state.media(("episode", trakt))
        shows.setdefault(ep.show.trakt, {}).setdefault(ep.season, {})[ep.number] = stats
    rows = []
    for show_trakt, seasons in shows.items():
        total = sum(s[0] for eps in seasons.values() for s in eps.values())
        last = max(s[1] for eps in seasons.values() for s in eps.values())
        rows.append(
            {
                "plays": total,
                "last_watched_at": iso(last),
                "last_updated_at": iso(last),
                "reset_at": None,
                "show": media.raw(state.media(("show", show_trakt))),
                "seasons": [
                    {
                        "number": number,
                        "episodes": [
                            {"number": n, "plays": s[0], "last_watched_at": iso(s[1])} for n, s in sorted(eps.items())
                        ],
                    }
                    for number, eps in sorted(seasons.items())
                ],
            }
        )
    rows.sort(key=lambda row: (row["plays"], row["last_watched_at"]), reverse=True)
    return rows


ROUTES = [
    Route("/sync/history", get_history, methods=["GET"]),
    Route("/sync/history", add_history, methods=["POST"]),
    Route("/sync/history/remove", remove_history, methods=["POST"]),
    Route("/sync/history/{type}", get_history, methods=["GET"]),
    Route("/sync/history/{type}/{id}", get_history, methods=["GET"]),
    Route("/sync/playback", get_playback, methods=["GET"]),
    Route("/sync/playback/{type}", get_playback, methods=["GET"]),
    Route("/sync/playback/{id}", delete_playback, methods=["DELETE"]),
    Route("/sync/watched/{type}", get_watched, methods=["GET"]),
]
