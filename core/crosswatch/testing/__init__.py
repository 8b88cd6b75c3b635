"""Tests for crosswatch plugins: the provider contract suite, and a config directory to run commands in.

Needs pytest (8.3 or newer, in your plugin's test dependencies next to crosswatchd) and
anyio's pytest plugin, which comes with anyio and loads itself (under
``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` pass ``-p anyio``). Nothing else from crosswatch's own test
tree is needed: a plugin's project runs the suite with its own, or no, conftest.

The provider contract
---------------------

``ProviderContract`` holds the write semantics of ``crosswatch.provider.Provider`` as
checks. Subclass it in your plugin's tests; pytest collects every inherited check, runs it
once per feature your spec can read and add (remove checks: those it can also remove), on
asyncio and on trio. A complete test module for a provider ``MYBOX`` with an emulator::

    # tests/test_contract.py of the crosswatch-mybox project
    from collections.abc import AsyncIterator, Sequence
    from contextlib import asynccontextmanager
    from pathlib import Path

    import msgspec

    import crosswatch_mybox
    from crosswatch.emulation.server import serve_app
    from crosswatch.model import Feature, Item, MediaType
    from crosswatch.provider import Provider, ProviderContext
    from crosswatch.state import StateDir
    from crosswatch.testing import ProviderContract, registered_spec
    from crosswatch_mybox.config import MyboxSettings
    from crosswatch_mybox.emulator import MyboxEmulator


    class TestMyboxContract(ProviderContract):          # the name must start with "Test"
        spec = registered_spec(crosswatch_mybox, "MYBOX")  # as the plugin registers it

        @asynccontextmanager
        async def provider(self, config_dir: Path) -> AsyncIterator[Provider]:
            # a fresh emulator per check; the checks aclose() the provider themselves
            self.emu = MyboxEmulator(seed=3, size=60)
            async with serve_app(self.emu) as url:
                settings = msgspec.convert({"url": url, "api_key": self.emu.api_key}, MyboxSettings)
                state = StateDir(config_dir)  # save tokens here first if the provider reads them
                yield self.spec.factory(ProviderContext("MYBOX", "default", settings, state))

        def known_items(self, feature: Feature) -> Sequence[Item]:
            # titles the server has, by the ids another provider would send; no rating,
            # no watched_at: the checks add those. Ones already held are passed over.
            movies = self.emu.catalog.movies[:6]
            return [Item(type=MediaType.MOVIE, ids={"imdb": m.imdb, "tmdb": str(m.tmdb)}) for m in movies]

        # optional:
        # features = [Feature.WATCHLIST, Feature.RATINGS]      # default: all the spec supports
        # def unknown_item(self, feature): ...                  # default: a movie no database has
        # known_breaks = {("test_remove_of_absent_items_is_ok", Feature.HISTORY): "issue #12"}

Run it with ``pytest -v``: each check shows as ``test_...[ratings-trio]``. A failure names
the provider, the feature and the rule broken, with what was seen, e.g.::

    ContractBroken: MYBOX history breaks the rule: history: a play at the same watched_at is never added twice
      adding movie:imdb:tt0133704 (...) again changed the read: now also held: movie:imdb:tt0133704 2026-01-27T19:12:45Z

The checks (``RULES`` holds the rules' words):

- ``test_add_then_read_shows_the_items``: add reports each item ok and a read shows it with
  its value (rating, progress within 1 %, history: a play at its ``watched_at``, or a new play
  where the spec says ``keeps_watched_at=False``);
- ``test_adding_twice_is_adding_once``: a second add is ok and the read is unchanged
  (history: no second play);
- ``test_add_upserts_a_changed_value`` (ratings, progress): a new value replaces the old one,
  one entry per title;
- ``test_remove_then_read_shows_them_gone``: removing the provider's own copies (as read,
  with their ``extra``, as core passes them) leaves nothing of those titles;
- ``test_remove_of_absent_items_is_ok``: removing titles it does not hold (items as another
  provider sends them, no ``extra`` of its own) is ok and changes nothing;
- ``test_removing_a_play_removes_only_that_play`` (history): of two plays one is left (set
  ``history_remove_takes_all_plays = True`` if the service can only unmark a title, and say so
  in ``FeatureSupport.note``);
- ``test_every_item_lands_in_exactly_one_list``: found and unknown titles in one batch, for
  add, a repeated add and remove: each item back in exactly one of ok, failed, unresolved,
  frozen, counted by ``item_key``, each failure with a reason;
- ``test_unknown_title_is_unresolved_then_frozen``: an unknown title is unresolved with a
  reason, in the provider's ``UnresolvedStore`` (``crosswatch unresolved list``), then
  ``frozen`` on the next call and in a new instance on the same config directory;
- ``test_extra_of_another_provider_is_ignored``: items carrying other providers' ``extra``
  keys (those your own reads do not produce) are added and removed as without them;
- ``test_equal_copies_are_counted_by_item_key``: two equal copies in one call are both
  reported, and the title is held once (history: one play);
- ``test_aclose_once_after_use``: ``aclose()`` returns, on a used and on an unused instance.

A rule your provider breaks while you fix it goes into ``known_breaks`` as
``{(check name, feature): why}`` (feature None for ``test_aclose_once_after_use``): that check
is then an expected failure, and turns into an error once it passes (``strict=True``).
``call_timeout_s`` (default 60) bounds each provider call, so a hang fails with the call's name.

Plugin tests beyond the contract
--------------------------------

``config_dir`` (a pytest fixture; import it into your test module or conftest) gives a fresh
``ConfigDir``: write ``config.toml``, drop a one-file plugin into ``plugins.d/``, run the
``crosswatch`` command line in-process (``cli``) or as a child process (``run``), and read
what providers froze (``unresolved``)::

    from crosswatch.testing import ConfigDir, config_dir  # noqa: F401

    def test_plugin_is_listed(config_dir: ConfigDir) -> None:
        config_dir.write_config({"mybox": {"url": "http://127.0.0.1:9"}})
        listed = config_dir.cli("plugins", "list", "--json").json()
        assert any("MYBOX" in p["providers"] for p in listed)

``make_config_dir(folder)`` makes one outside a fixture (e.g. at module scope).
"""

from crosswatch.testing.configdir import CliResult, ConfigDir, config_dir, make_config_dir
from crosswatch.testing.contract import RULES, ContractBroken, ProviderContract, registered_spec

__all__ = [
    "RULES",
    "CliResult",
    "ConfigDir",
    "ContractBroken",
    "ProviderContract",
    "config_dir",
    "make_config_dir",
    "registered_spec",
]
