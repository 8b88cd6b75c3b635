"""Shared pieces of the Trakt adapter tests: settings, saved tokens, a provider on a state dir."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

from crosswatch.provider import ProviderContext
from crosswatch.state import StateDir
from crosswatch_trakt.adapter import TraktProvider
from crosswatch_trakt.config import TraktSettings
from crosswatch_trakt.emulator import TraktEmulator
from crosswatch_trakt.tokens import Tokens, TokenStore


def settings_for(url: str, **overrides) -> TraktSettings:
    """Settings pointing at ``url``, fast enough for tests (no write pace, quick retries)."""
    base = {
        "client_id": "test-client",
        "client_secret": "test-secret",
        "api_url": url,
        "auth_url": url,
        "write_interval_s": 0.0,
        "read_limit": 0,
        "max_retries": 3,
        "timeout_s": 5.0,
    }
    return msgspec.convert({**base, **overrides}, TraktSettings)


def save_tokens(
    folder: Path,
    access: str = "access-1",
    refresh: str = "refresh-1",
    ttl: int = 86_400,
    client_id: str = "test-client",
) -> StateDir:
    state = StateDir(folder)
    state.ensure()
    TokenStore(state, "trakt").save(
        Tokens(
            access_token=access, refresh_token=refresh, expires_in=ttl, created_at=int(time.time()), client_id=client_id
        )
    )
    return state


def signed_in_to(emu: TraktEmulator, folder: Path) -> StateDir:
    """A state dir under ``folder`` holding a token the Trakt emulator ``emu`` issued (as `auth trakt` leaves)."""
    state = StateDir(folder)
    state.ensure()
    token = emu.issue_token()
    TokenStore(state, "trakt").save(
        Tokens(
            access_token=token["access_token"],
            refresh_token=token["refresh_token"],
            expires_in=token["expires_in"],
            created_at=token["created_at"],
            client_id=emu.client_id,
        )
    )
    return state


def provider(settings: TraktSettings, state: StateDir, profile: str = "default") -> TraktProvider:
    return TraktProvider(ProviderContext("TRAKT", profile, settings, state))
