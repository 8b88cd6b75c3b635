"""The Trakt HTTP client: headers, tokens (refresh before expiry and after a 401), pages, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import msgspec
import structlog

from crosswatch import __version__, progress
from crosswatch.http import HttpError, HttpPolicy, RetryPolicy, policy_for, ratelimit_state, tls_context
from crosswatch.logging import register_secret
from crosswatch.provider import file_prefix
from crosswatch.state import NoRoom, Reservation, StateDir
from crosswatch_trakt.config import TraktSettings
from crosswatch_trakt.errors import STATUS_MESSAGES, AccountLimit, TraktAuthError, TraktError
from crosswatch_trakt.tokens import Tokens, TokenStore

log = structlog.get_logger("crosswatch.trakt")

SIGN_IN_AGAIN = "sign in again with `crosswatch auth trakt`"


class TraktClient:
    """One Trakt account (profile) as crosswatch talks to it."""

    def __init__(self, settings: TraktSettings, state: StateDir, profile: str = "default") -> None:
        self.settings = settings
        self.profile = profile
        self.prefix = file_prefix("TRAKT", profile)
        self.state = state
        self.tokens = TokenStore(state, self.prefix)
        self.policy: HttpPolicy = policy_for(
            f"TRAKT:{settings.api_url}:{settings.client_id}:{profile}",
            retry=RetryPolicy(max_retries=settings.max_retries),
            write_interval=settings.write_interval_s,
            read_limit=settings.read_limit,
            read_period=settings.read_period_s,
            concurrency=settings.read_workers,
        )
        self._http: httpx.AsyncClient | None = None
        self._token: Tokens | None = None
        self._refresh_lock: anyio.Lock | None = None
        register_secret(settings.client_secret)

    # -- plumbing --------------------------------------------------------------------------

    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.timeout_s),
                headers={
                    "trakt-api-key": self.settings.client_id,
                    "trakt-api-version": "2",
                    "Content-Type": "application/json",
                    "User-Agent": f"crosswatch/{__version__}",
                },
                limits=httpx.Limits(max_connections=self.settings.read_workers + 2),
                verify=tls_context(),
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- tokens -------------------------------------------------------------------------------

    async def access_token(self) -> str:
        if self._token is None or self.tokens.retry_due():
            self._token = await self._load()
        token = self._token
        if token is None:
            raise TraktAuthError(
                f"not signed in to Trakt (profile {self.profile}): run `crosswatch auth trakt`", profile=self.profile
            )
        if token.client_id and token.client_id != self.settings.client_id:
            raise TraktAuthError(
                f"the saved Trakt sign-in belongs to another app (client_id changed): {SIGN_IN_AGAIN}",
                profile=self.profile,
            )
        if token.needs_refresh():
            await self.refresh(token)
        assert self._token is not None
        return self._token.access_token

    async def _load(self) -> Tokens | None:
        """The saved tokens, or refreshed ones kept in memory (saving them is tried again, under the lock)."""
        if not self.tokens.unsaved():
            return await anyio.to_thread.run_sync(self.tokens.load)
        async with self.state.alock(self.tokens.name):
            return await anyio.to_thread.run_sync(self.tokens.load)

    def _reserve(self) -> Reservation:
        """Room for the refreshed pair, before the refresh token is spent; a full disk stops here."""
        try:
            return self.tokens.reserve()
        except NoRoom as exc:
            raise TraktAuthError(
                f"cannot refresh the Trakt sign-in: {exc.reason} in {exc.path.parent}; free space there and "
                "try again (nothing was spent: the saved sign-in still holds)"
            ) from exc

    async def refresh(self, stale: Tokens | None, *, force: bool = False) -> Tokens:
        """Spend the refresh token once, with room for the new pair reserved; it is saved before it is used.

        A full disk refuses the refresh before anything is spent; a save that fails after the
        refresh keeps the new pair in memory (reported: the sign-in is at risk until it is saved).
        """
        if self._refresh_lock is None:
            self._refresh_lock = anyio.Lock()
        async with self._refresh_lock:
            current = self._token
            if current is not None and current is not stale and not current.needs_refresh():
                return current  # another task refreshed while we waited
            async with self.state.alock(self.tokens.name):
                on_disk = await anyio.to_thread.run_sync(self.tokens.load)
                if on_disk is None:
                    raise TraktAuthError(
                        f"not signed in to Trakt (profile {self.profile}): run `crosswatch auth trakt`"
                    )
                spent = stale.refresh_token if stale else None
                if on_disk.refresh_token != spent and not on_disk.needs_refresh():
                    self._token = on_disk  # another process refreshed already
                    return on_disk
                if not force and stale is not None and not on_disk.needs_refresh():
                    self._token = on_disk
                    return on_disk
                # the refresh token is single-use: room for the new pair is reserved before it is
                # sent, and once it is sent nothing may cancel us before the new pair is saved (a
                # shutdown, a sibling task failing), or kept in memory if saving fails after all
                room = await anyio.to_thread.run_sync(self._reserve)
                try:
                    with anyio.CancelScope(shield=True) as shield:
                        shield.deadline = anyio.current_time() + 3 * self.settings.timeout_s
                        tokens = await self._spend(on_disk)
                        await anyio.to_thread.run_sync(self.tokens.commit, tokens, on_disk.refresh_token, room)
                finally:
                    room.release()
                if shield.cancelled_caught:
                    raise TraktAuthError("refreshing the Trakt sign-in timed out; try again later")
                self._token = tokens
                log.info(
                    "trakt.token_refreshed", scope="TRAKT:auth", profile=self.profile, expires_at=tokens.expires_at
                )
                return tokens

    async def _spend(self, tokens: Tokens) -> Tokens:
        body = {
            "refresh_token": tokens.refresh_token,
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
            "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
            "grant_type": "refresh_token",
        }
        try:  # re-sending a refresh token is never worse than not: it works or gets invalid_grant
            response = await self.request(
                "POST",
                "/oauth/token",
                scope="TRAKT:auth",
                body=body,
                auth=False,
                base=self.settings.auth_url,
                idempotent=True,
            )
        except HttpError as exc:
            raise TraktAuthError(f"could not reach Trakt to refresh the sign-in ({exc}); try again later") from exc
        if response.status_code in (400, 401):
            error = _json_or_empty(response).get("error", "")
            raise TraktAuthError(
                f"Trakt refused the saved sign-in ({error or response.status_code}): {SIGN_IN_AGAIN}", response
            )
        data = self.check(response, "POST /oauth/token")
        return token_from(data, self.settings.client_id)

    # -- requests ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        auth: bool = True,
        base: str | None = None,
    ) -> httpx.Response:
        """Send one request (with the policy's retries); a 401 triggers one refresh and a re-send."""
        url = (base or self.settings.api_url).rstrip("/") + path
        content = msgspec.json.encode(body) if body is not None else None
        for attempt in (0, 1):
            extra = dict(headers or {})
            used = None
            if auth:
                extra["Authorization"] = f"Bearer {await self.access_token()}"
                used = self._token  # refresh only if this one is still current after a 401
            response = await self.policy.send(
                self.http(),
                method,
                url,
                scope=scope,
                idempotent=idempotent,
                params=params,
                content=content,
                headers=extra,
            )
            if response.status_code == 401 and auth and attempt == 0:
                log.warning("trakt.unauthorized", scope=scope, hint="refreshing the access token once")
                await self.refresh(used, force=True)
                continue
            return response
        return response

    def check(self, response: httpx.Response, what: str) -> Any:
        """The decoded JSON body of a successful response; a clear TraktError otherwise."""
        status = response.status_code
        if status == 401:
            raise TraktAuthError(f"{what}: Trakt rejected the access token (401): {SIGN_IN_AGAIN}", response)
        if status == 420:
            limit = response.headers.get("x-account-limit")
            raise AccountLimit(
                f"{what}: the Trakt account limit is reached (420; limit {limit or '?'}, VIP lifts it)",
                int(limit) if limit and limit.isdigit() else None,
                response,
            )
        if status >= 300:
            base = STATUS_MESSAGES.get(status) or f"Trakt answered HTTP {status}"
            if status == 429:
                base += f" ({ratelimit_state(response.headers)})"
            if _looks_html(response):
                base += " with an HTML page (a proxy or Cloudflare error?)"
            raise TraktError(f"{what}: {base}", response)
        if status == 204 or not response.content:
            return None
        if _looks_html(response):
            raise TraktError(
                f"{what}: Trakt answered with an HTML page, not JSON (a proxy or captive portal?)", response
            )
        try:
            return msgspec.json.decode(response.content)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise TraktError(f"{what}: malformed JSON from Trakt ({exc})", response) from exc

    async def get(self, path: str, *, scope: str, params: dict[str, Any] | None = None) -> Any:
        return self.check(await self.request("GET", path, scope=scope, params=params), f"GET {path}")

    async def post(self, path: str, body: Any, *, scope: str, idempotent: bool) -> Any:
        response = await self.request("POST", path, scope=scope, body=body, idempotent=idempotent)
        return self.check(response, f"POST {path}")

    async def get_pages(
        self,
        path: str,
        *,
        scope: str,
        params: dict[str, Any] | None = None,
        first_page: httpx.Response | None = None,
        transform: Callable[[list[Any]], list[Any]] | None = None,
    ) -> list[Any]:
        """Every page of a paginated list, read concurrently; never a partial list.

        ``first_page`` is page 1 when the caller already has it (a conditional GET);
        ``transform`` turns each page's entries into results as the page arrives, so parsing
        overlaps with the requests still in flight.
        """
        convert = transform or (lambda entries: entries)
        limit = self.settings.page_size
        query = {**(params or {}), "page": 1, "limit": limit}
        response = first_page or await self.request("GET", path, scope=scope, params=query)
        first = self.check(response, f"GET {path}")
        if not isinstance(first, list):
            raise TraktError(f"GET {path}: expected a list, got {type(first).__name__}", response)
        page_count = _int_header(response, "x-pagination-page-count")
        total = _int_header(response, "x-pagination-item-count")
        if page_count is None:
            if len(first) < limit:
                return convert(first)
            raise TraktError(
                f"GET {path}: a full page came without pagination headers; refusing a partial read", response
            )
        counts = [len(first)] + [0] * max(page_count - 1, 0)
        pages: list[list[Any]] = [convert(first)] + [[] for _ in range(page_count - 1)]
        numbers = iter(range(2, page_count + 1))

        async def worker() -> None:
            for number in numbers:
                reply = await self.request("GET", path, scope=scope, params={**query, "page": number})
                data = self.check(reply, f"GET {path} page {number}")
                if not isinstance(data, list):
                    raise TraktError(f"GET {path} page {number}: expected a list", reply)
                counts[number - 1] = len(data)
                pages[number - 1] = convert(data)
                bar.advance(1)

        # a list of more than one page is long work: shown as pages read (crosswatch.progress)
        what = f"{scope.replace(':', ' ', 1)}: reading"
        bar = progress.task(what, total=page_count, unit="pages") if page_count > 1 else progress.NO_TASK
        bar.advance(1)
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(min(self.settings.read_workers, page_count - 1)):
                    tg.start_soon(worker)
        finally:
            bar.done()
        if total is not None and sum(counts) != total:
            raise TraktError(f"GET {path}: read {sum(counts)} of {total} items (the list changed while reading?)")
        return [entry for page in pages for entry in page]


def token_from(data: Any, client_id: str) -> Tokens:
    """Tokens from an OAuth token response (``created_at`` filled in if Trakt left it out)."""
    if not isinstance(data, dict) or "access_token" not in data or "refresh_token" not in data:
        raise TraktError("Trakt's token response had no tokens")
    return Tokens(
        access_token=data["access_token"],
        refresh_token=data["refresh_token"],
        expires_in=int(data.get("expires_in") or 7 * 86_400),
        created_at=int(data.get("created_at") or time.time()),
        token_type=data.get("token_type", "bearer"),
        scope=data.get("scope", "public"),
        client_id=client_id,
    )


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    return int(value) if value and value.strip().isdigit() else None


def _looks_html(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "")
    return "html" in kind or response.content[:15].lstrip().lower().startswith((b"<!doctype", b"<html"))


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(response.content)
    except (msgspec.DecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
