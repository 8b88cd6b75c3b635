"""Scrobble targets that misbehave or cannot take what is sent, on both anyio backends.

A third party's target (a drop-in) sits before Trakt in ``scrobble.targets``: its failures,
even a bug, must not stop scrobbles reaching Trakt; a target that keeps no ratings is never
asked to write one; after a config reload the targets are built again from the new config.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import tomli_w

from crosswatch.bus import EventBus
from crosswatch.commands.common import plugin_host
from crosswatch.config import Config, load_config
from crosswatch.emulation.server import serve_app
from crosswatch.events import ConfigReloaded, PlaybackObserved, RatingObserved
from crosswatch.model import Item, MediaType
from crosswatch.scrobble.router import ScrobbleRouter
from crosswatch_trakt.emulator import EmulatorSettings as TraktSettings
from crosswatch_trakt.emulator import TraktEmulator
from tests.conditions import wait_until
from tests.trakt_helpers import signed_in_to

pytestmark = pytest.mark.anyio

#: a target that writes what it is asked to a JSON-lines file, and fails as its settings say
JOURNAL_TARGET = textwrap.dedent(
    """\
    import json
    from pathlib import Path

    import msgspec
    from crosswatch import hookimpl
    from crosswatch.config import ConfigSection
    from crosswatch.errors import ProviderError
    from crosswatch.model import Feature
    from crosswatch.provider import FeatureSupport, ProviderSpec, WriteResult


    class Settings(msgspec.Struct, frozen=True):
        fail: str = ""  # "", "provider" or "bug"
        label: str = "first"


    class Journal:
        def __init__(self, ctx):
            self.id, self.profile, self.settings = ctx.provider_id, ctx.profile, ctx.settings
            self.file = Path(ctx.config_dir) / "journal.jsonl"

        def _note(self, **what):
            with open(self.file, "a") as fh:
                fh.write(json.dumps({"label": self.settings.label, **what}) + "\\n")

        async def scrobble(self, action, item, progress):
            self._note(call="scrobble", action=action)
            if self.settings.fail == "provider":
                raise ProviderError("journal: the disk is read-only")
            if self.settings.fail == "bug":
                raise RuntimeError("journal: a bug")
            return "ok"

        async def read(self, feature):
            return []

        async def add(self, feature, items):
            self._note(call="add", feature=str(feature))
            return WriteResult(ok=list(items))

        async def remove(self, feature, items):
            self._note(call="remove", feature=str(feature))
            return WriteResult(ok=list(items))

        async def aclose(self):
            self._note(call="aclose")


    @hookimpl
    def crosswatch_register_providers(register):
        # history only: it keeps no ratings
        register(ProviderSpec("JOURNAL", Journal, {Feature.HISTORY: FeatureSupport()}))


    @hookimpl
    def crosswatch_config_sections():
        return [ConfigSection("journal", Settings)]
    """
)


class Rig:
    def __init__(self, emu: TraktEmulator, folder: Path, bus: EventBus, router: ScrobbleRouter, config: Config):
        self.emu, self.folder, self.bus, self.router, self.config = emu, folder, bus, router, config

    def journal(self) -> list[dict[str, Any]]:
        path = self.folder / "journal.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def trakt_plays(self, trakt_id: int) -> int:
        return sum(1 for e in self.emu.state_json()["history"] if e["type"] == "movie" and e["trakt"] == trakt_id)


@asynccontextmanager
async def rig(tmp_path: Path, fail: str = "") -> AsyncIterator[Rig]:
    emu = TraktEmulator(seed=5, size=60, settings=TraktSettings(interval=0, post_limit=0, approve_after_polls=0))
    state = signed_in_to(emu, tmp_path)
    (tmp_path / "plugins.d").mkdir()
    (tmp_path / "plugins.d" / "journal.py").write_text(JOURNAL_TARGET)
    async with serve_app(emu) as url:
        config = {
            "daemon": {"listen": ""},
            "journal": {"fail": fail},
            "trakt": {
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "api_url": url,
                "auth_url": url,
                "write_interval_s": 0,
            },
            "scrobble": {"targets": ["journal", "trakt"], "watcher": {"enabled": True, "ratings": True}},
        }
        (tmp_path / "config.toml").write_text(tomli_w.dumps(config))
        host = plugin_host(tmp_path)
        holder = [load_config(tmp_path, host.sections())]
        bus = EventBus()
        router = ScrobbleRouter(host.providers, lambda: holder[0], state, bus)
        async with anyio.create_task_group() as tg:
            tg.start_soon(bus.run)
            tg.start_soon(router.run)
            the_rig = Rig(emu, tmp_path, bus, router, holder[0])
            the_rig.reload = lambda new: holder.__setitem__(0, new)  # type: ignore[attr-defined]
            yield the_rig
            tg.cancel_scope.cancel()


def movie(emu: TraktEmulator, n: int) -> tuple[Item, int]:
    held = {e["trakt"] for e in emu.state_json()["history"] if e["type"] == "movie"}
    m = [m for m in emu.catalog.movies if m.trakt not in held][n]
    return Item(type=MediaType.MOVIE, ids={"imdb": m.imdb}, title=m.title, year=m.year), m.trakt


def stopped(item: Item, session: str) -> list[PlaybackObserved]:
    return [
        PlaybackObserved("PLEX", "default", "playing", item, 5.0, session=session, owner=True),
        PlaybackObserved("PLEX", "default", "stopped", item, 95.0, session=session, owner=True),
    ]


@pytest.mark.parametrize("fail", ["provider", "bug"])
async def test_a_failing_target_does_not_stop_the_scrobble_reaching_trakt(tmp_path: Path, fail: str) -> None:
    async with rig(tmp_path, fail=fail) as r:
        first, first_id = movie(r.emu, 0)
        second, second_id = movie(r.emu, 1)
        for event in stopped(first, "s1") + stopped(second, "s2"):
            assert r.bus.emit(event)
        # both plays reach Trakt although the target before it raised on every scrobble
        await wait_until(lambda: r.trakt_plays(first_id) == 1 and r.trakt_plays(second_id) == 1, timeout=20)
        assert [c["action"] for c in r.journal() if c["call"] == "scrobble"] == ["start", "stop", "start", "stop"]


async def test_a_target_that_keeps_no_ratings_is_never_asked_to_write_one(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        item, _ = movie(r.emu, 2)
        trakt_id = movie(r.emu, 2)[1]
        assert r.bus.emit(RatingObserved("PLEX", "default", item, 8, source="watcher", owner=True))

        def rated() -> bool:
            found = [e for e in r.emu.state_json()["ratings"] if e["type"] == "movie" and e["trakt"] == trakt_id]
            return bool(found) and found[0]["rating"] == 8

        await wait_until(rated, timeout=20)
        assert not [c for c in r.journal() if c["call"] in ("add", "remove")]


async def test_after_a_reload_targets_are_built_from_the_new_config(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        item, trakt_id = movie(r.emu, 3)
        for event in stopped(item, "s1"):
            assert r.bus.emit(event)
        await wait_until(lambda: r.trakt_plays(trakt_id) == 1, timeout=20)
        # the config changes: the journal target gets a new label
        raw = (
            (tmp_path / "config.toml")
            .read_text()
            .replace('[journal]\nfail = ""', '[journal]\nfail = ""\nlabel = "second"')
        )
        (tmp_path / "config.toml").write_text(raw)
        r.reload(load_config(tmp_path, plugin_host(tmp_path).sections()))  # type: ignore[attr-defined]
        await r.bus.publish(ConfigReloaded(("journal",)))
        other, other_id = movie(r.emu, 4)
        for event in stopped(other, "s2"):
            assert r.bus.emit(event)
        await wait_until(lambda: r.trakt_plays(other_id) == 1, timeout=20)
        calls = [(c["label"], c["call"]) for c in r.journal()]
        # the old target was closed once, before the new one (built with the new settings) took the next play
        assert calls.index(("first", "aclose")) < calls.index(("second", "scrobble"))
        assert calls.count(("first", "aclose")) == 1
