"""Bad answers from a Plex server: a clear error, never a crash and never a partial read."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswatch.http import HttpError
from crosswatch.model import Feature
from crosswatch.web import bind_socket
from crosswatch_plex.client import PlexError
from tests.test_plex_adapter import _provider
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
