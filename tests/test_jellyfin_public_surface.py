"""The Jellyfin/Emby plugin is built on crosswatch's public plugin contract only.

Every module of ``crosswatch_jellyfin`` outside its emulator imports from crosswatch only
the modules listed in ``crosswatch.PUBLIC_MODULES`` (a listed package's submodules count as
listed only for ``crosswatch.emulation`` and ``crosswatch.testing``, which are documented
as packages). Imports are read with ``ast``: ``import x``, ``from x import y``, relative
imports, and imports inside functions or ``TYPE_CHECKING`` blocks alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import crosswatch
import crosswatch_jellyfin

PLUGIN = Path(crosswatch_jellyfin.__file__).parent
#: public packages whose submodules are public too (their docstrings in PUBLIC_MODULES say so)
PUBLIC_PACKAGES = ("crosswatch.emulation", "crosswatch.testing")


def plugin_modules() -> list[Path]:
    """The plugin's own modules: everything but the emulator."""
    return sorted(p for p in PLUGIN.rglob("*.py") if "emulator" not in p.relative_to(PLUGIN).parts)


def imported(source: str, package: str) -> set[str]:
    """Every module a source imports (``from crosswatch import x`` also names ``crosswatch.x``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def allowed(module: str) -> bool:
    if module in crosswatch.PUBLIC_MODULES:
        return True
    return any(module.startswith(p + ".") for p in PUBLIC_PACKAGES)


def outside_contract(source: str, package: str = "crosswatch_jellyfin") -> set[str]:
    """The crosswatch modules a source imports that are not public."""
    bad = set()
    for module in imported(source, package):
        if module != "crosswatch" and not module.startswith("crosswatch."):
            continue
        if allowed(module):
            continue
        # ``from crosswatch.model import Item`` also yields "crosswatch.model.Item": a name, not a module
        parent = module.rpartition(".")[0]
        if parent and allowed(parent) and parent != "crosswatch":
            continue
        if module.startswith("crosswatch.") and parent == "crosswatch" and module.rpartition(".")[2] in _PUBLIC_NAMES:
            continue
        bad.add(module)
    return bad


#: names ``from crosswatch import ...`` may take (the package's own public names, not its submodules)
_PUBLIC_NAMES = {"hookimpl", "CONTRACT_VERSION", "PUBLIC_MODULES", "__version__"}


def test_the_plugin_has_modules_to_check() -> None:
    names = {p.name for p in plugin_modules()}
    assert {"__init__.py", "adapter.py", "client.py", "reads.py", "writes.py", "signin.py"} <= names


@pytest.mark.parametrize("path", plugin_modules(), ids=lambda p: str(p.relative_to(PLUGIN)))
def test_each_module_imports_only_public_crosswatch_modules(path: Path) -> None:
    package = "crosswatch_jellyfin" + (
        ".".join(("", *path.relative_to(PLUGIN).parent.parts)) if path.parent != PLUGIN else ""
    )
    assert outside_contract(path.read_text(), package) == set()
    # nor another plugin's code, nor its own emulator (a provider must not need it to run)
    foreign = ("crosswatch_plex", "crosswatch_trakt", "crosswatch_jellyfin.emulator")
    assert not {m for m in imported(path.read_text(), package) if m.startswith(foreign)}


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("from crosswatch.sync.engine import run_pair", {"crosswatch.sync.engine", "crosswatch.sync.engine.run_pair"}),
        ("import crosswatch.captures.store", {"crosswatch.captures.store"}),
        ("from crosswatch import cli", {"crosswatch.cli"}),
        ("from crosswatch.plugins import PluginHost", {"crosswatch.plugins", "crosswatch.plugins.PluginHost"}),
        ("def f():\n    from crosswatch.journal import x\n", {"crosswatch.journal", "crosswatch.journal.x"}),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from crosswatch.runs import Run\n",
            {"crosswatch.runs", "crosswatch.runs.Run"},
        ),
        ("from crosswatch.model import Item\nfrom crosswatch import hookimpl\nimport crosswatch.http", set()),
        ("from crosswatch.emulation.server import serve_app", set()),
        ("from crosswatch_plex.mapping import to_item\nimport httpx", set()),
    ],
)
def test_the_check_catches_what_is_not_public(source: str, flagged: set[str]) -> None:
    assert outside_contract(source) == flagged
