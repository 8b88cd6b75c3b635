"""The built-in Trakt plugin (provider ``TRAKT``), loaded through the ``crosswatch`` entry point."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from crosswatch import hookimpl
from crosswatch.config import ConfigSection
from crosswatch.model import Feature
from crosswatch.provider import (
    AuthContext,
    FeatureSupport,
    Provider,
    ProviderContext,
    ProviderSpec,
    SignInState,
    file_prefix,
)
from crosswatch.state import StateDir
from crosswatch_trakt.config import TraktSettings

FEATURES = {
    Feature.WATCHLIST: FeatureSupport(),
    Feature.RATINGS: FeatureSupport(),
    Feature.HISTORY: FeatureSupport(),
    Feature.PROGRESS: FeatureSupport(note="written as a paused scrobble; Trakt keeps playback about 6 months"),
}


def _build(ctx: ProviderContext) -> Provider:
    from crosswatch_trakt.adapter import TraktProvider  # httpx and friends only when a provider is built

    return TraktProvider(ctx)


async def _sign_in(ctx: AuthContext) -> None:
    from crosswatch_trakt.auth import sign_in

    await sign_in(ctx)


@hookimpl
def crosswatch_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(
        ProviderSpec(
            "TRAKT",
            _build,
            FEATURES,
            title="Trakt",
        )
    )


@hookimpl
def crosswatch_auth_flows() -> dict[str, Callable[[AuthContext], Awaitable[None]]]:
    return {"trakt": _sign_in}


@hookimpl
def crosswatch_emulators() -> dict[str, str]:
    return {"trakt": "crosswatch_trakt.emulator.cli:main"}


@hookimpl
def crosswatch_sign_in_state(section: str, profile: str, state: StateDir) -> SignInState | None:
    if section != "trakt":
        return None
    from crosswatch_trakt.tokens import TokenStore

    tokens = TokenStore(state, file_prefix("TRAKT", profile)).load()
    if tokens is None:
        return SignInState(False, "not signed in: run `crosswatch auth trakt`")
    if tokens.expires_at <= time.time():
        return SignInState(
            False, "the sign-in expired: run `crosswatch auth trakt`", tokens.expires_at, tokens.created_at
        )
    return SignInState(True, "", tokens.expires_at, tokens.created_at)


@hookimpl
def crosswatch_config_sections() -> list[ConfigSection]:
    return [ConfigSection("trakt", TraktSettings)]
