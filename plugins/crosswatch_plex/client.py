"""The PMS / plex.tv / Discover HTTP client: token and client headers, JSON containers, paging."""

from __future__ import annotations

from typing import Any

import anyio
import httpx

from crosswatch.http import HttpError, HttpPolicy, RetryPolicy, policy_for
from crosswatch.state import StateDir
from crosswatch_plex.config import PlexSettings
from crosswatch_plex.identity import PlexIdentity

SIGN_IN = "run `crosswatch auth plex`"


class PlexError(HttpError):
    """A Plex request failed for good; the message says which and why."""


def json_object(response: httpx.Response, what: str, error: type[HttpError] = HttpError) -> dict[str, Any]:
    """The JSON object of a successful Plex answer; ``error`` with a clear message otherwise."""
    status = response.status_code
    if status == 401:
        raise error(f"{what}: Plex refused the token (401): {SIGN_IN}", response)
    if status >= 300:
        raise error(f"{what}: Plex answered HTTP {status}", response)
    try:
        data = response.json()
    except ValueError as exc:
        raise error(f"{what}: Plex answered with something that is not JSON", response) from exc
    if not isinstance(data, dict):
        raise error(f"{what}: unexpected answer from Plex", response)
    return data


class PlexClient:
    """One Plex profile: its server, plex.tv and Discover, with the signed-in token."""

    def __init__(self, settings: PlexSettings, state: StateDir, profile: str = "default") -> None:
        self.settings = settings
        self.profile = profile
        self.identity = PlexIdentity(state, profile)
        workers = max(settings.rating_workers, settings.history_workers)
        self.policy: HttpPolicy = policy_for(
            f"PLEX:{settings.url}:{profile}", retry=RetryPolicy(max_retries=settings.max_retries), concurrency=workers
        )
        self._http: httpx.AsyncClient | None = None
        self._server_token = ""

    async def http(self) -> httpx.AsyncClient:
        if self._http is None:
            account = await anyio.to_thread.run_sync(self.identity.load)
            if account is None:
                raise PlexError(f"not signed in to Plex (profile {self.profile}): {SIGN_IN}")
            self._server_token = account.server_token
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.timeout_s),
                headers=self.identity.headers(account.client_id, account.token),
                verify=self.settings.verify_ssl,
                limits=httpx.Limits(max_connections=self.policy.concurrency + 2),
            )
        return self._http

    async def server_headers(self) -> dict[str, str] | None:
        """The server's own access token (from sign-in) for PMS calls, when there is one."""
        await self.http()
        return {"X-Plex-Token": self._server_token} if self._server_token else None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def get(
        self, path: str, *, base: str | None = None, params: dict[str, Any] | None = None, scope: str = "PLEX"
    ) -> dict[str, Any]:
        """One JSON ``MediaContainer`` (or plex.tv object) from ``base`` (default: the PMS)."""
        url = (base or self.settings.url).rstrip("/") + path
        headers = await self.server_headers() if base is None else None
        response = await self.policy.send(await self.http(), "GET", url, scope=scope, params=params, headers=headers)
        return self.check(response, f"GET {path}")

    def check(self, response: httpx.Response, what: str) -> dict[str, Any]:
        return json_object(response, what, PlexError)

    async def get_all(
        self, path: str, *, params: dict[str, Any] | None = None, page_size: int = 200, scope: str = "PLEX"
    ) -> list[dict[str, Any]]:
        """Every ``Metadata`` entry of a paged PMS listing; never a partial list."""
        query = {**(params or {}), "X-Plex-Container-Start": 0, "X-Plex-Container-Size": page_size}
        first = (await self.get(path, params=query, scope=scope)).get("MediaContainer", {})
        entries = list(first.get("Metadata") or ())
        total = first.get("totalSize")
        if not isinstance(total, int):
            if len(entries) >= page_size:
                raise PlexError(f"GET {path}: a full page came without totalSize; refusing a partial read")
            return entries
        starts = list(range(page_size, total, page_size))
        pages: dict[int, list[dict[str, Any]]] = {}

        async def fetch(start: int) -> None:
            body = (await self.get(path, params={**query, "X-Plex-Container-Start": start}, scope=scope)).get(
                "MediaContainer", {}
            )
            pages[start] = list(body.get("Metadata") or ())

        async with anyio.create_task_group() as tg:
            for start in starts:
                tg.start_soon(fetch, start)
        for start in starts:
            entries.extend(pages[start])
        if len(entries) != total:
            raise PlexError(f"GET {path}: read {len(entries)} of {total} items (the library changed while reading?)")
        return entries
