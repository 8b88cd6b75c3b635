"""Bad answers from Trakt (or a proxy in front of it): each is a clear error, never a partial read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.model import Feature, Item, MediaType
from crosswatch.state import StateDir
from crosswatch.web import WebApp, bind_socket, serve
from crosswatch_trakt.errors import TraktAuthError, TraktError
from tests.trakt_helpers import provider, save_tokens, settings_for

ACTIVITIES = {"all": "2026-01-01T00:00:00.000Z", "watchlist": {"updated_at": "x"}}


class FakeTrakt:
    """Answers each path with what the test puts in ``routes``: (status, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.calls: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        request = Request(scope, receive)
        key = f"{request.method} {request.url.path}"
        self.calls.append(key + ("?" + request.url.query if request.url.query else ""))
        default = (
            (200, {}, _json(ACTIVITIES)) if key == "GET /sync/last_activities" else (404, {}, b'{"error":"not found"}')
        )
        status, headers, body = self.routes.get(key, default)
        headers = {"content-type": "application/json", **headers}
        await Response(body, status_code=status, headers=headers)(scope, receive, send)


@asynccontextmanager
async def fake_trakt() -> AsyncIterator[tuple[FakeTrakt, str]]:
    fake = FakeTrakt()
    app = WebApp(lambda: {})
    app.set_routes([Route("/{path:path}", fake, methods=["GET", "POST", "DELETE"])])
    sock = bind_socket("127.0.0.1:0")
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(serve, app, sock, stop.wait)
        try:
            yield fake, f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            stop.set()
    sock.close()


def _json(data) -> bytes:
    return json.dumps(data).encode()


def _movie(n: int) -> dict:
    return {
        "rank": n,
        "id": n,
        "listed_at": "2026-01-01T00:00:00.000Z",
        "type": "movie",
        "movie": {"title": f"M{n}", "year": 2000, "ids": {"trakt": n, "imdb": f"tt{n:07d}"}},
    }


@pytest.mark.anyio
async def test_html_error_page_from_a_proxy(tmp_path: Path) -> None:
    async with fake_trakt() as (fake, url):
        fake.routes["GET /sync/watchlist"] = (
            502,
            {"content-type": "text/html"},
            b"<html><body>Bad gateway</body></html>",
        )
        trakt = provider(settings_for(url, max_retries=1), save_tokens(tmp_path))
        with pytest.raises(TraktError, match="HTML page"):
            await trakt.read(Feature.WATCHLIST)
        fake.routes["GET /sync/watchlist"] = (
            200,
            {"content-type": "text/html"},
            b"<!DOCTYPE html><p>captive portal</p>",
        )
        with pytest.raises(TraktError, match="HTML page, not JSON"):
            await trakt.read(Feature.WATCHLIST)
        await trakt.aclose()


@pytest.mark.anyio
async def test_an_answer_nested_too_deeply_is_a_trakt_error_and_a_deep_rate_header_is_ignored(tmp_path: Path) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    async with fake_trakt() as (fake, url):
        fake.routes["GET /sync/watchlist"] = (200, {"x-ratelimit": "[" * 3000 + "]" * 3000}, deep)
        trakt = provider(settings_for(url), save_tokens(tmp_path))
        with pytest.raises(TraktError, match="malformed JSON"):
            await trakt.read(Feature.WATCHLIST)
        await trakt.aclose()


@pytest.mark.anyio
async def test_malformed_json(tmp_path: Path) -> None:
    async with fake_trakt() as (fake, url):
        fake.routes["GET /sync/watchlist"] = (200, {}, b'[{"rank": 1, "type": "movie", ')
        trakt = provider(settings_for(url), save_tokens(tmp_path))
        with pytest.raises(TraktError, match="malformed JSON"):
            await trakt.read(Feature.WATCHLIST)
        await trakt.aclose()


@pytest.mark.anyio
async def test_a_full_page_without_pagination_headers_is_refused(tmp_path: Path) -> None:
    async with fake_trakt() as (fake, url):
        fake.routes["GET /sync/watchlist"] = (200, {}, _json([_movie(n) for n in range(1, 11)]))
        trakt = provider(settings_for(url, page_size=10), save_tokens(tmp_path))
        with pytest.raises(TraktError, match="without pagination headers"):
            await trakt.read(Feature.WATCHLIST)
        # a short page without headers is a whole (small) list
        fake.routes["GET /sync/watchlist"] = (200, {}, _json([_movie(n) for n in range(1, 4)]))
        assert len(await trakt.read(Feature.WATCHLIST)) == 3
        await trakt.aclose()


@pytest.mark.anyio
async def test_item_count_mismatch_is_refused(tmp_path: Path) -> None:
    async with fake_trakt() as (fake, url):
        headers = {"X-Pagination-Page": "1", "X-Pagination-Page-Count": "1", "X-Pagination-Item-Count": "5"}
        fake.routes["GET /sync/watchlist"] = (200, headers, _json([_movie(1), _movie(2)]))
        trakt = provider(settings_for(url), save_tokens(tmp_path))
        with pytest.raises(TraktError, match="read 2 of 5"):
            await trakt.read(Feature.WATCHLIST)
        await trakt.aclose()


@pytest.mark.anyio
async def test_unknown_media_types_are_skipped(tmp_path: Path) -> None:
    async with fake_trakt() as (fake, url):
        body = [_movie(1), {"rank": 2, "type": "person", "person": {"name": "X", "ids": {"trakt": 9}}}]
        fake.routes["GET /sync/watchlist"] = (
            200,
            {"X-Pagination-Page-Count": "1", "X-Pagination-Item-Count": "2"},
            _json(body),
        )
        trakt = provider(settings_for(url), save_tokens(tmp_path))
        items = await trakt.read(Feature.WATCHLIST)
        assert [i.title for i in items] == ["M1"]
        await trakt.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "pattern"),
    [(403, "API key"), (423, "locked"), (426, "VIP"), (404, "no such resource")],
)
async def test_account_and_key_errors_are_named(tmp_path: Path, status: int, pattern: str) -> None:
    async with fake_trakt() as (fake, url):
        fake.routes["GET /sync/watchlist"] = (status, {}, b"{}")
        trakt = provider(settings_for(url), save_tokens(tmp_path))
        with pytest.raises(TraktError, match=pattern):
            await trakt.read(Feature.WATCHLIST)
        await trakt.aclose()


@pytest.mark.anyio
async def test_401_refreshes_once_then_asks_to_sign_in_again(tmp_path: Path) -> None:
    async with fake_trakt() as (fake, url):
        fake.routes["GET /sync/watchlist"] = (401, {}, b"{}")
        fake.routes["POST /oauth/token"] = (400, {}, _json({"error": "invalid_grant", "error_description": "used"}))
        state = save_tokens(tmp_path)
        trakt = provider(settings_for(url), state)
        with pytest.raises(TraktAuthError, match="sign in again"):
            await trakt.read(Feature.WATCHLIST)
        assert fake.calls.count("POST /oauth/token") == 1
        # the saved tokens are still on disk: nothing is thrown away on a failed refresh
        assert (tmp_path / ".cw_state" / "trakt.tokens.json").exists()
        await trakt.aclose()


@pytest.mark.anyio
async def test_not_signed_in(tmp_path: Path) -> None:
    async with fake_trakt() as (fake, url):
        trakt = provider(settings_for(url), StateDir(tmp_path))
        with pytest.raises(TraktAuthError, match="crosswatch auth trakt"):
            await trakt.read(Feature.WATCHLIST)
        assert fake.calls == []
        await trakt.aclose()


@pytest.mark.anyio
async def test_items_without_ids_are_frozen_not_sent(tmp_path: Path) -> None:
    async with fake_trakt() as (fake, url):
        summary = {"added": {"movies": 1}, "existing": {}, "not_found": {"movies": [{"ids": {"imdb": "tt0000002"}}]}}
        fake.routes["POST /sync/watchlist"] = (201, {}, _json(summary))
        trakt = provider(settings_for(url), save_tokens(tmp_path))
        items = [
            Item(type=MediaType.MOVIE, ids={"imdb": "tt0000001"}),
            Item(type=MediaType.MOVIE, ids={"imdb": "tt0000002"}),
            Item(type=MediaType.MOVIE, title="Nameless"),
        ]
        result = await trakt.add(Feature.WATCHLIST, items)
        assert result.ok == items[:1]
        assert {i.title or i.ids["imdb"]: r for i, r in result.unresolved} == {
            "tt0000002": "not found on Trakt",
            "Nameless": "no Trakt, IMDb, TMDB or TVDB id",
        }
        frozen = json.loads((tmp_path / ".cw_state" / "trakt_watchlist.unresolved.json").read_text())
        assert len(frozen) == 2 and all(v["reason"] for v in frozen.values())
        # frozen items are not sent again
        fake.calls.clear()
        again = await trakt.add(Feature.WATCHLIST, items[1:])
        assert fake.calls == [] and again.frozen == items[1:] and not again.unresolved
        await trakt.aclose()


@pytest.mark.anyio
async def test_a_redirect_or_empty_answer_to_a_write_is_not_success(tmp_path: Path) -> None:
    async with fake_trakt() as (fake, url):
        trakt = provider(settings_for(url), save_tokens(tmp_path))
        items = [Item(type=MediaType.MOVIE, ids={"imdb": "tt0000001"})]
        fake.routes["POST /sync/watchlist"] = (308, {"location": "/elsewhere"}, b"")
        result = await trakt.add(Feature.WATCHLIST, items)
        assert not result.ok and len(result.failed) == 1 and "308" in result.failed[0][1]
        fake.routes["POST /sync/ratings"] = (201, {}, b"")
        rated = await trakt.add(Feature.RATINGS, [Item(type=MediaType.MOVIE, ids={"imdb": "tt0000001"}, rating=7)])
        assert not rated.ok and "no write summary" in rated.failed[0][1]
        await trakt.aclose()
