"""HTTP to one Jellyfin or Emby server: the device headers, the token, the shared policy, errors.

Every request goes through the process-wide :class:`crosswatch.http.HttpPolicy` of the
profile (retries with backoff on 429/5xx and dropped connections, ``Retry-After`` honoured,
at most ``workers`` requests in flight). A refusal becomes one line for a person: a 401 is
a :class:`crosswatch.http.SignInError` naming the command that signs in again, anything
else an :class:`crosswatch.http.HttpError` with the method, path and status. The token is
sent in a header only (never in a URL) and is registered as a secret, so no log shows it.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

import crosswatch
from crosswatch.http import HttpError, OutcomeUnknown, RetryPolicy, SignInError, policy_for, tls_context
from crosswatch.logging import register_secret
from crosswatch_jellyfin.config import MediaServerSettings
from crosswatch_jellyfin.servers import ServerKind

CLIENT = "crosswatch"
#: JSON bodies, decoded in C: a large library's listing is tens of megabytes
_decode = msgspec.json.Decoder().decode


def new_device_id() -> str:
    """A device id of its own for a profile (kept in its sign-in file)."""
    return f"crosswatch-{uuid.uuid4().hex}"


def base_url(kind: ServerKind, url: str) -> str:
    """The URL routes go under: the configured one plus the server's base path (once)."""
    url = url.rstrip("/")
    if kind.base_path and not url.lower().endswith(kind.base_path):
        url += kind.base_path
    return url


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class MediaServerClient:
    """Requests to one server as one device; ``token`` and ``user_id`` once signed in."""

    def __init__(
        self,
        kind: ServerKind,
        settings: MediaServerSettings,
        profile: str,
        *,
        device_id: str,
        token: str = "",
        user_id: str = "",
    ) -> None:
        self.kind = kind
        self.settings = settings
        self.profile = profile
        self.url = settings.url.rstrip("/")
        self.base = base_url(kind, settings.url)
        self.device_id = device_id
        self.token = token
        self.user_id = user_id
        register_secret(token)
        self.http = httpx.AsyncClient(
            timeout=settings.timeout, verify=tls_context(settings.verify_ssl), headers={"Accept": "application/json"}
        )
        self.policy = policy_for(
            f"{kind.provider}:{self.url}:{profile}",
            retry=RetryPolicy(max_retries=settings.max_retries),
            concurrency=settings.workers,
        )

    @property
    def command(self) -> str:
        """The command that signs this profile in again."""
        suffix = "" if self.profile == "default" else f" --profile {self.profile}"
        return f"crosswatch auth {self.kind.section}{suffix}"

    def headers(self) -> dict[str, str]:
        """The Authorization header (device, and the token where the server takes it there)."""
        parts = []
        if self.kind.scheme == "Emby" and self.user_id:
            parts.append(f'UserId="{self.user_id}"')
        parts += [
            f'Client="{CLIENT}"',
            f'Device="{quote(socket.gethostname() or "crosswatch", safe="")}"',
            f'DeviceId="{quote(self.device_id, safe="")}"',
            f'Version="{crosswatch.__version__}"',
        ]
        out = {}
        if self.token and self.kind.token_in_authorization:
            parts.append(f'Token="{self.token}"')
        elif self.token:
            out["X-Emby-Token"] = self.token
        out["Authorization"] = f"{self.kind.scheme} " + ", ".join(parts)
        return out

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one request; the response whatever its status (transport failures raise HttpError)."""
        kwargs: dict[str, Any] = {"headers": self.headers()}
        if params:
            kwargs["params"] = {k: v for k, v in params.items() if v is not None}
        if json is not None:
            kwargs["json"] = json
        try:
            return await self.policy.send(
                self.http, method, self.base + path, scope=self.kind.provider, idempotent=idempotent, **kwargs
            )
        except OutcomeUnknown as exc:
            raise OutcomeUnknown(f"{self.kind.title} at {self.url}: {exc}", exc.response) from exc
        except SignInError:
            raise
        except HttpError as exc:
            raise HttpError(f"{self.kind.title} at {self.url}: {exc}", exc.response) from exc

    def check(self, response: httpx.Response, method: str, path: str) -> None:
        """Raise for a refusal: SignInError for 401, HttpError for every other status of 400 or more."""
        status = response.status_code
        if status < 400:
            return
        where = f"{method} {path}"
        if status == 401:
            raise SignInError(
                f"{self.kind.title} at {self.url} refused crosswatch's sign-in (HTTP 401 on {where}): "
                f"run `{self.command}`",
                response,
                provider=self.kind.provider,
                profile=self.profile,
            )
        text = _one_line(response.text) if response.text else response.reason_phrase
        if status == 403:
            raise HttpError(f"{self.kind.title}: {where}: refused (HTTP 403 {text}); is the user allowed to?", response)
        raise HttpError(f"{self.kind.title}: {where}: HTTP {status} {text}".rstrip(), response)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send, check, and return the JSON body (None for an empty one)."""
        response = await self.send(method, path, params=params, json=json, idempotent=idempotent)
        self.check(response, method, path)
        if not response.content:
            return None
        try:
            return _decode(response.content)
        except (msgspec.DecodeError, RecursionError):
            kind = response.headers.get("content-type", "?")
            raise HttpError(
                f"{self.kind.title}: {method} {path}: the answer is not JSON ({kind}); is {self.url} "
                f"a {self.kind.title} server?",
                response,
            ) from None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params=params)

    async def aclose(self) -> None:
        await self.http.aclose()
