"""Building blocks shared by the provider emulators (``crosswatch_<provider>.emulator``).

- :mod:`crosswatch.emulation.catalog`: the seeded, provider-neutral catalogue of movies and
  shows; every emulator built from the same ``(size, seed)`` has the same titles and ids.
- :mod:`crosswatch.emulation.server`: serving an ASGI app on loopback, in a task group
  (``serve_app``), in a thread for synchronous clients (``serve_in_thread``), or in the
  foreground until SIGTERM/SIGINT (``serve_forever``).
"""

from crosswatch.emulation.catalog import Catalog, Episode, Movie, Season, Show, build_catalog

__all__ = ["Catalog", "Episode", "Movie", "Season", "Show", "build_catalog"]
