"""A run that wrote to a side which reads back cheaply leaves the next unchanged run quiet.

Three drop-in shelves keep ratings in JSON files. LEFT is the source. RIGHT and SLOW show
what they hold in their own shape (no ``rated_at``, an ``extra`` of their own), as a media
server does, so an item as sent never equals the item as read. RIGHT declares
``reads_back``: after a write the run reads it back. SLOW does not. RIGHT can also act for a
person in the middle of a run: when ``meddle.json`` names titles, its next write also drops
them (someone removing a rating on the server while crosswatch writes).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crosswatch.cli import main
from tests.dropins import dropin_folder

SHELVES = textwrap.dedent(
    """\
    import json
    from pathlib import Path

    import msgspec
    from crosswatch import hookimpl
    from crosswatch.config import ConfigSection
    from crosswatch.model import Feature, Item, MediaType
    from crosswatch.provider import FeatureSupport, ProviderSpec, WriteResult


    class Settings(msgspec.Struct, frozen=True):
        file: str = ""


    class Shelf:
        def __init__(self, ctx):
            self.id = ctx.provider_id
            self.folder = Path(ctx.config_dir)
            self.file = self.folder / ctx.settings.file

        def _load(self):
            return json.loads(self.file.read_text())

        async def read(self, feature):
            out = []
            for k, v in self._load().items():
                if self.id == "LEFT":
                    out.append(Item(type=MediaType.MOVIE, ids={"imdb": k}, title=v["title"], rating=v["rating"],
                                    rated_at=v["at"]))
                else:  # the server's own shape: no date, its own extra
                    out.append(Item(type=MediaType.MOVIE, ids={"imdb": k}, title=v["title"], rating=v["rating"],
                                    extra={"shelf": self.id}))
            return out

        async def add(self, feature, items):
            data = self._load()
            for i in items:
                data[i.ids["imdb"]] = {"title": i.title, "rating": i.rating, "at": i.rated_at}
            meddle = self.folder / "meddle.json"
            if self.id != "LEFT" and meddle.exists():
                for key in json.loads(meddle.read_text()):
                    data.pop(key, None)
                meddle.unlink()
            self.file.write_text(json.dumps(data))
            return WriteResult(ok=list(items))

        async def remove(self, feature, items):
            data = self._load()
            for i in items:
                data.pop(i.ids["imdb"], None)
            self.file.write_text(json.dumps(data))
            return WriteResult(ok=list(items))

        async def aclose(self):
            pass


    @hookimpl
    def crosswatch_register_providers(register):
        register(ProviderSpec("LEFT", Shelf, {Feature.RATINGS: FeatureSupport()}, needs_sign_in=False))
        register(ProviderSpec("RIGHT", Shelf, {Feature.RATINGS: FeatureSupport(reads_back=True)}, needs_sign_in=False))
        register(ProviderSpec("SLOW", Shelf, {Feature.RATINGS: FeatureSupport()}, needs_sign_in=False))


    @hookimpl
    def crosswatch_config_sections():
        return [ConfigSection(n, Settings) for n in ("left", "right", "slow")]
    """
)

CONFIG = """
[daemon]
listen = ""

[left]
file = "left.json"

[right]
file = "right.json"

[slow]
file = "slow.json"

[[pairs]]
name = "to-right"
source = "left"
target = "right"
mode = "two-way"
features = ["ratings"]
remove = true

[[pairs]]
name = "to-slow"
source = "left"
target = "slow"
mode = "two-way"
features = ["ratings"]
remove = true
"""

A = {"title": "A", "rating": 8, "at": "2024-05-01T20:00:00Z"}
B = {"title": "B", "rating": 6, "at": "2024-05-01T20:00:00Z"}
C = {"title": "C", "rating": 4, "at": "2024-05-01T20:00:00Z"}


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    files = {"left.json": {"tt01": A, "tt02": B}, "right.json": {}, "slow.json": {}}
    with dropin_folder(tmp_path, {"shelves": SHELVES}, CONFIG, files) as path:
        yield path


def run(folder: Path, pair: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    code = main(["--config-dir", str(folder), "--no-progress", "sync", "run", pair, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


def held(folder: Path, name: str) -> set[str]:
    return set(json.loads((folder / f"{name}.json").read_text()))


def test_the_run_after_a_write_to_a_side_that_reads_back_is_not_planned_again(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run(folder, "to-right", capsys)
    assert sum(r["added"] for r in first["summary"]) == 2 and first["settled"] == []
    written = (folder / "right.json").read_text()
    second = run(folder, "to-right", capsys)
    assert second["settled"] == ["ratings"], second
    assert second["summary"] == [] and second["plan"] == []
    assert (folder / "right.json").read_text() == written


def test_a_side_that_does_not_read_back_is_planned_once_more_then_settles(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(folder, "to-slow", capsys)
    second = run(folder, "to-slow", capsys)
    assert second["settled"] == [] and second["summary"] == []  # planned: the shape it read is new
    assert run(folder, "to-slow", capsys)["settled"] == ["ratings"]


def test_a_settled_pair_still_sees_the_next_change(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(folder, "to-right", capsys)
    (folder / "left.json").write_text(json.dumps({"tt01": A, "tt02": B, "tt03": C}))
    third = run(folder, "to-right", capsys)
    assert third["settled"] == [] and sum(r["added"] for r in third["summary"]) == 1
    assert held(folder, "right") == {"tt01", "tt02", "tt03"}
    assert run(folder, "to-right", capsys)["settled"] == ["ratings"]


def test_a_removal_made_on_the_target_during_the_run_is_not_taken_into_the_baseline(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(folder, "to-right", capsys)
    (folder / "left.json").write_text(json.dumps({"tt01": A, "tt02": B, "tt03": C}))
    # while the run writes C to RIGHT, a person removes B there
    (folder / "meddle.json").write_text(json.dumps(["tt02"]))
    report = run(folder, "to-right", capsys)
    assert report["settled"] == [] and not (folder / "meddle.json").exists()
    assert held(folder, "right") == {"tt01", "tt03"}
    # the next run sees B removed on RIGHT since the last sync, and removes it on LEFT too
    after = run(folder, "to-right", capsys)
    assert sum(r["removed"] for r in after["summary"] if r["target"] == "LEFT") == 1, after
    assert held(folder, "left") == {"tt01", "tt03"}
    assert held(folder, "right") == {"tt01", "tt03"}
