"""``/sync/collection``: movies and episodes (shows and seasons expand into their episodes)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch_trakt.emulator.media import PLURAL
from crosswatch_trakt.emulator.resolve import resolve
from crosswatch_trakt.emulator.responses import (
    BadRequest,
    account_limit,
    counts,
    endpoint,
    etag_for,
    json_response,
    not_modified,
    page_of,
    read_json,
)
from crosswatch_trakt.emulator.routes_sync import emulator, key_of, when
from crosswatch_trakt.emulator.times import iso, now_ms
from crosswatch_trakt.emulator.userstate import Key


def _collection_rows(state: Any, media: Any, name: str) -> list[dict[str, Any]]:
    def build() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        if name in ("all", "movies"):
            movies = sorted(((at, k) for k, at in state.collection.items() if k[0] == "movie"), reverse=True)
            for at, key in movies:
                stamp = iso(at)
                rows.append({"collected_at": stamp, "updated_at": stamp, "movie": media.raw(state.media(key))})
        if name in ("all", "shows"):
            shows: dict[int, dict[int, dict[int, int]]] = {}
            for key, at in state.collection.items():
                if key[0] == "episode":
                    ep = state.media(key)
                    shows.setdefault(ep.show.trakt, {}).setdefault(ep.season, {})[ep.number] = at
            grouped = []
            for show_trakt, seasons in shows.items():
                last = max(at for eps in seasons.values() for at in eps.values())
                grouped.append((last, show_trakt, seasons))
            for last, show_trakt, seasons in sorted(grouped, reverse=True):
                rows.append(
                    {
                        "last_collected_at": iso(last),
                        "last_updated_at": iso(last),
                        "show": media.raw(state.media(("show", show_trakt))),
                        "seasons": [
                            {
                                "number": number,
                                "episodes": [{"number": n, "collected_at": iso(at)} for n, at in sorted(eps.items())],
                            }
                            for number, eps in sorted(seasons.items())
                        ],
                    }
                )
        return rows

    return state.view("collection", name, build)


@endpoint
async def get_collection(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    name = request.path_params.get("type", "all")
    if name not in ("all", "movies", "shows"):
        raise BadRequest(404, "not_found", f"unknown type {name!r}")
    kinds = {"all": ("movie", "episode"), "movies": ("movie",), "shows": ("episode",)}[name]
    etag = etag_for(request, [state.digests["collection"][k] for k in kinds])
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    rows = _collection_rows(state, emu.media, name)
    page = page_of(request, len(rows), default=10, maximum=emu.settings.max_page_limit, always=False)
    window = rows[page.start : page.stop] if page else rows
    return json_response(window, headers={**(page.headers if page else {}), "ETag": etag})


@endpoint
async def add_collection(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    resolved = resolve(emu.catalog, await read_json(request), "episodes")
    now = now_ms()
    plan: dict[Key, int | None] = {}
    for target in resolved.targets:
        given = target.fields.get("collected_at")
        plan[key_of(target.media)] = None if given is None else when(target.fields, "collected_at", now)
    cap = emu.settings.cap("collection")
    fresh = sum(1 for key in plan if key not in state.collection)
    if cap is not None and fresh and len(state.collection) + fresh > cap:
        return account_limit(cap, "the collection")
    added, updated, existing = counts("movies", "episodes"), counts("movies", "episodes"), counts("movies", "episodes")
    for key, at in plan.items():
        plural = PLURAL[key[0]]
        old = state.collection.get(key)
        if old is None:
            state.collect(key, now if at is None else at)
            added[plural] += 1
        elif at is not None and at != old:
            state.collect(key, at)
            updated[plural] += 1
        else:
            existing[plural] += 1
    changed = {PLURAL[k[0]] for k, at in plan.items()}
    if any(added.values()) or any(updated.values()):
        state.activities.touch({(p, "collected_at") for p in changed}, now)
    summary = {"added": added, "updated": updated, "existing": existing, "not_found": resolved.not_found}
    return json_response(summary, 201)


@endpoint
async def remove_collection(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    resolved = resolve(emu.catalog, await read_json(request), "episodes")
    deleted = counts("movies", "episodes")
    for target in resolved.targets:
        key = key_of(target.media)
        if state.uncollect(key):
            deleted[PLURAL[key[0]]] += 1
    if any(deleted.values()):
        state.activities.touch({(p, "collected_at") for p, n in deleted.items() if n}, now_ms())
    return json_response({"deleted": deleted, "not_found": resolved.not_found})


ROUTES = [
    Route("/sync/collection", get_collection, methods=["GET"]),
    Route("/sync/collection", add_collection, methods=["POST"]),
    Route("/sync/collection/remove", remove_collection, methods=["POST"]),
    Route("/sync/collection/{type}", get_collection, methods=["GET"]),
]
