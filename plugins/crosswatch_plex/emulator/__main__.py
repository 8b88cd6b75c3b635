"""``python -m crosswatch_plex.emulator``: see :mod:`crosswatch_plex.emulator.cli`."""

import sys

from crosswatch_plex.emulator.cli import main

sys.exit(main(sys.argv[1:]))
