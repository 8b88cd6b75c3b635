"""Building blocks shared by the provider emulators (``crosswatch_<provider>.emulator``).

- :mod:`crosswatch.emulation.catalog`: the seeded, provider-neutral catalogue of movies and
  shows; every emulator built from the same ``(size, seed)`` has the same titles and ids.
- :mod:`crosswatch.emulation.server`: serving an ASGI app on loopback, in a task group
  (``serve_app``), in a thread for synchronous clients (``serve_in_thread``), or in the
  foreground until SIGTERM/SIGINT (``serve_forever``).
- :mod:`crosswatch.emulation.gate`: the provider-neutral half of an emulator's gate (path
  normalising, request counting, latency, random errors, dropped connections, playing a
  scripted fault); each emulator subclasses ``Gate`` with its own checks and answers.
- :mod:`crosswatch.emulation.faults`: the scripted faults queue (``/_emulator/faults``).
- :mod:`crosswatch.emulation.stats`: request statistics (``/_emulator/stats``).
- :mod:`crosswatch.emulation.settings`: knobs checked at construction and on live updates.
- :mod:`crosswatch.emulation.cli`: the common flags, and serving from a command line with
  the TOML block printed first.
"""

from crosswatch.emulation.catalog import Catalog, Episode, Movie, Season, Show, build_catalog

__all__ = ["Catalog", "Episode", "Movie", "Season", "Show", "build_catalog"]
