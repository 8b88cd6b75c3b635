"""The provider contract suite (``crosswatch.testing``) run against PLEX and TRAKT and their emulators.

Each class is what a plugin's own test module looks like: a ``ProviderContract`` subclass that
starts its emulator, builds the provider signed in on the config directory it is given, and
names titles of the emulator's catalogue that the provider can find.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
import structlog

import crosswatch_plex
import crosswatch_trakt
from crosswatch.emulation.catalog import Catalog, Episode, Movie, Show
from crosswatch.emulation.server import serve_app
from crosswatch.model import Feature, Item, MediaType, item_key
from crosswatch.provider import Provider, ProviderContext
from crosswatch.state import StateDir
from crosswatch.testing import RULES, ContractBroken, ProviderContract, make_config_dir, registered_spec
from crosswatch.unresolved import UnresolvedStore
from crosswatch_plex.config import PlexSettings
from crosswatch_plex.emulator import PlexEmulator
from crosswatch_plex.emulator.library import MODERN
from crosswatch_plex.identity import PlexAccount, PlexIdentity
from crosswatch_trakt.config import TraktSettings
from crosswatch_trakt.emulator import EmulatorSettings, TraktEmulator
from tests.trakt_helpers import signed_in_to

SEED, SIZE = 5, 60


def movie_item(movie: Movie, *, trakt: bool) -> Item:
    ids = {"imdb": movie.imdb, "tmdb": str(movie.tmdb)} | ({"trakt": str(movie.trakt)} if trakt else {})
    return Item(type=MediaType.MOVIE, ids=ids, title=movie.title, year=movie.year)


def show_item(show: Show, *, trakt: bool) -> Item:
    ids = {"imdb": show.imdb, "tmdb": str(show.tmdb), "tvdb": str(show.tvdb)}
    return Item(
        type=MediaType.SHOW, ids=ids | ({"trakt": str(show.trakt)} if trakt else {}), title=show.title, year=show.year
    )


def episode_item(episode: Episode, *, trakt: bool) -> Item:
    show = episode.show
    ids = {"tvdb": str(episode.tvdb), "tmdb": str(episode.tmdb)} | ({"imdb": episode.imdb} if episode.imdb else {})
    return Item(
        type=MediaType.EPISODE,
        ids=ids | ({"trakt": str(episode.trakt)} if trakt else {}),
        show_ids={"imdb": show.imdb, "tmdb": str(show.tmdb), "tvdb": str(show.tvdb)},
        show_title=show.title,
        season=episode.season,
        episode=episode.number,
        title=episode.title,
    )


def candidates(catalog: Catalog, feature: Feature, usable: set[int], *, trakt: bool) -> list[Item]:
    """Titles of the catalogue in ``usable`` (by index), movies alternating with episodes (or shows)."""
    movies = [movie_item(m, trakt=trakt) for n, m in enumerate(catalog.titles) if isinstance(m, Movie) and n in usable]
    shows = [s for n, s in enumerate(catalog.titles) if isinstance(s, Show) and n in usable]
    if feature == Feature.WATCHLIST:
        others = [show_item(s, trakt=trakt) for s in shows]
    else:  # one episode a show, from its last season
        others = [episode_item(s.seasons[-1].episodes[-1], trakt=trakt) for s in shows]
    mixed = [i for pair in zip(movies, others, strict=False) for i in pair]
    return mixed[:12]


class TestPlexContract(ProviderContract):
    """PLEX against the Plex emulator: PMS for ratings, history and progress, Discover for the watchlist."""

    spec = registered_spec(crosswatch_plex, "PLEX")

    @asynccontextmanager
    async def provider(self, config_dir: Path) -> AsyncIterator[Provider]:
        self.emu = PlexEmulator(seed=SEED, size=SIZE)
        async with serve_app(self.emu) as url:
            state = StateDir(config_dir)
            PlexIdentity(state).save(PlexAccount(token=self.emu.owner_token, client_id="crosswatch-contract"))
            urls = dict.fromkeys(("url", "plextv_url", "clients_url", "discover_url", "metadata_url"), url)
            settings = msgspec.convert(urls, PlexSettings)
            yield self.spec.factory(ProviderContext("PLEX", "default", settings, state))

    def known_items(self, feature: Feature) -> Sequence[Item]:
        library = self.emu.library
        titles = self.emu.catalog.titles
        # the server shows external ids only for modern-agent titles; Discover knows every title
        usable = {n for n, t in enumerate(titles) if feature == Feature.WATCHLIST or library.style[t] == MODERN}
        return candidates(self.emu.catalog, feature, usable, trakt=True)


class TestTraktContract(ProviderContract):
    """TRAKT against the Trakt emulator, titles sent by IMDb/TMDB/TVDB ids (as from Plex)."""

    spec = registered_spec(crosswatch_trakt, "TRAKT")

    @asynccontextmanager
    async def provider(self, config_dir: Path) -> AsyncIterator[Provider]:
        self.emu = TraktEmulator(seed=SEED, size=SIZE, settings=EmulatorSettings(interval=0, post_limit=0))
        async with serve_app(self.emu) as url:
            state = signed_in_to(self.emu, config_dir)
            settings = msgspec.convert(
                {
                    "client_id": self.emu.client_id,
                    "client_secret": self.emu.client_secret,
                    "api_url": url,
                    "auth_url": url,
                    "write_interval_s": 0.0,
                    "read_limit": 0,
                },
                TraktSettings,
            )
            yield self.spec.factory(ProviderContext("TRAKT", "default", settings, state))

    def known_items(self, feature: Feature) -> Sequence[Item]:
        return candidates(self.emu.catalog, feature, set(range(len(self.emu.catalog.titles))), trakt=False)


# -- the suite itself: it passes a provider that keeps the contract, and catches each broken rule --

#: A one-file plugin with an in-memory provider MEMBOX that keeps the contract; ``DEFECTS``
#: names ways to break it (a test sets them on an instance). Kept as text: the standalone
#: test writes it into a project of its own.
MEMBOX = '''
"""MEMBOX: an in-memory provider keeping the crosswatch provider contract."""

from collections.abc import Callable, Sequence

import anyio
import msgspec

from crosswatch import hookimpl
from crosswatch.config import ConfigSection
from crosswatch.model import Feature, Item, MediaType, epoch_seconds, match_keys
from crosswatch.provider import FeatureSupport, ProviderContext, ProviderSpec, WriteResult, file_prefix
from crosswatch.unresolved import UnresolvedStore

SHOW = {"tvdb": "800001", "imdb": "tt9100001"}
CATALOG = [
    *(Item(type=MediaType.MOVIE, ids={"imdb": f"tt900000{n}", "tmdb": f"90000{n}"}, title=f"Movie {n}") for n in range(4)),
    *(
        Item(type=MediaType.EPISODE, ids={"tvdb": f"70000{n}"}, show_ids=SHOW, season=1, episode=n, show_title="Show")
        for n in range(1, 4)
    ),
]
FIELDS = ("listed_at", "rating", "rated_at", "watched_at", "progress_ms", "progress", "duration_ms", "paused_at")
DEFECTS = {
    "ignores_value", "appends", "absent_fails", "drops_last", "remove_noop", "removes_all_plays",
    "trusts_ratingkey", "counts_copies", "unknown_ok", "forgets_frozen", "keeps_no_store", "aclose_raises",
    "wrong_id",
}


class Membox:
    def __init__(self, ctx: ProviderContext, defects: frozenset[str] = frozenset()) -> None:
        assert defects <= DEFECTS, defects - DEFECTS
        self.id = "OTHER" if "wrong_id" in defects else ctx.provider_id
        self.profile = ctx.profile
        self.defects = defects
        self.unresolved = UnresolvedStore(ctx.state, file_prefix(ctx.provider_id, ctx.profile))
        self.held: dict[Feature, list[Item]] = {f: [] for f in Feature}

    def _find(self, item: Item) -> int | None:
        if "trusts_ratingkey" in self.defects and "ratingKey" in item.extra:
            return int(str(item.extra["ratingKey"])) % len(CATALOG)
        keys = set(match_keys(item))
        return next((n for n, c in enumerate(CATALOG) if keys & set(match_keys(c))), None)

    def _same(self, feature: Feature, held: Item, n: int, item: Item) -> bool:
        if held.extra["membox"] != n:
            return False
        return feature != Feature.HISTORY or epoch_seconds(held.watched_at) == epoch_seconds(item.watched_at)

    async def read(self, feature: Feature) -> list[Item]:
        await anyio.sleep(0)
        return list(self.held[feature])

    async def add(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        if "forgets_frozen" in self.defects:
            todo, frozen = list(items), []
        else:
            todo, frozen = await anyio.to_thread.run_sync(self.unresolved.split, str(feature), items)
        result = WriteResult(frozen=frozen)
        held = self.held[feature]
        for item in todo:
            n = self._find(item)
            if n is None:
                (result.ok.append(item) if "unknown_ok" in self.defects else result.unresolved.append((item, "no such title")))
                continue
            values = {} if "ignores_value" in self.defects else {f: getattr(item, f) for f in FIELDS}
            stored = msgspec.structs.replace(CATALOG[n], **values, extra={"membox": n})
            there = [h for h in held if self._same(feature, h, n, item)]
            if "counts_copies" in self.defects and item in result.ok:
                there = []
            if there and "appends" not in self.defects:
                held[held.index(there[0])] = stored if feature != Feature.HISTORY else there[0]
            else:
                held.append(stored)
            result.ok.append(item)
        if result.unresolved and "keeps_no_store" not in self.defects:
            await anyio.to_thread.run_sync(self.unresolved.freeze, str(feature), result.unresolved)
        if "drops_last" in self.defects and result.ok:
            result.ok.pop()
        return result

    async def remove(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        result = WriteResult()
        held = self.held[feature]
        for item in items:
            n = self._find(item)
            there = [h for h in held if n is not None and self._same(feature, h, n, item)]
            if "removes_all_plays" in self.defects:
                there = [h for h in held if h.extra["membox"] == n]
            if not there and "absent_fails" in self.defects:
                result.failed.append((item, "not there"))
                continue
            if "remove_noop" not in self.defects:
                for h in there:
                    held.remove(h)
            result.ok.append(item)
        return result

    async def aclose(self) -> None:
        if "aclose_raises" in self.defects:
            raise RuntimeError("connection pool already closed")


class MemboxSettings(msgspec.Struct, frozen=True):
    pass


@hookimpl
def crosswatch_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ProviderSpec("MEMBOX", Membox, {f: FeatureSupport() for f in Feature}, title="Membox"))


@hookimpl
def crosswatch_config_sections() -> list[ConfigSection]:
    return [ConfigSection("membox", MemboxSettings)]
'''

membox = types.ModuleType("crosswatch_membox_contract")
exec(compile(MEMBOX, "membox.py", "exec"), membox.__dict__)


class MemboxContract(ProviderContract):
    """MEMBOX under the contract, with ``defects`` switched on (not collected: no ``Test`` prefix)."""

    spec = registered_spec(membox, "MEMBOX")
    defects: frozenset[str] = frozenset()

    @asynccontextmanager
    async def provider(self, config_dir: Path) -> AsyncIterator[Provider]:
        yield membox.Membox(ProviderContext("MEMBOX", "default", None, StateDir(config_dir)), self.defects)

    def known_items(self, feature: Feature) -> Sequence[Item]:
        return membox.CATALOG


class TestMemboxContract(MemboxContract):
    """The whole suite passes a provider that keeps the contract."""


#: (defect, check, feature, the rule its failure must name)
CAUGHT = [
    ("ignores_value", "test_add_then_read_shows_the_items", Feature.RATINGS, "add"),
    ("ignores_value", "test_add_then_read_shows_the_items", Feature.HISTORY, "add"),
    ("appends", "test_adding_twice_is_adding_once", Feature.WATCHLIST, "add_once"),
    ("appends", "test_adding_twice_is_adding_once", Feature.HISTORY, "play_once"),
    ("appends", "test_add_upserts_a_changed_value", Feature.RATINGS, "upsert"),
    ("remove_noop", "test_remove_then_read_shows_them_gone", Feature.WATCHLIST, "remove"),
    ("absent_fails", "test_remove_of_absent_items_is_ok", Feature.RATINGS, "remove_absent"),
    ("removes_all_plays", "test_removing_a_play_removes_only_that_play", Feature.HISTORY, "one_play"),
    ("drops_last", "test_every_item_lands_in_exactly_one_list", Feature.WATCHLIST, "one_list"),
    ("unknown_ok", "test_unknown_title_is_unresolved_then_frozen", Feature.RATINGS, "unresolved"),
    ("keeps_no_store", "test_unknown_title_is_unresolved_then_frozen", Feature.HISTORY, "unresolved"),
    ("forgets_frozen", "test_unknown_title_is_unresolved_then_frozen", Feature.PROGRESS, "frozen"),
    ("trusts_ratingkey", "test_extra_of_another_provider_is_ignored", Feature.RATINGS, "extra"),
    ("counts_copies", "test_equal_copies_are_counted_by_item_key", Feature.WATCHLIST, "by_key"),
    ("aclose_raises", "test_aclose_once_after_use", None, "aclose"),
    ("wrong_id", "test_add_then_read_shows_the_items", Feature.WATCHLIST, "provider"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("defect", "check", "feature", "rule"), CAUGHT, ids=[f"{c[0]}-{c[1][5:]}" for c in CAUGHT])
async def test_the_suite_catches_each_broken_rule(
    defect: str, check: str, feature: Feature | None, rule: str, tmp_path: Path
) -> None:
    contract = MemboxContract()
    contract.defects = frozenset({defect})
    run = getattr(contract, check)
    with pytest.raises(ContractBroken) as caught:
        await (run(tmp_path) if feature is None else run(feature, tmp_path))
    message = str(caught.value)
    where = "MEMBOX" if rule in ("provider", "aclose") else f"MEMBOX {feature}"
    assert message.startswith(f"{where} breaks the rule: "), message
    assert RULES[rule] in message, message


STANDALONE_TEST = """
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import membox
from crosswatch.model import Feature, Item
from crosswatch.provider import Provider, ProviderContext
from crosswatch.state import StateDir
from crosswatch.testing import ConfigDir, ProviderContract, config_dir, registered_spec  # noqa: F401


class TestMembox(ProviderContract):
    spec = registered_spec(membox, "MEMBOX")
    known_breaks = {("test_removing_a_play_removes_only_that_play", Feature.HISTORY): "unmarks the title (issue 1)"}

    @asynccontextmanager
    async def provider(self, config_dir: Path) -> AsyncIterator[Provider]:
        context = ProviderContext("MEMBOX", "default", None, StateDir(config_dir))
        fixed = os.environ.get("MEMBOX_FIXED") == "1"
        yield membox.Membox(context, frozenset() if fixed else frozenset({"removes_all_plays"}))

    def known_items(self, feature: Feature) -> Sequence[Item]:
        return membox.CATALOG


def test_the_plugin_loads_as_a_drop_in(config_dir: ConfigDir) -> None:
    config_dir.drop_in(Path(__file__).with_name("membox.py"))
    config_dir.write_config({"membox": {}})
    for result in (config_dir.cli("plugins", "list", "--json"), config_dir.run("plugins", "list", "--json")):
        listed = {p["name"]: p for p in result.json()}
        assert listed["membox"]["status"] == "loaded" and listed["membox"]["providers"] == ["MEMBOX"]
    bad = config_dir.cli("no-such-command")
    assert bad.code == 2 and "invalid choice" in bad.err
"""


@pytest.mark.slow
def test_the_suite_runs_standalone_in_a_plugin_project(tmp_path: Path) -> None:
    """A project without crosswatch's conftest: both backends, known breaks as strict xfails, the fixtures."""
    project = tmp_path / "crosswatch-membox"
    project.mkdir()
    (project / "membox.py").write_text(MEMBOX)
    (project / "test_membox.py").write_text(STANDALONE_TEST)
    (project / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CROSSWATCH_", "MEMBOX_"))}
    env["PYTHONPATH"] = str(project)

    def pytest_in_project(*args: str, **more_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-v", "-rxX", *args],
            cwd=project,
            env=env | more_env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    done = pytest_in_project()
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-2000:]
    assert "crosswatch/tests/conftest.py" not in out and "rootdir: " + str(project) in out
    checks = [n for n in dir(ProviderContract) if n.startswith("test_")]
    for check in checks:  # every check ran on both backends
        assert f"::TestMembox::{check}[" in out, check
    assert out.count("-asyncio] PASSED") == out.count("-trio] PASSED") > len(checks)
    for backend in ("asyncio", "trio"):
        assert f"test_removing_a_play_removes_only_that_play[history-{backend}] XFAIL" in out
    assert "unmarks the title (issue 1)" in out
    assert "test_the_plugin_loads_as_a_drop_in PASSED" in out

    # once the break is fixed, the known break fails the run, so it is noticed
    fixed = pytest_in_project("-k", "removes_only_that_play", MEMBOX_FIXED="1")
    assert fixed.returncode == 1, fixed.stdout[-3000:]
    assert fixed.stdout.count("[XPASS(strict)] unmarks the title (issue 1)") == 2, fixed.stdout[-3000:]


@pytest.mark.slow
def test_a_config_dir_runs_the_command_line_in_process_and_as_a_child(tmp_path: Path) -> None:
    """What a provider froze shows the same through ``ConfigDir.unresolved`` and both ways of running commands."""
    folder = make_config_dir(tmp_path / "config")
    ghost = membox.CATALOG[0]
    UnresolvedStore(folder.state, "membox").freeze("ratings", [(ghost, "no such title on Membox")])
    logging_before = structlog.get_config()
    inside = folder.cli("unresolved", "list", "--json")
    assert structlog.get_config() == logging_before  # the command's logging set-up was put back
    child = folder.run("unresolved", "list", "--json")
    assert inside.code == child.code == 0, inside.err + child.err
    for rows in (inside.json(), child.json(), folder.unresolved()):
        assert [(r["key"], r["reason"]) for r in rows] == [(item_key(ghost), "no such title on Membox")]
    wrong = folder.cli("unresolved", "list", "--feature", "nonsense")
    assert wrong.code == 2 and "invalid choice" in wrong.err and not wrong.out
