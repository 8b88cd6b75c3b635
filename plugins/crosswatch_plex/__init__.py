"""The built-in Plex plugin (provider ``PLEX``), loaded through the ``crosswatch`` entry point.

This release declares the ``[plex]`` config section; the adapter and the emulator are built
on top of it.
"""

from __future__ import annotations

from crosswatch import hookimpl
from crosswatch.config import ConfigSection
from crosswatch_plex.config import PlexSettings


@hookimpl
def crosswatch_config_sections() -> list[ConfigSection]:
    return [ConfigSection("plex", PlexSettings)]
