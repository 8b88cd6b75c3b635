"""The built-in Plex plugin (provider ``PLEX``), loaded through the ``crosswatch`` entry point.

This release declares the ``[plex]`` config section and ships the Plex emulator
(``crosswatch emulator plex``); the adapter is built on top of them.
"""

from __future__ import annotations

from crosswatch import hookimpl
from crosswatch.config import ConfigSection
from crosswatch_plex.config import PlexSettings


@hookimpl
def crosswatch_config_sections() -> list[ConfigSection]:
    return [ConfigSection("plex", PlexSettings)]


@hookimpl
def crosswatch_emulators() -> dict[str, str]:
    return {"plex": "crosswatch_plex.emulator.cli:main"}
