"""Trakt failures, each with a message a person can act on."""

from __future__ import annotations

import httpx

from crosswatch.http import HttpError, SignInError


class TraktError(HttpError):
    """A Trakt request failed for good."""


class TraktAuthError(TraktError, SignInError):
    """Not signed in, or the sign-in was refused: the user must run ``crosswatch auth trakt``."""

    PROVIDER = "TRAKT"


class AccountLimit(TraktError):
    """420: the account's cap for a list is reached (free accounts)."""

    def __init__(self, message: str, limit: int | None, response: httpx.Response | None = None) -> None:
        super().__init__(message, response)
        self.limit = limit


STATUS_MESSAGES = {
    400: "Trakt rejected the request as malformed (400)",
    403: "Trakt refused the API key (403): check trakt.client_id, or that the app is approved",
    404: "Trakt has no such resource (404)",
    409: "Trakt reports a conflict (409)",
    412: "Trakt refused the content type (412)",
    422: "Trakt could not process the request (422)",
    423: "the Trakt account is locked (423): unlock it on trakt.tv",
    426: "this needs Trakt VIP (426)",
    429: "Trakt kept rate-limiting (429) after every retry",
}
