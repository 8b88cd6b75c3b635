"""The Jellyfin and Emby emulator: a real HTTP server that behaves like a Jellyfin 10.11 or an
Emby 4.9 media server (one API family; the differences are data, :mod:`.flavour`).

It is seeded (``seed``, ``size`` titles) from the provider-neutral catalogue
(:mod:`crosswatch.emulation.catalog`), so a title has the same IMDb/TMDB/TVDB ids here as on
the Plex and Trakt emulators of the same seed, and keeps the data of two users (an
administrator and an ordinary user), their sign-ins, an API key and a playlist. JSON is
PascalCase (camelCase on request), shaped as ``shared/api/JELLYFIN.md`` and the servers'
source describe.

Start it in a test::

    from crosswatch.emulation.server import serve_app, serve_in_thread
    from crosswatch_jellyfin.emulator import EmbyEmulator, EmulatorSettings, JellyfinEmulator

    emu = JellyfinEmulator(seed=3, size=300, settings=EmulatorSettings(approve_after_polls=0))
    async with serve_app(emu) as url:            # asyncio or trio
        token = emu.sign_in()                    # or POST /Users/AuthenticateByName
    with serve_in_thread(EmbyEmulator(seed=3)) as url:   # synchronous clients
        ...

or from a shell: ``crosswatch emulator jellyfin|emby --port 0 --seed 3 --size 300``
(``python -m crosswatch_jellyfin.emulator [jellyfin|emby] ...``), which prints the
``[jellyfin]``/``[emby]`` TOML block first, naming the users' passwords and the API key.

Served (details in the modules):

- :mod:`.routes_system`: ``/System/Info[/Public]``, ``/Users``, ``AuthenticateByName``,
  Quick Connect, ``/Auth/Keys``, logout;
- :mod:`.routes_items`: views, ``/Users/{id}/Items`` and ``/Items`` (the query of
  :mod:`.query`: parents, types, played/favourite filters, date-last-saved filters, sorts,
  paging), single items, resume, seasons and episodes, user data;
- :mod:`.routes_writes`: played/unplayed, favourites, likes, the UserData update (rules in
  :mod:`.userdata`);
- :mod:`.routes_playback`: ``/Sessions/Playing*``, the per-item forms, ``/Sessions``;
- :mod:`.routes_playlists`: playlists;
- :mod:`.notify`: the websocket (``ForceKeepAlive``, ``UserDataChanged``, ``Sessions``);
- :mod:`.routes_emulator`: ``/_emulator`` controls (settings, faults, state, stats, tokens,
  Quick Connect approval, touching items, playing, websocket drop, catalogue).

What the library and the seeded data hold: :mod:`.library`, :mod:`.generate`; the state
JSON: :mod:`.statejson`; the knobs: :mod:`.settings`; the gate (paths, tokens, latency,
limits, faults): :mod:`.gate`.
"""

from crosswatch_jellyfin.emulator.app import EmbyEmulator, JellyfinEmulator, MediaServerEmulator
from crosswatch_jellyfin.emulator.flavour import EMBY, JELLYFIN, Flavour
from crosswatch_jellyfin.emulator.settings import EmulatorSettings

__all__ = ["EMBY", "JELLYFIN", "EmbyEmulator", "EmulatorSettings", "Flavour", "JellyfinEmulator", "MediaServerEmulator"]
