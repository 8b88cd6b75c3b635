"""The Jellyfin and Emby plugin (loaded through the ``crosswatch`` entry point ``jellyfin``).

For now this module only registers the emulators (``crosswatch emulator jellyfin|emby``);
the ``JELLYFIN`` and ``EMBY`` providers are added here later. Keep it small: the emulator
lives in :mod:`crosswatch_jellyfin.emulator` and is imported only when it is run.
"""

from __future__ import annotations

from crosswatch import hookimpl


@hookimpl
def crosswatch_emulators() -> dict[str, str]:
    return {
        "jellyfin": "crosswatch_jellyfin.emulator.cli:main_jellyfin",
        "emby": "crosswatch_jellyfin.emulator.cli:main_emby",
    }
