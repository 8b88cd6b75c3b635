"""The Plex emulator: a real HTTP server that behaves like a Plex Media Server, plex.tv and Discover.

One server serves the three path sets (point ``plex.url``, ``plextv_url``, ``clients_url``,
``discover_url`` and ``metadata_url`` at it). It is seeded (``seed``, ``size`` titles) from the
provider-neutral catalogue (:mod:`crosswatch.emulation.catalog`), so a title has the same
imdb/tmdb/tvdb ids here as on the Trakt emulator of the same seed, and it keeps the state of
the server owner and two home users. Responses are XML by default and JSON with
``Accept: application/json``, shaped like ``shared/fixtures/plex`` and the PMS spec.

Start it in a test::

    from crosswatch.emulation.server import serve_app, serve_in_thread
    from crosswatch_plex.emulator import EmulatorSettings, PlexEmulator

    emu = PlexEmulator(seed=3, size=300, settings=EmulatorSettings(approve_after_polls=0))
    async with serve_app(emu) as url:           # asyncio or trio
        token = emu.owner_token                 # or sign in by PIN over HTTP
    with serve_in_thread(emu) as url:           # synchronous clients (python-plexapi)
        ...

or from a shell: ``python -m crosswatch_plex.emulator --port 0 --seed 3 --size 300``
(``crosswatch emulator plex ...``), which prints the ``[plex]`` TOML block first.

Served (details in the modules):

- :mod:`.routes_server`: ``/``, ``/identity``, ``/library``, ``/accounts``, ``/status/sessions``;
- :mod:`.routes_library`: ``/library/sections``, ``/library/sections/{id}/all`` (types,
  ``includeGuids``, filters and sorts of :mod:`.query`, paging), ``/library/metadata/{ids}``
  (+ ``/children``, ``/allLeaves``);
- :mod:`.routes_history`: ``/status/sessions/history/all`` and single rows;
- :mod:`.routes_actions`: ``/:/scrobble``, ``/:/unscrobble``, ``/:/rate``, ``/:/timeline``,
  ``/:/progress`` (with :mod:`.playback`);
- :mod:`.notify`: the notification websocket;
- :mod:`.routes_plextv`: PINs, ``/api/v2/user``, ``/api/v2/resources``, home users and switching;
- :mod:`.routes_discover`: the watchlist, Discover metadata, matches, search, add/remove;
- :mod:`.routes_emulator`: ``/_emulator`` controls (settings, faults, state, stats, tokens,
  PIN approval, play, rate, websocket drop, catalogue).

What the seeded library and state hold: :mod:`.library` (sections, ratingKeys, Discover keys,
guid styles) and :mod:`.generate`; the state JSON: :mod:`.statejson`; the knobs:
:mod:`.settings`; the gate (tokens, latency, faults): :mod:`.gate`. The scripted faults format,
the gate's shared half, the knob checks and the command line's common flags are in
:mod:`crosswatch.emulation` (``faults``, ``gate``, ``settings``, ``cli``).
"""

from crosswatch_plex.emulator.app import PlexEmulator
from crosswatch_plex.emulator.settings import EmulatorSettings

__all__ = ["EmulatorSettings", "PlexEmulator"]
