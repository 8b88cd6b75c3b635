"""docs/plugins.md names the whole plugin contract; docs/index.md names every page under docs/.

What the document must name is found by introspecting crosswatch, never listed here: every
hookspec (with its parameters and whether it is ``firstresult``), every method and attribute
of the ``Provider`` and ``Scrobbler`` protocols, every field of the provider dataclasses,
every event class in ``crosswatch.events`` (with its fields) and every module in
``PUBLIC_MODULES``. Something added to the code without a word in the document fails here.

The document's code is checked too: every Python block compiles, and each drop-in plugin it
shows (a block starting ``# plugins.d/<name>.py``) is written to a config directory's
``plugins.d/`` and must come out ``loaded`` from ``crosswatch plugins list --json``; the
provider among them must pass ``crosswatch.testing``'s contract suite, which the document
describes (and names every check and helper of).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

import crosswatch
from crosswatch import events, hookspecs, testing
from crosswatch.cli import main
from crosswatch.model import Feature, Item, MediaType
from crosswatch.provider import (
    AuthContext,
    FeatureSupport,
    Provider,
    ProviderContext,
    ProviderSpec,
    Scrobbler,
    SignInState,
    WriteResult,
)
from crosswatch.state import StateDir
from crosswatch.testing import ProviderContract, registered_spec

DOCS = Path(__file__).resolve().parent.parent / "docs"
PLUGINS_MD = DOCS / "plugins.md"
INDEX_MD = DOCS / "index.md"
DROPIN_HEAD = re.compile(r"#\s*plugins\.d/(?P<name>[A-Za-z0-9_]+)\.py\b")
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)


# -- reading the document ---------------------------------------------------------------------


class Doc:
    """A Markdown file as headings, fenced blocks and code text (inline spans and blocks)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.blocks = [
            (m["lang"], m["body"], self.text.count("\n", 0, m.start("body")) + 1) for m in FENCE.finditer(self.text)
        ]
        # the prose with each fenced block blanked line for line, so a "#" in code is no heading
        self.prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), self.text)
        lines = self.prose.splitlines()
        self.headings = [(i, len(m[1]), m[2]) for i, line in enumerate(lines) if (m := re.match(r"(#+)\s+(.*)", line))]

    def section(self, name: str) -> str:
        """The section whose heading names ``name`` in backticks (``### `WriteResult` ``)."""
        return self.titled(f"`{name}`")

    def titled(self, words: str) -> str:
        """The text under the first heading containing ``words``, up to the next heading as high."""
        lines = self.text.splitlines()
        for index, (at, level, title) in enumerate(self.headings):
            if words in title:
                end = next((a for a, lv, _ in self.headings[index + 1 :] if lv <= level), len(lines))
                return "\n".join(lines[at:end])
        raise AssertionError(f"{self.path.name}: no heading with {words!r}")


def code_text(markdown: str) -> str:
    """Everything written as code in ``markdown``: inline spans and fenced blocks."""
    blocks = [m["body"] for m in FENCE.finditer(markdown)]
    prose = FENCE.sub("", markdown)
    return "\n".join(blocks + re.findall(r"`([^`]+)`", prose))  # a span may wrap to the next line


def names(word: str, code: str) -> bool:
    """Whether ``word`` stands on its own in ``code`` (``ok`` is not found in ``okay`` or ``x.ok_``)."""
    return re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", code) is not None


@pytest.fixture(scope="module")
def doc() -> Doc:
    return Doc(PLUGINS_MD)


# -- what the code says the contract is ------------------------------------------------------------


def hook_specs() -> dict[str, Any]:
    found = {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if getattr(fn, "crosswatch_spec", None) is not None
    }
    assert len(found) >= 10, f"hookspecs found by introspection: {sorted(found)}"
    return found


def protocol_members(protocol: type) -> tuple[list[str], list[str]]:
    """(methods, attributes) a protocol declares itself."""
    methods = [n for n, v in vars(protocol).items() if inspect.isfunction(v) and not n.startswith("_")]
    attributes = [n for n in vars(protocol).get("__annotations__", {}) if not n.startswith("_")]
    return methods, attributes


def public_fields(cls: type) -> list[str]:
    """A dataclass's fields and its public properties."""
    props = [n for n, v in vars(cls).items() if isinstance(v, property) and not n.startswith("_")]
    return [f.name for f in dataclasses.fields(cls)] + props


def event_classes() -> list[type[events.Event]]:
    found = [
        obj
        for obj in vars(events).values()
        if inspect.isclass(obj) and issubclass(obj, events.Event) and obj.__module__ == events.__name__
    ]
    assert events.Event in found and len(found) > 5, found
    return found


# -- the contract is named ------------------------------------------------------------------------


@pytest.mark.parametrize("hook", sorted(hook_specs()))
def test_every_hook_has_a_section_with_its_parameters_and_call_style(doc: Doc, hook: str) -> None:
    spec = hook_specs()[hook]
    section = doc.section(hook)
    code = code_text(section)
    missing = [p for p in inspect.signature(spec).parameters if not names(p, code)]
    assert not missing, f"docs/plugins.md, section {hook}: parameters not named: {missing}"
    prose = " ".join(section.split())  # a sentence may wrap anywhere
    if spec.crosswatch_spec["firstresult"]:
        assert "Call: firstresult" in prose, f"{hook} is firstresult; its section must say so"
    else:
        assert "Call: firstresult" not in prose, f"{hook} is not firstresult; its section says it is"
        assert "Call: each" in prose, f"{hook}: its section must say how it is called"


@pytest.mark.parametrize("protocol", [Provider, Scrobbler], ids=lambda p: p.__name__)
def test_every_protocol_method_and_attribute_is_named(doc: Doc, protocol: type) -> None:
    methods, attributes = protocol_members(protocol)
    assert methods, f"no methods found on {protocol.__name__}"
    code = code_text(doc.section(protocol.__name__))
    missing = [f"{m}()" for m in methods if not re.search(rf"(?<![\w]){m}\(", code)]
    missing += [a for a in attributes if not names(a, code)]
    assert not missing, f"docs/plugins.md, section {protocol.__name__}: not named: {missing}"


@pytest.mark.parametrize(
    "cls",
    [WriteResult, FeatureSupport, ProviderSpec, ProviderContext, SignInState, AuthContext],
    ids=lambda c: c.__name__,
)
def test_every_field_of_the_provider_dataclasses_is_named(doc: Doc, cls: type) -> None:
    code = code_text(doc.section(cls.__name__))
    missing = [f for f in public_fields(cls) if not names(f, code)]
    assert not missing, f"docs/plugins.md, section {cls.__name__}: fields not named: {missing}"


def test_every_event_and_its_fields_are_named(doc: Doc) -> None:
    code = code_text(doc.titled("Events on the bus"))
    missing = []
    for cls in event_classes():
        if not names(cls.__name__, code):
            missing.append(cls.__name__)
        missing += [f"{cls.__name__}.{f.name}" for f in dataclasses.fields(cls) if not names(f.name, code)]
    assert not missing, f"docs/plugins.md, Events on the bus: not named: {missing}"


def test_every_public_module_is_named(doc: Doc) -> None:
    code = code_text(doc.titled("The public modules"))
    assert crosswatch.PUBLIC_MODULES
    missing = [m for m in crosswatch.PUBLIC_MODULES if not re.search(rf"(?<![\w.]){re.escape(m)}(?![\w.])", code)]
    assert not missing, f"docs/plugins.md, The public modules: not named: {missing}"


def test_the_contract_version_is_the_one_in_force(doc: Doc) -> None:
    section = doc.titled("The contract version")
    assert f"`{tuple(crosswatch.CONTRACT_VERSION)}`" in section
    assert f"CROSSWATCH_CONTRACT = {crosswatch.CONTRACT_VERSION[0]}" in section


def test_the_index_names_every_page_under_docs() -> None:
    index = INDEX_MD.read_text(encoding="utf-8")
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*") if p.is_file() and p != INDEX_MD)
    assert "plugins.md" in pages
    missing = [page for page in pages if f"]({page})" not in index]
    assert not missing, f"docs/index.md does not link: {missing}"


# -- the document's code works ----------------------------------------------------------------------


def test_every_python_block_compiles(doc: Doc) -> None:
    python = [(body, line) for lang, body, line in doc.blocks if lang == "python"]
    assert len(python) > 10
    for body, line in python:
        try:
            compile(body, f"{PLUGINS_MD.name}:{line}", "exec")
        except SyntaxError as exc:
            raise AssertionError(f"docs/plugins.md, the block at line {line} does not compile: {exc}") from None


def dropins(doc: Doc) -> dict[str, str]:
    """``{plugin name: source}`` of every block that is a whole drop-in file."""
    found = {}
    for lang, body, _line in doc.blocks:
        head = DROPIN_HEAD.match(body)
        if lang == "python" and head:
            found[head["name"]] = body
    return found


@pytest.fixture
def doc_config_dir(tmp_path: Path, doc: Doc) -> Iterator[tuple[Path, dict[str, str]]]:
    """A config directory whose ``plugins.d/`` holds every drop-in the document shows."""
    folder = tmp_path / "config"
    (folder / "plugins.d").mkdir(parents=True)
    files = dropins(doc)
    assert files, "docs/plugins.md shows no drop-in plugin (a python block starting '# plugins.d/<name>.py')"
    for name, body in files.items():
        (folder / "plugins.d" / f"{name}.py").write_text(body, encoding="utf-8")
    try:
        yield folder, files
    finally:
        for name in files:
            sys.modules.pop(f"crosswatch_dropin_{name}", None)


def test_the_documents_dropin_plugins_load(
    doc_config_dir: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, files = doc_config_dir
    assert main(["--config-dir", str(folder), "plugins", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out) if r["source"] == "dropin"}
    for name in files:
        assert name in rows, f"plugins list does not show {name}: {sorted(rows)}"
        row = rows[name]
        assert (row["status"], row["error"]) == ("loaded", ""), f"{name}: {row}"
    providers = [r for r in rows.values() if r["providers"]]
    assert providers, "no drop-in of the document registers a provider"
    for row in providers:
        assert row["sections"], f"{row['name']} registers {row['providers']} without a config section"
    assert main(["--config-dir", str(folder), "config", "check"]) == 0, capsys.readouterr().err


# -- the document's provider passes crosswatch.testing's contract suite ---------------------------


def documented_provider() -> tuple[ProviderSpec, Any]:
    """The spec and default settings of the drop-in provider the document shows, imported on its own."""
    for name, body in dropins(Doc(PLUGINS_MD)).items():
        module = ModuleType(f"crosswatch_docs_{name}")
        sys.modules[module.__name__] = module  # as an import would (msgspec and pluggy look it up)
        exec(compile(body, f"{PLUGINS_MD}:{name}", "exec"), module.__dict__)
        if not hasattr(module, "crosswatch_register_providers"):
            continue
        specs: list[ProviderSpec] = []
        module.crosswatch_register_providers(register=specs.append)
        spec = registered_spec(module, specs[0].id)
        section = next(s for s in module.crosswatch_config_sections() if s.name == spec.section)
        return spec, msgspec.convert({}, section.schema)
    raise LookupError("docs/plugins.md shows no drop-in that registers a provider")


try:
    DOCUMENTED, DOCUMENTED_ERROR = documented_provider(), ""
except Exception as exc:  # reported by a test below, so the other checks of this module still run
    DOCUMENTED, DOCUMENTED_ERROR = None, f"{type(exc).__name__}: {exc}"


def test_the_documents_provider_imports_on_its_own() -> None:
    assert DOCUMENTED is not None, f"the provider of docs/plugins.md: {DOCUMENTED_ERROR}"


#: titles as another provider would send them: strong ids, no feature value
TITLES = [
    Item(type=MediaType.MOVIE, ids={"imdb": "tt0133093", "tmdb": "603"}, title="The Matrix", year=1999),
    Item(type=MediaType.EPISODE, show_ids={"tvdb": "371980"}, show_title="Severance", season=1, episode=1),
    Item(type=MediaType.MOVIE, ids={"imdb": "tt2543164"}, title="Arrival", year=2016),
]

if DOCUMENTED is not None:

    class TestTheDocumentsProvider(ProviderContract):
        """The minimal provider of docs/plugins.md keeps every rule the document states."""

        spec = DOCUMENTED[0]

        @asynccontextmanager
        async def provider(self, config_dir: Path) -> AsyncIterator[Provider]:
            assert DOCUMENTED is not None
            yield self.spec.factory(ProviderContext(self.spec.id, "default", DOCUMENTED[1], StateDir(config_dir)))

        def known_items(self, feature: Feature) -> Sequence[Item]:
            return TITLES

        def unknown_item(self, feature: Feature) -> Item:
            return Item(type=MediaType.MOVIE, title="A Home Video", year=2003)  # it keeps any title with an id


def test_the_testing_section_names_every_check_and_helper(doc: Doc) -> None:
    code = code_text(doc.section("crosswatch.testing"))
    checks = [n for n in dir(ProviderContract) if n.startswith("test_") and callable(getattr(ProviderContract, n))]
    assert checks, "no checks found on ProviderContract"
    # what a subclass supplies (methods it overrides) and may set (the class's annotated attributes)
    supplied = [
        n
        for n, v in vars(ProviderContract).items()
        if inspect.isfunction(v) and not n.startswith(("_", "test_", "pytest_"))
    ]
    knobs = [n for n in vars(ProviderContract).get("__annotations__", {}) if not n.startswith("_")]
    assert supplied and knobs
    missing = [n for n in checks + supplied + knobs + list(testing.__all__) if not names(n, code)]
    assert not missing, f"docs/plugins.md, section crosswatch.testing: not named: {missing}"
