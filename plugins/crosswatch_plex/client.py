"""The PMS / plex.tv / Discover HTTP client: token and client headers, JSON containers, paging."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import msgspec

from crosswatch import progress
from crosswatch.http import HttpError, HttpPolicy, RetryPolicy, SignInError, policy_for, tls_context
from crosswatch.state import StateDir
from crosswatch_plex.config import PlexSettings
from crosswatch_plex.identity import PlexIdentity

SIGN_IN = "run `crosswatch auth plex`"


class PlexError(HttpError):
    """A Plex request failed for good; the message says which and why."""


class PlexSignInError(PlexError, SignInError):
    """Not signed in to Plex, or Plex refused the token."""

    PROVIDER = "PLEX"


def json_object(response: httpx.Response, what: str, error: type[HttpError] = HttpError) -> dict[str, Any]:
    """The JSON object of a successful Plex answer; ``error`` with a clear message otherwise."""
    status = response.status_code
    if status == 401:
        raise PlexSignInError(f"{what}: Plex refused the token (401): {SIGN_IN}", response)
    if status >= 300:
        raise error(f"{what}: Plex answered HTTP {status}", response)
    try:
        data = msgspec.json.decode(response.content)
    except (msgspec.DecodeError, RecursionError) as exc:
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
        self._sections: dict[str, Any] | None = None

    async def http(self) -> httpx.AsyncClient:
        if self._http is None:
            account = await anyio.to_thread.run_sync(self.identity.load)
            if account is None:
                raise PlexSignInError(
                    f"not signed in to Plex (profile {self.profile}): {SIGN_IN}", profile=self.profile
                )
            self._server_token = account.server_token
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.timeout_s),
                headers=self.identity.headers(account.client_id, account.token),
                verify=tls_context(self.settings.verify_ssl),
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

    async def sections(self) -> dict[str, Any]:
        """``/library/sections``, asked once per client (a run): libraries do not come and go mid-run."""
        if self._sections is None:
            self._sections = await self.get("/library/sections")
        return self._sections

    def check(self, response: httpx.Response, what: str) -> dict[str, Any]:
        return json_object(response, what, PlexError)

    async def get_all(
        self, path: str, *, params: dict[str, Any] | None = None, page_size: int = 200, scope: str = "PLEX"
    ) -> list[dict[str, Any]]:
        """Every ``Metadata`` entry of a paged PMS listing, each once and in order; never a partial list.

        The first page gives ``totalSize``; the other pages are fetched concurrently, at the
        number of entries the server really sent per page (a server may ignore the size asked
        for). Each entry is placed by its position (the page's start + its index), so pages that
        overlap never duplicate an entry; gaps left by shorter pages are fetched again. A listing
        that cannot be read whole, that changed while reading, or that holds more entries than
        its ``totalSize`` is refused with a :class:`PlexError`.
        """
        what = f"GET {path}"
        query = {**(params or {}), "X-Plex-Container-Size": page_size}

        async def page(start: int) -> tuple[list[dict[str, Any]], int | None]:
            body = await self.get(path, params={**query, "X-Plex-Container-Start": start}, scope=scope)
            return listing_page(body, what)

        entries, total = await page(0)
        if total is None:
            if len(entries) >= page_size:
                raise PlexError(f"{what}: a full page came without totalSize; refusing a partial read")
            return entries
        found: dict[int, dict[str, Any]] = {}

        def place(start: int, got: list[dict[str, Any]], got_total: int | None) -> None:
            if got_total is not None and got_total != total:
                raise PlexError(f"{what}: the listing changed while reading ({total} items, then {got_total})")
            if start + len(got) > total:
                raise PlexError(
                    f"{what}: Plex sent more items than its totalSize ({start + len(got)} > {total});"
                    " refusing an inconsistent read"
                )
            for position, entry in enumerate(got, start):
                seen = found.setdefault(position, entry)
                if seen is not entry and _identity(seen) != _identity(entry):
                    raise PlexError(f"{what}: the listing changed while reading (item {position} moved)")

        # a listing of more than one page is long work: shown as entries read (crosswatch.progress)
        bar = progress.task(f"{scope.replace(':', ' ', 1)}: reading", total=total) if total > len(entries) else None
        counted: set[int] = set()

        async def fetch(start: int, into: dict[int, tuple[list[dict[str, Any]], int | None]]) -> None:
            into[start] = got = await page(start)
            if bar is not None:  # each position once, though pages may overlap
                fresh = set(range(start, min(start + len(got[0]), total))) - counted
                counted.update(fresh)
                bar.advance(len(fresh))

        place(0, entries, total)
        if bar is not None:
            counted.update(found)
            bar.advance(len(counted))
        stride = len(entries)
        try:
            for _ in range(MAX_PAGING_ROUNDS):
                starts = _gap_starts(found, total, stride)
                if not starts:
                    break
                pages: dict[int, tuple[list[dict[str, Any]], int | None]] = {}
                async with anyio.create_task_group() as tg:
                    for start in starts:
                        tg.start_soon(fetch, start, pages)
                before = len(found)
                for start in starts:
                    place(start, *pages[start])
                    stride = max(stride, len(pages[start][0]))
                if len(found) == before:
                    break
        finally:
            if bar is not None:
                bar.done()
        if len(found) != total:
            raise PlexError(f"{what}: read {len(found)} of {total} items (the library changed while reading?)")
        return [found[position] for position in range(total)]


#: rounds of fetching the gaps a listing's pages left, before giving up on reading it whole
MAX_PAGING_ROUNDS = 4


def listing_page(body: dict[str, Any], what: str) -> tuple[list[dict[str, Any]], int | None]:
    """One page of a PMS listing: its ``Metadata`` entries and ``totalSize`` (None when absent)."""
    container = body.get("MediaContainer", {})
    if not isinstance(container, dict):
        raise PlexError(f"{what}: unexpected answer from Plex (MediaContainer is not an object)")
    entries = container.get("Metadata") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise PlexError(f"{what}: unexpected answer from Plex (Metadata is not a list of objects)")
    total = container.get("totalSize")
    if isinstance(total, str) and total.isascii() and total.isdigit():
        total = int(total)
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        total = None
    return entries, total


def _identity(entry: dict[str, Any]) -> tuple[Any, Any]:
    """What tells the entries of a listing apart: a history row's historyKey, an item's ratingKey."""
    return entry.get("historyKey"), entry.get("ratingKey")


def _gap_starts(found: dict[int, Any], total: int, stride: int) -> list[int]:
    """Where to ask for pages to fill the positions below ``total`` not read yet, ``stride`` apart."""
    starts: list[int] = []
    position = 0
    while position < total and stride > 0:
        if position in found:
            position += 1
            continue
        gap_end = position
        while gap_end < total and gap_end not in found:
            gap_end += 1
        starts += range(position, gap_end, stride)
        position = gap_end
    return starts
