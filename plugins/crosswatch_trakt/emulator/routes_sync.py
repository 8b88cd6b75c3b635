"""``/sync/last_activities``, ``/users/settings``, ``/sync/watchlist`` and ``/sync/ratings``; shared route helpers.

Watchlist: entries keep their insertion order as ``rank``; a sent ``listed_at`` is ignored
(Trakt stamps the time it was added), ``notes`` are kept. ``sort_by`` rank, added, title,
released and runtime sort; other Trakt sorts (popularity, votes, ...) fall back to rank.
Ratings: re-rating counts as ``added``; a rating outside 1-10 refuses the request (422).
Both refuse a write that would pass the free cap whole (420), before applying anything.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.emulation.catalog import Episode, Media, Movie, Season, Show
from crosswatch_trakt.emulator.media import PLURAL
from crosswatch_trakt.emulator.resolve import Invalid, resolve
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
from crosswatch_trakt.emulator.settings import VIP_LIMITS
from crosswatch_trakt.emulator.times import iso, now_ms, parse_iso
from crosswatch_trakt.emulator.userstate import Key

ALL4 = ("movies", "shows", "seasons", "episodes")
KINDS_OF = {
    "all": ("movie", "show", "season", "episode"),
    "movies": ("movie",),
    "shows": ("show",),
    "seasons": ("season",),
    "episodes": ("episode",),
}
SORTABLE = ("rank", "added", "title", "released", "runtime")


def emulator(request: Request) -> Any:
    return request.app.state.emulator


def _kinds(request: Request, default: str = "all") -> tuple[str, tuple[str, ...]]:
    name = request.path_params.get("type", default)
    if name not in KINDS_OF:
        raise BadRequest(404, "not_found", f"unknown type {name!r}")
    return name, KINDS_OF[name]


def key_of(media: Media) -> Key:
    return (media.kind, media.trakt)


# -- last activities and settings -------------------------------------------------------------


@endpoint
async def last_activities(request: Request) -> Response:
    return json_response(emulator(request).state.activities.to_json())


@endpoint
async def user_settings(request: Request) -> Response:
    emu = emulator(request)
    s = emu.settings
    if s.vip:
        caps = VIP_LIMITS
    else:
        caps = {
            "list_count": s.list_limit,
            "list_items": s.list_item_limit,
            "watchlist": s.watchlist_limit,
            "collection": s.collection_limit,
            "ratings": s.ratings_limit,
        }
    user = {
        **emu.user,
        "private": s.private_profile,
        "vip": s.vip,
        "vip_ep": False,
        "vip_og": False,
        "vip_years": 1 if s.vip else 0,
    }
    return json_response(
        {
            "user": user,
            "account": {"timezone": "UTC", "date_format": "dmy", "time_24hr": True, "cover_image": None},
            "connections": dict.fromkeys(
                (
                    "facebook",
                    "twitter",
                    "mastodon",
                    "google",
                    "tumblr",
                    "medium",
                    "slack",
                    "apple",
                    "dropbox",
                    "microsoft",
                ),
                False,
            ),
            "sharing_text": {"watching": "I'm watching [item]", "watched": "I just watched [item]", "rated": None},
            "limits": {
                "list": {"count": caps["list_count"], "item_count": caps["list_items"]},
                "watchlist": {"item_count": caps["watchlist"]},
                "favorites": {"item_count": 50 if not s.vip else 100},
                "search": {"recent_count": 5 if not s.vip else 50},
                "collection": {"item_count": caps["collection"]},
                "notes": {"item_count": 100 if not s.vip else 10_000},
                "ratings": {"item_count": caps["ratings"]},
            },
        }
    )


# -- watchlist -------------------------------------------------------------------------------


def _sort_key(sort_by: str, media: Media) -> Any:
    if sort_by == "title":
        if isinstance(media, (Movie, Show)):
            return (media.title.lower(), 0, 0)
        show = media.show
        return (
            show.title.lower(),
            media.season if isinstance(media, Episode) else media.number,
            getattr(media, "number", 0),
        )
    if sort_by == "released":
        if isinstance(media, Movie):
            return media.released
        if isinstance(media, Show):
            return media.seasons[0].episodes[0].aired
        if isinstance(media, Season):
            return media.episodes[0].aired
        return media.aired
    if isinstance(media, Season):
        return media.show.runtime
    return media.runtime


@endpoint
async def get_watchlist(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    name, kinds = _kinds(request)
    sort_by = request.path_params.get("sort_by", "rank")
    sort_how = request.path_params.get("sort_how", "asc")
    if sort_how not in ("asc", "desc"):
        raise BadRequest(400, "bad_request", "sort_how must be asc or desc")
    etag = etag_for(request, [state.digests["watchlist"][k] for k in kinds])
    cached = not_modified(request, etag)
    if cached is not None:
        return cached

    def build() -> list[tuple[int, Any]]:
        ranked = [(rank, e) for rank, e in enumerate(state.watchlist.values(), 1) if e.key[0] in kinds]
        if sort_by == "added":
            ranked.sort(key=lambda pair: (pair[1].listed_at, pair[0]))
        elif sort_by in SORTABLE and sort_by != "rank":
            ranked.sort(key=lambda pair: (_sort_key(sort_by, state.media(pair[1].key)), pair[0]))
        if sort_how == "desc":
            ranked.reverse()
        return ranked

    ranked = state.view("watchlist", (name, sort_by, sort_how), build)
    s = emu.settings
    page = page_of(request, len(ranked), default=s.default_page_limit, maximum=s.max_page_limit, always=True)
    assert page is not None
    media = emu.media
    items = [
        media.attach({"rank": rank, "id": e.id, "listed_at": iso(e.listed_at), "notes": e.notes}, state.media(e.key))
        for rank, e in ranked[page.start : page.stop]
    ]
    applied = sort_by if sort_by in SORTABLE else "rank"
    headers = {
        **page.headers,
        "ETag": etag,
        "X-Sort-By": sort_by,
        "X-Sort-How": sort_how,
        "X-Applied-Sort-By": applied,
        "X-Applied-Sort-How": sort_how,
    }
    return json_response(items, headers=headers)


def _list_info(state: Any) -> dict[str, Any]:
    return {"updated_at": iso(state.activities.stamps["watchlist"]["updated_at"]), "item_count": len(state.watchlist)}


@endpoint
async def add_watchlist(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    resolved = resolve(emu.catalog, await read_json(request), "self")
    new: dict[Key, Any] = {}
    for target in resolved.targets:
        key = key_of(target.media)
        if key not in state.watchlist:
            new.setdefault(key, target)
    cap = emu.settings.cap("watchlist")
    if cap is not None and new and len(state.watchlist) + len(new) > cap:
        return account_limit(cap, "the watchlist")
    added, existing = counts(*ALL4), counts(*ALL4)
    now = now_ms()
    seen: set[Key] = set()
    for target in resolved.targets:
        key = key_of(target.media)
        if key in new and key not in seen:
            notes = target.fields.get("notes")
            state.watch(key, now, notes if isinstance(notes, str) else None)
            added[PLURAL[key[0]]] += 1
            seen.add(key)
        else:
            existing[PLURAL[key[0]]] += 1
    if seen:
        groups = {(PLURAL[k[0]], "watchlisted_at") for k in seen} | {("watchlist", "updated_at")}
        state.activities.touch(groups, now)
    summary = {"added": added, "existing": existing, "not_found": resolved.not_found, "list": _list_info(state)}
    return json_response(summary, 201)


@endpoint
async def remove_watchlist(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    resolved = resolve(emu.catalog, await read_json(request), "self")
    deleted = counts(*ALL4)
    gone: set[Key] = set()
    for target in resolved.targets:
        key = key_of(target.media)
        if state.unwatch(key):
            deleted[PLURAL[key[0]]] += 1
            gone.add(key)
    if gone:
        groups = {(PLURAL[k[0]], "watchlisted_at") for k in gone} | {("watchlist", "updated_at")}
        state.activities.touch(groups, now_ms())
    return json_response({"deleted": deleted, "not_found": resolved.not_found, "list": _list_info(state)})


# -- ratings ---------------------------------------------------------------------------------


def _rating_filter(request: Request) -> frozenset[int] | None:
    raw = request.path_params.get("rating")
    if raw is None:
        return None
    try:
        wanted = frozenset(int(part) for part in raw.split(","))
    except ValueError:
        raise BadRequest(400, "bad_request", "rating must be 1-10 or a comma list") from None
    if not all(1 <= r <= 10 for r in wanted):
        raise BadRequest(400, "bad_request", "rating must be 1-10")
    return wanted


@endpoint
async def get_ratings(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    name, kinds = _kinds(request)
    wanted = _rating_filter(request)
    etag = etag_for(request, [state.digests["ratings"][k] for k in kinds])
    cached = not_modified(request, etag)
    if cached is not None:
        return cached

    def build() -> list[Any]:
        rows = [r for r in state.ratings.values() if r.key[0] in kinds and (wanted is None or r.rating in wanted)]
        rows.sort(key=lambda r: (r.rated_at, r.key[1]), reverse=True)
        return rows

    rows = state.view("ratings", (name, wanted), build)
    page = page_of(request, len(rows), default=10, maximum=emu.settings.max_page_limit, always=False)
    window = rows[page.start : page.stop] if page else rows
    items = [emu.media.attach({"rated_at": iso(r.rated_at), "rating": r.rating}, state.media(r.key)) for r in window]
    return json_response(items, headers={**(page.headers if page else {}), "ETag": etag})


def when(fields: dict[str, Any], name: str, now: int) -> int:
    value = fields.get(name)
    if value is None:
        return now
    parsed = parse_iso(value)
    if parsed is None:
        raise Invalid(f"{name} is not an ISO 8601 time: {value!r}")
    return parsed


@endpoint
async def add_ratings(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    resolved = resolve(emu.catalog, await read_json(request), "self", own="rating")
    now = now_ms()
    plan: dict[Key, tuple[int, int]] = {}
    for target in resolved.targets:
        rating = target.fields.get("rating")
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 10:
            raise Invalid(f"rating must be an integer from 1 to 10, got {rating!r}")
        plan[key_of(target.media)] = (rating, when(target.fields, "rated_at", now))
    cap = emu.settings.cap("ratings")
    fresh = sum(1 for key in plan if key not in state.ratings)
    if cap is not None and fresh and len(state.ratings) + fresh > cap:
        return account_limit(cap, "ratings")
    added = counts(*ALL4)
    for key, (rating, rated_at) in plan.items():
        state.rate(key, rating, rated_at)
        added[PLURAL[key[0]]] += 1
    if plan:
        state.activities.touch({(PLURAL[k[0]], "rated_at") for k in plan}, now)
    return json_response({"added": added, "not_found": resolved.not_found}, 201)


@endpoint
async def remove_ratings(request: Request) -> Response:
    emu = emulator(request)
    state = emu.state
    resolved = resolve(emu.catalog, await read_json(request), "self")
    deleted = counts(*ALL4)
    gone = set()
    for target in resolved.targets:
        key = key_of(target.media)
        if state.unrate(key):
            deleted[PLURAL[key[0]]] += 1
            gone.add(key)
    if gone:
        state.activities.touch({(PLURAL[k[0]], "rated_at") for k in gone}, now_ms())
    return json_response({"deleted": deleted, "not_found": resolved.not_found})


ROUTES = [
    Route("/sync/last_activities", last_activities, methods=["GET"]),
    Route("/users/settings", user_settings, methods=["GET"]),
    Route("/sync/watchlist", get_watchlist, methods=["GET"]),
    Route("/sync/watchlist", add_watchlist, methods=["POST"]),
    Route("/sync/watchlist/remove", remove_watchlist, methods=["POST"]),
    Route("/sync/watchlist/{type}", get_watchlist, methods=["GET"]),
    Route("/sync/watchlist/{type}/{sort_by}", get_watchlist, methods=["GET"]),
    Route("/sync/watchlist/{type}/{sort_by}/{sort_how}", get_watchlist, methods=["GET"]),
    Route("/sync/ratings", get_ratings, methods=["GET"]),
    Route("/sync/ratings", add_ratings, methods=["POST"]),
    Route("/sync/ratings/remove", remove_ratings, methods=["POST"]),
    Route("/sync/ratings/{type}", get_ratings, methods=["GET"]),
    Route("/sync/ratings/{type}/{rating}", get_ratings, methods=["GET"]),
]
