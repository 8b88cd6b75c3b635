"""The built-in Plex plugin (provider ``PLEX``), loaded through the ``crosswatch`` entry point.

This release declares the ``[plex]`` config section and ships the Plex emulator
(``crosswatch emulator plex``); the adapter is built on top of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from crosswatch import hookimpl
from crosswatch.config import ConfigSection
from crosswatch.provider import AuthContext
from crosswatch_plex.config import PlexSettings


@hookimpl
def crosswatch_config_sections() -> list[ConfigSection]:
    return [ConfigSection("plex", PlexSettings)]


async def _sign_in(ctx: AuthContext) -> None:
    from crosswatch_plex.auth import sign_in

    await sign_in(ctx)


@hookimpl
def crosswatch_auth_flows() -> dict[str, Callable[[AuthContext], Awaitable[None]]]:
    return {"plex": _sign_in}


@hookimpl
def crosswatch_emulators() -> dict[str, str]:
    return {"plex": "crosswatch_plex.emulator.cli:main"}
