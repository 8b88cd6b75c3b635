"""A sync counts what a provider wrote by item key, never by object identity.

Two drop-in providers keep ratings in JSON files; the target answers every write with equal
copies of the items it was given (as a provider that rebuilds its items from the server's
answer does). A changed rating must be summed up as an update, and a title removed by a
two-way pair must not come back.
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

SHELF = textwrap.dedent(
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
            self.id, self.profile = ctx.provider_id, ctx.profile
            self.file = Path(ctx.config_dir) / ctx.settings.file

        def _load(self):
            return json.loads(self.file.read_text())

        async def read(self, feature):
            return [
                Item(type=MediaType.MOVIE, ids={"imdb": k}, title=v["title"], rating=v["rating"], rated_at=v["at"])
                for k, v in self._load().items()
            ]

        async def add(self, feature, items):
            data = self._load()
            for i in items:
                data[i.ids["imdb"]] = {"title": i.title, "rating": i.rating, "at": i.rated_at}
            self.file.write_text(json.dumps(data))
            return WriteResult(ok=[msgspec.structs.replace(i) for i in items])  # equal copies

        async def remove(self, feature, items):
            data = self._load()
            for i in items:
                data.pop(i.ids["imdb"], None)
            self.file.write_text(json.dumps(data))
            return WriteResult(ok=[msgspec.structs.replace(i) for i in items])  # equal copies

        async def aclose(self):
            pass


    @hookimpl
    def crosswatch_register_providers(register):
        for name in ("LEFT", "RIGHT"):
            spec = ProviderSpec(name, Shelf, {Feature.RATINGS: FeatureSupport()}, needs_sign_in=False)
            register(spec)


    @hookimpl
    def crosswatch_config_sections():
        return [ConfigSection("left", Settings), ConfigSection("right", Settings)]
    """
)

CONFIG = """
[daemon]
listen = ""

[left]
file = "left.json"

[right]
file = "right.json"

[[pairs]]
name = "p"
source = "left"
target = "right"
mode = "two-way"
features = ["ratings"]
remove = true
"""

A = {"title": "A", "rating": 8, "at": "2024-05-01T20:00:00Z"}
B = {"title": "B", "rating": 6, "at": "2024-05-01T20:00:00Z"}


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    files = {"left.json": {"tt01": A, "tt02": B}, "right.json": {}}
    with dropin_folder(tmp_path, {"shelves": SHELF}, CONFIG, files) as path:
        yield path


def run(folder: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    code = main(["--config-dir", str(folder), "--no-progress", "sync", "run", "p", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    rows: list[dict[str, Any]] = report["summary"]
    return rows


def total(rows: list[dict[str, Any]], what: str, target: str) -> int:
    return sum(r[what] for r in rows if r["target"] == target)


def test_an_update_answered_with_copies_is_counted_as_an_update(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run(folder, capsys)
    assert total(first, "added", "RIGHT") == 2
    # a newer rating on the left: the right answers the write with a copy of the item
    later = {**A, "rating": 3, "at": "2024-06-01T20:00:00Z"}
    (folder / "left.json").write_text(json.dumps({"tt01": later, "tt02": B}))
    second = run(folder, capsys)
    assert (total(second, "updated", "RIGHT"), total(second, "added", "RIGHT")) == (1, 0)
    assert json.loads((folder / "right.json").read_text())["tt01"]["rating"] == 3


def test_a_removal_answered_with_copies_stays_removed(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(folder, capsys)
    # B goes from the left: the pair removes it from the right, which answers with a copy
    (folder / "left.json").write_text(json.dumps({"tt01": A}))
    assert total(run(folder, capsys), "removed", "RIGHT") == 1
    # the baseline knows it is gone from both: the next runs neither re-add nor remove anything
    for _ in range(2):
        rows = run(folder, capsys)
        assert all(r["added"] == r["removed"] == 0 for r in rows), rows
    assert set(json.loads((folder / "right.json").read_text())) == {"tt01"}
    assert set(json.loads((folder / "left.json").read_text())) == {"tt01"}
