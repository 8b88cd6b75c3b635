"""The shared HTTP policy for provider clients: retries, backoff, Retry-After, rate budgets.

One :class:`HttpPolicy` per provider account lives in the process (``policy_for``), so batch
syncs and live scrobbles of one Trakt account share one write pace and one read budget.
A write whose outcome is unknown (the connection dropped after sending, a 5xx that may have
been applied) is never blindly re-sent when the caller says it is not idempotent: it raises
:class:`OutcomeUnknown` and the caller reconciles (reads back) first.
"""

from __future__ import annotations

import functools
import json
import random
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.lowlevel
import httpx
import structlog

from crosswatch.crashpoints import crash_point
from crosswatch.errors import ProviderError, causes

log = structlog.get_logger("crosswatch.http")
T = TypeVar("T")

#: statuses that say "not done, try again later": safe to re-send even a non-idempotent write
RETRY_SAFE = frozenset({429})
#: statuses worth retrying, but whose write may have been applied (a proxy's 503 included)
RETRY_UNSURE = frozenset({500, 502, 503, 504, 520, 521, 522, 524})


class HttpError(ProviderError):
    """A request failed for good; the message says what and where."""

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response
        self.status = response.status_code if response is not None else None


class SignInError(HttpError):
    """A provider's sign-in is not usable (missing, expired, revoked, or its refresh failed).

    Providers raise it (or a subclass) so that core can say so in ``crosswatch status``, in
    ``/healthz`` and in the run history; the message tells the person what to run.
    """

    PROVIDER = ""  # a provider's subclass names its provider id, e.g. "TRAKT"

    def __init__(
        self, message: str, response: httpx.Response | None = None, *, provider: str = "", profile: str = ""
    ) -> None:
        super().__init__(message, response)
        self.provider = provider or self.PROVIDER
        self.profile = profile or "default"


class OutcomeUnknown(HttpError):
    """A non-idempotent write may or may not have been applied; reconcile before re-sending."""


@dataclass
class RetryPolicy:
    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0
    max_retry_after: float = 300.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


class LoopBound(Generic[T]):
    """A lazily made anyio primitive, made again when the event loop changes.

    anyio primitives belong to the loop that made them; the policies are process-wide and
    outlive loops (an in-process CLI run, tests on the other backend), keeping their numbers.
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._value: T | None = None
        self._loop: object = None

    def get(self) -> T:
        loop = anyio.lowlevel.current_token()
        if self._value is None or self._loop != loop:
            self._value, self._loop = self._make(), loop
        return self._value

    @property
    def made(self) -> T | None:
        """The primitive made last, if any (without making one)."""
        return self._value


class Pacer:
    """At most one call per ``interval`` seconds (Trakt: one write per second).

    The server counts a call when it arrives, which only its answer bounds: a call held back
    after its turn came (no free connection slot, a slow connect) would arrive closer than
    ``interval`` to the next one. So calls go one at a time, ``interval`` after the last answer.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        self._lock = LoopBound(anyio.Lock)

    async def wait(self) -> None:
        """Wait for a turn (a call with nothing to hold it back once the turn came)."""
        async with self.turn():
            pass

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the turn for one call: the next one goes ``interval`` after this block ends."""
        if self.interval <= 0:
            yield
            return
        async with self._lock.get():
            now = time.monotonic()
            if self._next > now:
                await anyio.sleep(self._next - now)
            try:
                yield
            finally:
                self._next = max(self._next, time.monotonic() + self.interval)

    def push_back(self, seconds: float) -> None:
        """The server asked us to wait: no call before ``seconds`` from now."""
        self._next = max(self._next, time.monotonic() + seconds)


class WindowBudget:
    """At most ``limit`` calls in any ``period`` seconds (Trakt: 1000 GETs per 300 s)."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self._stamps: deque[float] = deque()
        self._lock = LoopBound(anyio.Lock)

    async def wait(self) -> None:
        if self.limit <= 0:
            return
        async with self._lock.get():
            while True:
                now = time.monotonic()
                while self._stamps and self._stamps[0] <= now - self.period:
                    self._stamps.popleft()
                if len(self._stamps) < self.limit:
                    self._stamps.append(now)
                    return
                await anyio.sleep(self._stamps[0] + self.period - now)

    def remaining(self) -> int | None:
        """Calls left in the current window (None: no budget); read without waiting, for /metrics."""
        if self.limit <= 0:
            return None
        horizon = time.monotonic() - self.period
        return max(0, self.limit - sum(1 for stamp in list(self._stamps) if stamp > horizon))


@dataclass
class PolicyStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429s received
    by_method: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)  # "200", "429", ...; "error": no answer (for /metrics)

    def answered(self, status: str) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1


class HttpPolicy:
    """Timeouts, retries, backoff and rate budgets for one provider account."""

    def __init__(
        self,
        name: str,
        *,
        retry: RetryPolicy | None = None,
        write_interval: float = 0.0,
        read_limit: int = 0,
        read_period: float = 300.0,
        concurrency: int = 8,
    ) -> None:
        self.name = name
        self.writes = Pacer(write_interval)
        self.reads = WindowBudget(read_limit, read_period)
        self._limiter: LoopBound[anyio.CapacityLimiter] = LoopBound(lambda: anyio.CapacityLimiter(self.concurrency))
        self.stats = PolicyStats()
        self.configure(
            retry=retry or RetryPolicy(),
            write_interval=write_interval,
            read_limit=read_limit,
            read_period=read_period,
            concurrency=concurrency,
        )

    def configure(
        self,
        *,
        retry: RetryPolicy | None = None,
        write_interval: float = 0.0,
        read_limit: int = 0,
        read_period: float = 300.0,
        concurrency: int = 8,
    ) -> None:
        """Apply (new) settings, keeping the pace and budget already spent."""
        self.retry = retry or RetryPolicy()
        self.writes.interval = write_interval
        self.reads.limit, self.reads.period = read_limit, read_period
        self.concurrency = concurrency
        if self._limiter.made is not None:
            self._limiter.made.total_tokens = concurrency

    def _slots(self) -> anyio.CapacityLimiter:
        return self._limiter.get()

    async def send(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        scope: str = "",
        idempotent: bool | None = None,
        write: bool | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries; returns the final response (any status but the retried ones).

        ``idempotent`` defaults to True for GET/PUT/DELETE and False for POST. A
        non-idempotent request is retried only on statuses that say it was not applied.
        ``write`` defaults to "not a GET" (Plex marks a play watched with a GET: say so).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method != "POST"
        is_write = method != "GET" if write is None else write
        attempt = 0
        while True:
            slots = self._slots()
            if not is_write:
                await self.reads.wait()
            self.stats.requests += 1
            self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
            try:
                async with self.writes.turn() if is_write else nullcontext(), slots:
                    if is_write:
                        crash_point("http.write.before", f"{self.name} {method} {_path(url)}")
                    response = await client.request(method, url, **kwargs)
                    if is_write:
                        crash_point("http.write.after", f"{self.name} {method} {_path(url)} {response.status_code}")
            except httpx.TransportError as exc:
                self.stats.answered("error")
                sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
                if sent and not idempotent:
                    raise OutcomeUnknown(f"{method} {_path(url)}: {type(exc).__name__} after sending") from exc
                if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes(exc)):  # no retry makes it trusted
                    raise HttpError(
                        f"{method} {_path(url)}: the server's certificate is not trusted ({_why(exc)}); for a "
                        "server with a certificate of its own, set verify_ssl = false in its section"
                    ) from exc
                if attempt >= self.retry.max_retries:
                    raise HttpError(
                        f"{method} {_path(url)}: {type(exc).__name__}: {_why(exc)} (gave up after {attempt} retries)"
                    ) from exc
                delay = self.retry.backoff(attempt)
                log.warning(
                    "http.retry",
                    scope=scope,
                    method=method,
                    path=_path(url),
                    error=type(exc).__name__,
                    retry_in_s=round(delay, 2),
                )
            else:
                status = response.status_code
                self.stats.answered(str(status))
                if status not in RETRY_SAFE and status not in RETRY_UNSURE:
                    return response
                if status == 429:
                    self.stats.throttled += 1
                if status in RETRY_UNSURE and not idempotent:
                    raise OutcomeUnknown(
                        f"{method} {_path(url)}: HTTP {status}; the write may have been applied", response
                    )
                if attempt >= self.retry.max_retries:
                    return response
                asked = retry_after(response.headers)
                delay = self.retry.backoff(attempt) if asked is None else asked
                delay = min(delay, self.retry.max_retry_after)
                if status == 429 and is_write:
                    self.writes.push_back(delay)
                log.warning(
                    "http.retry",
                    scope=scope,
                    method=method,
                    path=_path(url),
                    status=status,
                    retry_in_s=round(delay, 2),
                    ratelimit=ratelimit_state(response.headers),
                )
            attempt += 1
            self.stats.retries += 1
            await anyio.sleep(delay)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def ratelimit_state(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """Trakt's ``X-Ratelimit`` JSON header, when present and readable."""
    value = headers.get("x-ratelimit")
    if not value:
        return None
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        return {"raw": value[:200]}
    return data if isinstance(data, dict) else None


def _why(exc: BaseException) -> str:
    """The first message along ``exc``'s causes: on trio, httpx's transport errors carry none."""
    return next((text for c in causes(exc) if (text := " ".join(str(c).split()))), "no reason given")


def _path(url: str) -> str:
    """The path of ``url``, as sent (for messages and logs; a hundredth of ``httpx.URL``'s cost)."""
    return urlsplit(url).path if "://" in url else url.split("?", 1)[0]


_policies: dict[str, HttpPolicy] = {}


def total_requests() -> int:
    """Requests sent so far by every provider account of this process (for run summaries)."""
    return sum(p.stats.requests for p in _policies.values())


def policies() -> list[HttpPolicy]:
    """Every provider account's policy in this process (the daemon's /metrics reads their stats)."""
    return list(_policies.values())


def read_budgets(provider: str) -> dict[str, int]:
    """Reads left in the current window, by profile, of ``provider``'s policies (e.g. ``TRAKT``).

    A policy is named ``<PROVIDER>:...:<profile>`` by its plugin; those without a budget are left out.
    """
    left = {}
    for policy in policies():
        if policy.name.startswith(f"{provider}:"):
            remaining = policy.reads.remaining()
            if remaining is not None:
                left[policy.name.rpartition(":")[2]] = remaining
    return left


@functools.cache
def tls_context(verify: bool = True) -> ssl.SSLContext:
    """The process's TLS context for provider clients (``httpx.AsyncClient(verify=...)``).

    Building one loads the CA bundle, about a quarter of a second: a client made per run
    (each provider instance makes its own) takes this shared one instead. ``verify=False``
    accepts any certificate (a server with a self-signed one, when the user says so).
    """
    return httpx.create_ssl_context(verify=verify)


def forget_policies() -> None:
    """Drop every account's policy: its pace, read budget and counts start over, as in a new process."""
    _policies.clear()


def policy_for(key: str, **settings: Any) -> HttpPolicy:
    """The process-wide policy for one provider account, created on first use.

    Later calls with settings (a config reload, a new provider instance) re-configure it;
    the pace and budget already spent carry over, so two users of one account share them.
    """
    policy = _policies.get(key)
    if policy is None:
        policy = _policies[key] = HttpPolicy(key, **settings)
    elif settings:
        policy.configure(**settings)
    return policy
