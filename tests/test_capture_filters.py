"""``crosswatch_capture_filter``: filters chain, a failing filter fails the capture, safety captures are whole.

A drop-in provider (``SHELF``, its watchlist in a JSON file) and two drop-in filters run
through the real command line in process.
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
        pass


    class Shelf:
        def __init__(self, ctx):
            self.id, self.profile = ctx.provider_id, ctx.profile
            self.file = Path(ctx.config_dir) / "shelf.json"

        async def read(self, feature):
            titles = json.loads(self.file.read_text())
            return [Item(type=MediaType.MOVIE, ids={"imdb": i}, title=t) for i, t in titles.items()]

        async def add(self, feature, items):
            return WriteResult(failed=[(i, "read-only") for i in items])

        async def remove(self, feature, items):
            titles = json.loads(self.file.read_text())
            for item in items:
                titles.pop(item.ids["imdb"], None)
            self.file.write_text(json.dumps(titles))
            return WriteResult(ok=list(items))

        async def aclose(self):
            pass


    @hookimpl
    def crosswatch_register_providers(register):
        register(ProviderSpec("SHELF", Shelf, {Feature.WATCHLIST: FeatureSupport()}))


    @hookimpl
    def crosswatch_config_sections():
        return [ConfigSection("shelf", Settings)]
    """
)


def dropping(word: str) -> str:
    """A filter plugin that drops titles containing ``word`` and records what it was given."""
    return textwrap.dedent(
        f"""\
        import json
        from pathlib import Path

        from crosswatch import hookimpl

        SEEN = Path(__file__).parent.parent / "seen-{word}.json"


        @hookimpl
        def crosswatch_capture_filter(provider, profile, feature, items):
            SEEN.write_text(json.dumps(sorted(i.title for i in items)))
            if {word!r} == "boom":
                raise RuntimeError("the whitelist file is missing")
            return [i for i in items if {word!r} not in i.title]
        """
    )


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    titles = {"tt01": "Kids A", "tt02": "Horror B", "tt03": "Kids Horror C", "tt04": "Plain D"}
    config = '[daemon]\nlisten = ""\n\n[shelf]\n'
    with dropin_folder(tmp_path, {"shelf": SHELF}, config, {"shelf.json": titles}) as path:
        yield path


def cli(folder: Path, *args: str) -> int:
    return main(["--config-dir", str(folder), "--no-progress", *args])


def captured_titles(folder: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert cli(folder, "capture", "list", "--type", kind, "--json") == 0
    listed: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert len(listed) == 1, listed
    assert cli(folder, "capture", "show", listed[0]["path"], "--items", "--json") == 0
    return sorted(i["title"] for i in json.loads(capsys.readouterr().out)["items"])


def test_filters_chain_each_getting_what_the_one_before_kept(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "plugins.d" / "no_kids.py").write_text(dropping("Kids"))
    (folder / "plugins.d" / "no_horror.py").write_text(dropping("Horror"))
    assert cli(folder, "capture", "create", "--provider", "shelf", "--feature", "watchlist") == 0
    assert captured_titles(folder, "manual", capsys) == ["Plain D"]
    # one of the two filters ran second and saw only what the first kept
    seen = [json.loads((folder / f"seen-{w}.json").read_text()) for w in ("Kids", "Horror")]
    assert sorted(len(s) for s in seen) == [2, 4]


def test_a_failing_filter_fails_the_capture_and_writes_nothing(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "plugins.d" / "broken.py").write_text(dropping("boom"))
    assert cli(folder, "capture", "create", "--provider", "shelf", "--feature", "watchlist") == 1
    err = capsys.readouterr().err
    assert "plugin broken: crosswatch_capture_filter failed: RuntimeError: the whitelist file is missing" in err
    assert not list(folder.rglob("snapshots/**/*.json"))


def test_the_safety_capture_before_a_clear_keeps_what_filters_hold_back(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "plugins.d" / "no_kids.py").write_text(dropping("Kids"))
    assert cli(folder, "tools", "clear", "--provider", "shelf", "--feature", "watchlist", "--yes") == 0
    assert json.loads((folder / "shelf.json").read_text()) == {}
    # everything the clear removed is in its safety capture, the filtered-out titles too
    assert captured_titles(folder, "safety", capsys) == ["Horror B", "Kids A", "Kids Horror C", "Plain D"]
