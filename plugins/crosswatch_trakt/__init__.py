"""The built-in Trakt plugin (provider ``TRAKT``), loaded through the ``crosswatch`` entry point.

This release declares the ``[trakt]`` config section; the adapter and the emulator are
built on top of it.
"""

from __future__ import annotations

from crosswatch import hookimpl
from crosswatch.config import ConfigSection

from crosswatch_trakt.config import TraktSettings


@hookimpl
def crosswatch_config_sections() -> list[ConfigSection]:
    return [ConfigSection("trakt", TraktSettings)]
