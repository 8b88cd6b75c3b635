"""Bad answers from a Plex server: a clear error, never a crash and never a partial read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.http import HttpError
from crosswatch.model import Feature, Item, MediaType
from crosswatch.state import StateDir
from crosswatch.unresolved import list_unresolved
from crosswatch.web import WebApp, bind_socket, serve
from crosswatch_plex.client import PlexError
from crosswatch_plex.writes import NOT_IN_LIBRARY
from tests.test_plex_adapter import _provider
from tests.test_trakt_bad_input import FakeTrakt
from tests.test_trakt_bad_input import fake_trakt as fake_server


@pytest.mark.anyio
async def test_unreachable_server(tmp_path: Path) -> None:
    sock = bind_socket("127.0.0.1:0")
    port = sock.getsockname()[1]
    sock.close()
    plex = _provider(f"http://127.0.0.1:{port}", tmp_path, "token", max_retries=0)
    with pytest.raises(HttpError, match="ConnectError"):
        await plex.read(Feature.RATINGS)
    await plex.aclose()


@pytest.mark.anyio
async def test_an_answer_nested_too_deeply_is_a_plex_error(tmp_path: Path) -> None:
    async with fake_server() as (fake, url):
        fake.routes["GET /library/sections"] = (
            200,
            {},
            b'{"MediaContainer": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        )
        plex = _provider(url, tmp_path, "token", max_retries=0)
        with pytest.raises(PlexError, match="not JSON"):
            await plex.read(Feature.RATINGS)
        await plex.aclose()


@pytest.mark.anyio
async def test_malformed_json_and_a_full_page_without_a_total(tmp_path: Path) -> None:
    async with fake_server() as (fake, url):
        fake.routes["GET /library/sections"] = (200, {}, b'{"MediaContainer": {"Directory": [')
        plex = _provider(url, tmp_path, "token", max_retries=0)
        with pytest.raises(PlexError, match="not JSON"):
            await plex.read(Feature.RATINGS)
        sections = b'{"MediaContainer": {"Directory": [{"key": "1", "type": "movie", "title": "Movies"}]}}'
        fake.routes["GET /library/sections"] = (200, {}, sections)
        full_page = (
            b'{"MediaContainer": {"size": 200, "Metadata": ['
            + b",".join(b'{"ratingKey": "%d", "type": "movie", "title": "M", "userRating": 5}' % n for n in range(200))
            + b"]}}"
        )
        fake.routes["GET /library/sections/1/all"] = (200, {}, full_page)
        with pytest.raises(PlexError, match="without totalSize"):
            await plex.read(Feature.RATINGS)
        await plex.aclose()


@pytest.mark.anyio
async def test_a_server_error_is_reported_with_its_status(tmp_path: Path) -> None:
    async with fake_server() as (fake, url):
        fake.routes["GET /library/sections"] = (500, {"content-type": "text/html"}, b"<html>oops</html>")
        plex = _provider(url, tmp_path, "token", max_retries=0)
        with pytest.raises(PlexError, match="HTTP 500"):
            await plex.read(Feature.RATINGS)
        await plex.aclose()


# --- a fake PMS that pages, hydrates and takes writes (the Trakt fake answers fixed bodies) ---

Answer = tuple[int, dict[str, str], bytes]
SAME = object()  # a listing's totalSize: the number of its entries


class FakePlex(FakeTrakt):
    """The Trakt fake, whose ``handlers`` also answer from the request (its query, its path).

    A handler key ending in ``*`` matches every path it begins; ``calls`` keeps each request
    with its (unquoted) query.
    """

    def __init__(self) -> None:
        super().__init__()
        self.handlers: dict[str, Callable[[Request], Answer]] = {}

    async def __call__(self, scope, receive, send) -> None:
        request = Request(scope, receive)
        key = f"{request.method} {request.url.path}"
        handler = self.handlers.get(key) or next(
            (h for k, h in self.handlers.items() if k.endswith("*") and key.startswith(k[:-1])), None
        )
        if handler is None:
            await super().__call__(scope, receive, send)
            return
        self.calls.append(key + ("?" + unquote(request.url.query) if request.url.query else ""))
        status, headers, body = handler(request)
        await Response(body, status_code=status, headers={"content-type": "application/json", **headers})(
            scope, receive, send
        )

    def requests(self, prefix: str) -> list[str]:
        return [c for c in self.calls if c.startswith(prefix)]


@asynccontextmanager
async def fake_plex() -> AsyncIterator[tuple[FakePlex, str]]:
    fake = FakePlex()
    app = WebApp(lambda: {})
    app.set_routes([Route("/{path:path}", fake, methods=["GET", "POST", "PUT", "DELETE"])])
    sock = bind_socket("127.0.0.1:0")
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(serve, app, sock, stop.wait)
        try:
            yield fake, f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            stop.set()
    sock.close()


def _answer(container: dict[str, Any], status: int = 200) -> Answer:
    return status, {}, json.dumps({"MediaContainer": container}).encode()


def paged(
    entries: list[dict[str, Any]],
    *,
    length: Callable[[int, int], int] | None = None,
    total: Any = SAME,
) -> Callable[[Request], Answer]:
    """A PMS listing paged by X-Plex-Container-Start/Size.

    ``length(start, size)`` is how many entries the server really sends from ``start`` (default:
    ``size``, as asked); ``total`` the totalSize it reports (an int, None for none, or a function
    of ``start``).
    """

    def answer(request: Request) -> Answer:
        start = int(request.query_params.get("X-Plex-Container-Start", 0))
        size = int(request.query_params.get("X-Plex-Container-Size", len(entries)))
        sent = entries[start : start + (length(start, size) if length else size)]
        reported = len(entries) if total is SAME else total(start) if callable(total) else total
        container: dict[str, Any] = {"size": len(sent), "offset": start, "Metadata": sent}
        if reported is not None:
            container["totalSize"] = reported
        return _answer(container)

    return answer


def by_type(listings: dict[int, Callable[[Request], Answer]]) -> Callable[[Request], Answer]:
    """A section's ``/all``: one listing per ``type=`` (an empty one for the others)."""
    empty = paged([])
    return lambda request: listings.get(int(request.query_params["type"]), empty)(request)


def hydration(known: dict[str, dict[str, Any]]) -> Callable[[Request], Answer]:
    """``/library/metadata/{ids}`` as a PMS answers it: 400 for a batch with a malformed key."""

    def answer(request: Request) -> Answer:
        keys = request.url.path.removeprefix("/library/metadata/").split(",")
        if not all(k.isdigit() for k in keys):
            return _answer({}, status=400)  # one bad key breaks the whole batch
        found = [known[k] for k in keys if k in known]
        return _answer({"size": len(found), "Metadata": found}, status=200 if found else 404)

    return answer


def _sections(*sections: tuple[str, str]) -> Answer:
    directory = [{"key": key, "type": kind, "title": kind.title() + "s"} for key, kind in sections]
    return _answer({"size": len(directory), "Directory": directory})


_MISSING = object()  # a row without a ratingKey


def _movie(n: int, key: Any = None, **fields: Any) -> dict[str, Any]:
    movie = {
        "ratingKey": str(n) if key is None else key,
        "type": "movie",
        "title": f"Movie {n}",
        "year": 2000 + n % 20,
        "guid": f"plex://movie/{n:024x}",
        "Guid": [{"id": f"imdb://tt{n:07d}"}],
        "userRating": 1 + n % 10,
    }
    if key is _MISSING:
        del movie["ratingKey"]
    return {**movie, **fields}


BAD_KEYS = ["abc", "12;DROP", "../1", "", _MISSING, "1 2", "٣"]  # the last: an Arabic-Indic digit


def _play(n: int, key: Any, title: str | None = None) -> dict[str, Any]:
    row = {
        "historyKey": f"/status/sessions/history/{n}",
        "ratingKey": key,
        "librarySectionID": "1",
        "type": "movie",
        "title": title or f"Movie {key}",
        "viewedAt": 1_700_000_000 + n,
        "accountID": 1,
    }
    if key is _MISSING:
        del row["ratingKey"]
    return row


# --- non-numeric ratingKeys ---


@pytest.mark.anyio
async def test_history_rows_with_malformed_rating_keys_are_frozen_and_never_sent(tmp_path: Path) -> None:
    good = {str(n): _movie(n) for n in (101, 102, 103)}
    rows = [_play(1, "101"), _play(2, "102"), _play(3, 103)]  # a JSON number is a fine key too
    rows += [_play(10 + i, key, title=f"Bad {i}") for i, key in enumerate(BAD_KEYS)]
    async with fake_plex() as (fake, url):
        fake.handlers["GET /status/sessions/history/all"] = paged(rows)
        fake.handlers["GET /library/metadata/*"] = hydration(good)
        plex = _provider(url, tmp_path, "token", max_retries=0)
        plays = await plex.read(Feature.HISTORY)
        await plex.aclose()
    # the good plays are read whole, with their ids; the one hydration batch holds only real keys
    assert sorted(p.ids["imdb"] for p in plays) == ["tt0000101", "tt0000102", "tt0000103"]
    assert fake.requests("GET /library/metadata") == ["GET /library/metadata/101,102,103?includeGuids=1"]
    # each bad row ends in the unresolved file, as `crosswatch unresolved list` shows it
    frozen = list_unresolved(StateDir(tmp_path))
    assert {(r["provider"], r["feature"]) for r in frozen} == {("plex", "history")}
    assert sorted(r["item"]["title"] for r in frozen) == sorted(f"Bad {i}" for i in range(len(BAD_KEYS)))
    assert {r["item"]["extra"]["ratingKey"] for r in frozen} == {"abc", "12;DROP", "../1", "", "None", "1 2", "٣"}
    assert all(r["reason"] == "Plex no longer knows this item (metadata 404)" for r in frozen)


@pytest.mark.anyio
async def test_malformed_rating_keys_in_a_ratings_listing_are_never_hydrated(tmp_path: Path) -> None:
    show = {"ratingKey": "300", "type": "show", "title": "Show", "Guid": [{"id": "tvdb://81189"}]}

    def episode(n: int, show_key: Any) -> dict[str, Any]:
        return {
            "ratingKey": str(n),
            "type": "episode",
            "title": f"Episode {n}",
            "grandparentRatingKey": show_key,
            "parentRatingKey": "301",
            "grandparentTitle": "Show",
            "parentIndex": 1,
            "index": n - 400,
            "userRating": 6,
        }

    movies = [_movie(1), _movie(2, key="abc"), _movie(3, key="../1"), _movie(4, key=_MISSING)]
    episodes = [episode(401, "300"), episode(402, "12;DROP"), episode(403, "../../status")]
    seasons = [{"ratingKey": "301", "type": "season", "parentRatingKey": "../1", "index": 1, "userRating": 4}]
    async with fake_plex() as (fake, url):
        fake.routes["GET /library/sections"] = _sections(("1", "movie"), ("2", "show"))
        fake.handlers["GET /library/sections/1/all"] = by_type({1: paged(movies)})
        fake.handlers["GET /library/sections/2/all"] = by_type({3: paged(seasons), 4: paged(episodes)})
        fake.handlers["GET /library/metadata/*"] = hydration({"300": show})
        plex = _provider(url, tmp_path, "token", max_retries=0)
        items = await plex.read(Feature.RATINGS)
        await plex.aclose()
    assert fake.requests("GET /library/metadata") == ["GET /library/metadata/300?includeGuids=1"]
    rated = {(str(i.type), i.title or f"S{i.season}"): i for i in items}
    # every rated entry is still read with its own rating: a bad key only costs its show's ids
    assert {k: i.rating for k, i in rated.items()} == {
        ("movie", "Movie 1"): 2,
        ("movie", "Movie 2"): 3,
        ("movie", "Movie 3"): 4,
        ("movie", "Movie 4"): 5,
        ("episode", "Episode 401"): 6,
        ("episode", "Episode 402"): 6,
        ("episode", "Episode 403"): 6,
        ("season", "S1"): 4,
    }
    assert rated["episode", "Episode 401"].show_ids == {"tvdb": "81189"}
    assert rated["episode", "Episode 402"].show_ids == {} and rated["season", "S1"].show_ids == {}


@pytest.mark.anyio
async def test_a_library_item_with_a_malformed_key_is_not_written_to(tmp_path: Path) -> None:
    async with fake_plex() as (fake, url):
        fake.routes["GET /library/sections"] = _sections(("1", "movie"))
        fake.handlers["GET /library/sections/1/all"] = by_type({1: paged([_movie(1), _movie(2, key="../1")])})
        fake.handlers["PUT /:/rate"] = lambda request: (200, {}, b"")
        plex = _provider(url, tmp_path, "token", max_retries=0)
        items = [Item(type=MediaType.MOVIE, ids={"imdb": f"tt{n:07d}"}, rating=7) for n in (1, 2)]
        result = await plex.add(Feature.RATINGS, items)
        await plex.aclose()
    assert fake.requests("PUT") == ["PUT /:/rate?key=1&identifier=com.plexapp.plugins.library&rating=7"]
    assert result.ok == items[:1] and [reason for _, reason in result.unresolved] == [NOT_IN_LIBRARY]


@pytest.mark.anyio
async def test_a_library_with_a_malformed_key_is_refused_unless_not_wanted(tmp_path: Path) -> None:
    async with fake_plex() as (fake, url):
        fake.routes["GET /library/sections"] = _sections(("1", "movie"), ("../2", "show"))
        fake.handlers["GET /library/sections/1/all"] = by_type({1: paged([_movie(1)])})
        plex = _provider(url, tmp_path, "token", max_retries=0)
        with pytest.raises(PlexError, match=r"GET /library/sections: .*'Shows' with a key that is not a number"):
            await plex.read(Feature.RATINGS)
        await plex.aclose()
        only_movies = _provider(url, tmp_path, "token", max_retries=0, ratings={"libraries": [1]})
        assert [i.title for i in await only_movies.read(Feature.RATINGS)] == ["Movie 1"]
        await only_movies.aclose()
    assert not any("../2" in c or "/sections/%2E" in c for c in fake.calls)


# --- pages larger (or smaller) than asked ---

SERVERS = {
    "as asked": None,
    "everything at once": lambda start, size: 10_000,
    "250 a page": lambda start, size: 250,
    "uneven pages": lambda start, size: 150 + (start // 7) % 5 * 40,
    "at most 120 a page": lambda start, size: min(size, 120),
}


@pytest.mark.anyio
@pytest.mark.parametrize("server", list(SERVERS))
async def test_a_listing_is_read_exactly_whatever_the_page_length(tmp_path: Path, server: str) -> None:
    movies = [_movie(n) for n in range(1, 1001)]
    async with fake_plex() as (fake, url):
        fake.routes["GET /library/sections"] = _sections(("1", "movie"))
        fake.handlers["GET /library/sections/1/all"] = by_type({1: paged(movies, length=SERVERS[server])})
        plex = _provider(url, tmp_path, "token", max_retries=0)
        items = await plex.read(Feature.RATINGS)
        await plex.aclose()
    assert [i.ids["imdb"] for i in items] == [f"tt{n:07d}" for n in range(1, 1001)]  # each once, in order
    assert [i.rating for i in items] == [1 + n % 10 for n in range(1, 1001)]
    listing = [c for c in fake.requests("GET /library/sections/1/all") if "X-Plex-Container-Size=200" in c]
    if server == "everything at once":
        assert len(listing) == 1  # the first answer already held the whole listing


@pytest.mark.anyio
async def test_history_in_pages_larger_than_asked_has_every_play_once(tmp_path: Path) -> None:
    movies = {str(n): _movie(n) for n in range(1, 401)}
    rows = [_play(n, str(n % 400 + 1)) for n in range(1000)]  # most titles played more than once
    async with fake_plex() as (fake, url):
        fake.handlers["GET /status/sessions/history/all"] = paged(rows, length=lambda start, size: 250)
        fake.handlers["GET /library/metadata/*"] = hydration(movies)
        plex = _provider(url, tmp_path, "token", max_retries=0)
        plays = await plex.read(Feature.HISTORY)
        await plex.aclose()
    assert sorted(p.extra["historyKey"] for p in plays) == sorted(r["historyKey"] for r in rows)
    assert len({p.watched_at for p in plays}) == 1000
    assert list_unresolved(StateDir(tmp_path)) == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("listing", "message"),
    [
        # more entries than the totalSize the server gives: which ones are real is unknown
        (dict(total=990), r"Plex sent more items than its totalSize \(1000 > 990\)"),
        (dict(length=lambda start, size: 10_000, total=300), r"Plex sent more items than its totalSize \(1000 > 300\)"),
        (
            dict(length=lambda start, size: size + 1, total=500),
            r"Plex sent more items than its totalSize \(603 > 500\)",
        ),
        # a total the pages never reach
        (dict(length=lambda start, size: size if start < 400 else 0), r"read 400 of 1000 items"),
        (dict(length=lambda start, size: 0), r"read 0 of 1000 items"),
        # a full page without a total, even one larger than asked
        (dict(length=lambda start, size: 250, total=None), "a full page came without totalSize"),
        # the listing grew while the pages were read
        (
            dict(total=lambda start: 1000 if start == 0 else 1001),
            r"the listing changed while reading \(1000 items, then 1001\)",
        ),
    ],
)
async def test_a_listing_that_cannot_be_read_exactly_is_refused(
    tmp_path: Path, listing: dict[str, Any], message: str
) -> None:
    movies = [_movie(n) for n in range(1, 1001)]
    async with fake_plex() as (fake, url):
        fake.routes["GET /library/sections"] = _sections(("1", "movie"))
        fake.handlers["GET /library/sections/1/all"] = by_type({1: paged(movies, **listing)})
        plex = _provider(url, tmp_path, "token", max_retries=0)
        with pytest.raises(PlexError, match="GET /library/sections/1/all: " + message):
            await plex.read(Feature.RATINGS)
        await plex.aclose()


@pytest.mark.anyio
async def test_overlapping_pages_that_disagree_are_refused(tmp_path: Path) -> None:
    """A later page whose entries moved (an item was added at the top) is not stitched in."""
    movies = [_movie(n) for n in range(1, 1001)]
    shifted = [_movie(5000), *movies[:-1]]  # same total: one title added at the top, the last one gone
    lengths = {0: 250, 250: 100, 500: 300}  # pages 500 and 750 overlap; 350 is fetched again

    def answer(request: Request) -> Answer:
        start = int(request.query_params["X-Plex-Container-Start"])
        listing = shifted if start == 750 else movies
        return paged(listing, length=lambda start, size: lengths.get(start, 250))(request)

    async with fake_plex() as (fake, url):
        fake.routes["GET /library/sections"] = _sections(("1", "movie"))
        fake.handlers["GET /library/sections/1/all"] = by_type({1: answer})
        plex = _provider(url, tmp_path, "token", max_retries=0)
        with pytest.raises(PlexError, match=r"GET /library/sections/1/all: the listing changed while reading"):
            await plex.read(Feature.RATINGS)
        await plex.aclose()


@pytest.mark.anyio
async def test_an_answer_that_is_not_a_listing_is_refused(tmp_path: Path) -> None:
    bodies = [
        (b'{"MediaContainer": [1, 2]}', "MediaContainer is not an object"),
        (b'{"MediaContainer": {"totalSize": 2, "Metadata": {"ratingKey": "1"}}}', "Metadata is not a list"),
        (b'{"MediaContainer": {"totalSize": 2, "Metadata": [{"ratingKey": "1"}, 7]}}', "Metadata is not a list"),
    ]
    async with fake_plex() as (fake, url):
        fake.routes["GET /library/sections"] = _sections(("1", "movie"))
        plex = _provider(url, tmp_path, "token", max_retries=0)
        for body, message in bodies:
            probe = paged([_movie(1), _movie(2)])  # the read cache's one-entry probe gets a fine answer

            def answer(request: Request, body: bytes = body, probe=probe) -> Answer:
                return probe(request) if request.query_params["X-Plex-Container-Size"] == "1" else (200, {}, body)

            fake.handlers["GET /library/sections/1/all"] = answer
            with pytest.raises(
                PlexError, match=r"GET /library/sections/1/all: unexpected answer from Plex \(" + message
            ):
                await plex.read(Feature.RATINGS)
        await plex.aclose()
        fake.routes["GET /library/sections"] = (200, {}, b'{"MediaContainer": {"Directory": {"key": "1"}}}')
        plex = _provider(url, tmp_path, "token", max_retries=0)  # sections are asked once per provider
        with pytest.raises(PlexError, match="GET /library/sections: unexpected answer from Plex"):
            await plex.read(Feature.RATINGS)
        await plex.aclose()


def test_only_a_history_row_path_is_ever_deleted() -> None:
    from crosswatch_plex.writes import history_path

    assert history_path("/status/sessions/history/123") == "/status/sessions/history/123"
    assert history_path(123) == "/status/sessions/history/123"
    for bad in ("/library/sections/1", "/status/sessions/history/1/../../library", "../1", "", None, True, "12;x"):
        assert history_path(bad) is None, bad
