"""``python -m crosswatch_jellyfin.emulator [jellyfin|emby]``: see :mod:`crosswatch_jellyfin.emulator.cli`."""

import sys

from crosswatch_jellyfin.emulator.cli import main

sys.exit(main(sys.argv[1:]))
