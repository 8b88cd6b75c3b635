"""The Trakt emulator: a real HTTP server that behaves like api.trakt.tv and auth.trakt.tv.

One server serves both path sets (point ``trakt.api_url`` and ``trakt.auth_url`` at it). It is
seeded (``seed``, ``size`` titles, optional ``plays``) from the provider-neutral catalogue
(:mod:`crosswatch.emulation.catalog`), keeps one user's state, and serves the endpoints of
``shared/api/TRAKT.md`` with Trakt's headers, status codes, pagination and JSON shapes.

Start it in a test::

    from crosswatch.emulation.server import serve_app, serve_in_thread
    from crosswatch_trakt.emulator import EmulatorSettings, TraktEmulator

    emu = TraktEmulator(seed=3, size=300, settings=EmulatorSettings(interval=0))
    async with serve_app(emu) as url:          # asyncio or trio
        tokens = emu.issue_token()             # {"access_token", "refresh_token", ...}
    with serve_in_thread(emu) as url:          # synchronous clients
        ...

or from a shell: ``python -m crosswatch_trakt.emulator --port 0 --seed 3 --size 300``
(``crosswatch emulator trakt ...``), which prints the ``[trakt]`` TOML block first.

Served (all JSON, shaped like ``shared/fixtures/trakt``):

- OAuth: ``POST /oauth/device/code``, ``/oauth/device/token``, ``/oauth/token`` (refresh_token,
  authorization_code), ``/oauth/revoke``; ``GET /activate?code=`` approves a device code.
- ``GET /sync/last_activities``; ``GET /users/settings``.
- ``GET /sync/watchlist[/{type}[/{sort_by}[/{sort_how}]]]``, ``POST /sync/watchlist[/remove]``.
- ``GET /sync/ratings[/{type}[/{rating}]]``, ``POST /sync/ratings[/remove]``.
- ``GET /sync/history[/{type}[/{id}]]?start_at&end_at``, ``POST /sync/history[/remove]``.
- ``GET /sync/playback[/{type}]``, ``DELETE /sync/playback/{id}``; ``GET /sync/watched/{type}``.
- ``GET /sync/collection[/{type}]``, ``POST /sync/collection[/remove]``.
- ``POST /scrobble/start|pause|stop``.
- ``GET /users/{me|slug}[?extended=full,vip]``; under it ``watched/{movies|shows}``,
  ``ratings[/{type}[/{rating}]]``, ``watchlist[/{type}[/{sort_by}[/{sort_how}]]]``,
  ``collection/{movies|shows}`` (the ``/sync`` lists), ``likes/{type}``; ``GET /users/likes/{type}``.
- ``GET /search/{trakt|imdb|tmdb|tvdb}/{id}?type=``; ``GET /shows/{id}/seasons[?extended=episodes,full]``.

Behaviour (details in the modules):

- :mod:`.gate`: header checks (400 version, 403 key, 412 content type, 401 token), the rate
  limits (429 + ``Retry-After`` + ``X-Ratelimit``), scripted and random faults, dropped connections.
- :mod:`.routes_auth`: the device flow's status codes; single-use refresh tokens.
- :mod:`.resolve`: how write bodies match the catalogue; ``not_found`` echoes.
- :mod:`.routes_sync`, :mod:`.routes_history`, :mod:`.routes_scrobble`: the endpoints;
  :mod:`.routes_users` (``/users/{id}``: who may read whom) and :mod:`.routes_lookup` (search
  by id, a show's seasons) serve what other clients (PyTrakt, PlexTraktSync) read.
  Pagination: history and watchlist always (default 100, ``limit`` clamped to 250); ratings,
  playback, collection and watched only when ``page`` or ``limit`` is given (default 10).
  Weak ETags on every list GET change exactly when the data shown changes; ``If-None-Match``
  gives a bodiless 304. A write that would pass a free cap is refused whole with 420.
- :mod:`.settings`: every knob (:class:`EmulatorSettings`).
- :mod:`.routes_emulator`: ``/_emulator`` controls (settings, faults, state, stats, tokens, ...).
- :mod:`.limits`: the rate-limit windows. :mod:`.statejson`: the state JSON shape. The scripted
  faults format, the gate's shared half, the knob checks and the command line's common flags
  are in :mod:`crosswatch.emulation` (``faults``, ``gate``, ``settings``, ``cli``).
- :mod:`.generate`: what the seeded user state holds.
"""

from crosswatch_trakt.emulator.app import TraktEmulator
from crosswatch_trakt.emulator.settings import EmulatorSettings

__all__ = ["EmulatorSettings", "TraktEmulator"]
