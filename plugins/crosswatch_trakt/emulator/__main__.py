"""``python -m crosswatch_trakt.emulator``: see :mod:`crosswatch_trakt.emulator.cli`."""

import sys

from crosswatch_trakt.emulator.cli import main

sys.exit(main(sys.argv[1:]))
