"""The plugin host: finds, loads, blocks and calls plugins, one failure at a time.

Plugins come from three places: core's built-in hookimpls, entry points of group
``crosswatch`` (the built-in Plex and Trakt plugins come this way, like any third party's),
and ``.py`` files in ``<config dir>/plugins.d/``. A plugin that fails to import, or whose
hook raises, is reported and left out; the others carry on.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import sys
import tomllib
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy
import structlog

import crosswatch.provider
from crosswatch import CONTRACT_VERSION, __version__, hookspecs
from crosswatch.config import CONFIG_FILE, ConfigSection
from crosswatch.config.schema import CORE_SECTIONS
from crosswatch.errors import PluginError
from crosswatch.provider import ProviderRegistry, ProviderSpec, provider_features

log = structlog.get_logger("crosswatch.plugins")

ENTRY_POINT_GROUP = "crosswatch"
DROPIN_DIR = "plugins.d"
BUILTIN_MODULES = {"core": "crosswatch.builtin"}
#: top-level config keys that core validates itself; no plugin may own them
CORE_KEYS = frozenset({*CORE_SECTIONS, "pairs"})
#: a refusal raised by the host itself is not located in the host's source
_HOST_FILES = frozenset({__file__, crosswatch.provider.__file__})


@dataclass
class PluginInfo:
    """What ``crosswatch plugins list`` shows of one plugin."""

    name: str
    source: str  # builtin | entrypoint | dropin
    origin: str  # module, distribution or file
    version: str = ""
    status: str = "pending"  # loaded | failed | disabled
    error: str = ""
    providers: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    hook_errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


@dataclass
class _Candidate:
    info: PluginInfo
    load: Callable[[], Any]


def _short_error(exc: BaseException) -> str:
    """``Type: message (file:line)``, the line being the plugin's, never the host's own."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({exc.filename}:{exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename not in _HOST_FILES]
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def peek_disabled(config_dir: Path) -> list[str]:
    """``plugins.disabled`` from config.toml before full validation (which needs the plugins)."""
    try:
        raw = tomllib.loads((Path(config_dir) / CONFIG_FILE).read_text(encoding="utf-8"))
        disabled = raw.get("plugins", {}).get("disabled", [])
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError, RecursionError):
        return []
    return [d for d in disabled if isinstance(d, str)] if isinstance(disabled, list) else []


class PluginHost:
    """Owns the pluggy manager, the provider registry and the config sections of plugins."""

    def __init__(self, config_dir: Path | None = None) -> None:
        self.config_dir = Path(config_dir) if config_dir else None
        self.pm = pluggy.PluginManager("crosswatch")
        self.pm.add_hookspecs(hookspecs)
        self.providers = ProviderRegistry()
        self.plugins: dict[str, PluginInfo] = {}
        self._candidates: dict[str, _Candidate] = {}
        self._sections: dict[str, ConfigSection] = {}

    # -- discovery and loading ---------------------------------------------------------

    def discover(self) -> None:
        """Find every plugin without importing any of them."""
        for name, module in BUILTIN_MODULES.items():
            self._add_candidate(
                PluginInfo(name, "builtin", module, version=__version__),
                functools.partial(importlib.import_module, module),
            )
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                ep.name,
                "entrypoint",
                f"{dist.name if dist else '?'}: {ep.value}",
                version=dist.version if dist else "",
            )
            self._add_candidate(info, ep.load)
        if self.config_dir is not None:
            folder = self.config_dir / DROPIN_DIR
            if folder.is_dir():
                for path in sorted(folder.glob("*.py")):
                    if path.name.startswith("."):  # editor lock and temp files (.#name.py)
                        continue
                    self._add_candidate(
                        PluginInfo(path.stem, "dropin", str(path)), functools.partial(_import_file, path)
                    )

    def _add_candidate(self, info: PluginInfo, load: Callable[[], Any]) -> None:
        if info.name in self._candidates:
            taken = self._candidates[info.name].info
            info.status, info.error = "failed", f"name already taken by {taken.source} plugin {taken.origin}"
            self.plugins[f"{info.name}@{info.source}"] = info
            log.error("plugin.failed", plugin=info.name, source=info.source, error=info.error)
            return
        self._candidates[info.name] = _Candidate(info, load)
        self.plugins[info.name] = info

    def load(self, disabled: Iterable[str] = ()) -> None:
        """Import and register every discovered plugin not in ``disabled``."""
        if not self._candidates:
            self.discover()
        blocked = set(disabled)
        for name in blocked - set(self._candidates):
            log.warning("plugin.disable_unknown", plugin=name, hint="plugins.disabled names no installed plugin")
        for name in blocked & set(BUILTIN_MODULES):
            log.warning("plugin.disable_builtin", plugin=name, hint="core's built-in plugin cannot be disabled")
        for name, cand in self._candidates.items():
            if name in blocked and cand.info.source != "builtin":
                cand.info.status = "disabled"
                self.pm.set_blocked(name)
            else:
                self._load_one(cand)

    def _load_one(self, cand: _Candidate) -> bool:
        info = cand.info
        try:
            plugin = cand.load()
            self.pm.register(plugin, name=info.name)
        except (Exception, SystemExit) as exc:  # sys.exit() in a plugin must not end crosswatch
            info.status, info.error = "failed", _short_error(exc)
            log.error("plugin.failed", plugin=info.name, source=info.source, origin=info.origin, error=info.error)
            return False
        if refusal := _contract_refusal(plugin) or self._refusal(info.name):
            self.pm.unregister(name=info.name)
            info.status, info.error = "failed", refusal
            log.error("plugin.failed", plugin=info.name, source=info.source, origin=info.origin, error=info.error)
            return False
        info.status, info.error = "loaded", ""
        if not self._collect(info):
            self.pm.unregister(name=info.name)
            return False
        return True

    def _refusal(self, name: str) -> str:
        """Why plugin ``name``'s hookimpls cannot be used, or "".

        A hook that matches no hookspec (misspelt) would never be called. A wrapper
        (``wrapper=True`` or ``hookwrapper=True``) cannot do its job: crosswatch calls each
        plugin's implementation on its own, so that one plugin's failure never stops another's.
        """
        unknown, wrappers = [], []
        for caller in self.pm.get_hookcallers(self.pm.get_plugin(name)) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin_name != name:
                    continue
                code = getattr(impl.function, "__code__", None)
                where = f"{caller.name} ({Path(code.co_filename).name}:{code.co_firstlineno})" if code else caller.name
                if not caller.has_spec() and not impl.optionalhook:
                    unknown.append(where)
                elif impl.wrapper or impl.hookwrapper:
                    wrappers.append(where)
        if unknown:
            hint = "not in crosswatch's hookspecs (misspelt? optionalhook=True allows it)"
            return f"unknown hook {', '.join(unknown)}: {hint}"
        if wrappers:
            return (
                f"wrapper hook {', '.join(wrappers)}: crosswatch calls each plugin's hooks on their own, "
                "so a wrapper would never wrap another plugin; implement it as a plain hook"
            )
        return ""

    def _collect(self, info: PluginInfo) -> bool:
        """Ask one plugin for its providers and config sections."""
        plugin = self.pm.get_plugin(info.name)
        specs: list[ProviderSpec] = []
        try:
            self._own_caller("crosswatch_register_providers", info.name)(register=specs.append)
            sections: list[ConfigSection] = []
            for found in self._own_caller("crosswatch_config_sections", info.name)():
                sections.extend(found or ())
            owned = {s.name for s in sections}
            for spec in specs:
                if spec.section not in owned:
                    raise PluginError(
                        f"provider {spec.id} has no config section: return ConfigSection({spec.section!r}, <a "
                        "msgspec Struct>) from crosswatch_config_sections (a Struct without fields will do)"
                    )
                self.providers.add(spec, info.name)
            for section in sections:
                if section.name in CORE_KEYS:
                    raise ValueError(f"config section [{section.name}] belongs to crosswatch itself")
                owner = self._sections.get(section.name)
                if owner and owner.owner != info.name:
                    raise ValueError(f"config section [{section.name}] is already owned by plugin {owner.owner!r}")
        except (Exception, SystemExit) as exc:
            self.providers.drop_plugin(info.name)
            info.status, info.error = "failed", _short_error(exc)
            log.error("plugin.failed", plugin=info.name, source=info.source, error=info.error)
            return False
        for section in sections:
            self._sections[section.name] = ConfigSection(section.name, section.schema, section.profiles, info.name)
        info.providers = self.providers.of_plugin(info.name)
        info.sections = sorted(s.name for s in sections)
        del plugin
        return True

    def set_disabled(self, disabled: Iterable[str]) -> tuple[list[str], list[str]]:
        """Apply a new ``plugins.disabled`` list; returns (now disabled, now enabled) plugin names."""
        blocked = set(disabled)
        off, on = [], []
        for name, cand in self._candidates.items():
            if cand.info.source == "builtin":
                continue
            if name in blocked and cand.info.status == "loaded":
                self.pm.unregister(name=name)
                self.pm.set_blocked(name)
                self.providers.drop_plugin(name)
                self._sections = {k: v for k, v in self._sections.items() if v.owner != name}
                cand.info.status, cand.info.providers, cand.info.sections = "disabled", [], []
                off.append(name)
            elif name not in blocked and cand.info.status == "disabled":
                self.pm.unblock(name)
                if self._load_one(cand):
                    on.append(name)
        return off, on

    # -- calling ----------------------------------------------------------------------

    def _own_caller(self, hook: str, plugin: str) -> Any:
        """pluggy's caller of ``hook`` limited to one plugin's implementations."""
        others = [p for name, p in self.pm.list_name_plugin() if name != plugin and p is not None]
        return self.pm.subset_hook_caller(hook, remove_plugins=others)

    def call_each(self, hook: str, plugins: Iterable[str] | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook on every plugin (or on ``plugins``), catching and reporting each failure.

        Each plugin's implementation runs through pluggy's own caller, but on its own: one
        plugin raising does not stop the others. The order is pluggy's (last registered first).
        """
        wanted = set(plugins) if plugins is not None else None
        results = []
        for name in self._implementers(hook):
            if wanted is not None and name not in wanted:
                continue
            try:
                found = self._own_caller(hook, name)(**kwargs)  # a plugin has one impl of a hook
                results.append((name, found[0] if found else None))
            except (Exception, SystemExit) as exc:
                self._failed_hook(name)
                log.error("plugin.hook_failed", plugin=name, hook=hook, error=_short_error(exc))
        return results

    def call_chain(self, hook: str, key: str, value: Any, **kwargs: Any) -> Any:
        """Pass ``value`` through each plugin's ``hook`` in turn, as argument ``key``.

        Each plugin gets what the one before it returned (None keeps the value). A plugin that
        raises stops the chain with a PluginError: a filter that fails must not let through
        what it was meant to hold back.
        """
        for name in self._implementers(hook):
            try:
                found = self._own_caller(hook, name)(**{key: value}, **kwargs)
            except (Exception, SystemExit) as exc:
                self._failed_hook(name)
                raise PluginError(f"plugin {name}: {hook} failed: {_short_error(exc)}") from exc
            if found and found[0] is not None:
                value = found[0]
        return value

    def _failed_hook(self, name: str) -> None:
        """Count a hook failure of plugin ``name`` (``plugins list`` shows it)."""
        info = self.plugins.get(name)
        if info:
            info.hook_errors += 1

    def _implementers(self, hook: str) -> list[str]:
        """The plugins implementing ``hook``, in pluggy's order (last registered first)."""
        impls = getattr(self.pm.hook, hook).get_hookimpls()
        return list(dict.fromkeys(i.plugin_name for i in reversed(impls)))

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def sections(self) -> dict[str, ConfigSection]:
        return dict(self._sections)

    def loaded(self) -> list[str]:
        return [n for n, i in self.plugins.items() if i.status == "loaded"]

    def listing(self) -> list[dict[str, Any]]:
        """Every plugin with its source, status and what it registered (for ``plugins list``)."""
        out = []
        for info in self.plugins.values():
            row = info.as_dict()
            row["provider_features"] = {p: provider_features(self.providers.get(p)) for p in info.providers}
            out.append(row)
        return out


def _contract_refusal(plugin: object) -> str:
    """Why a plugin written for another major version of the contract is refused, or ""."""
    wanted = getattr(plugin, "CROSSWATCH_CONTRACT", None)
    if isinstance(wanted, tuple) and wanted:  # (1, 0), shaped like CONTRACT_VERSION: its major counts
        wanted = wanted[0]
    if wanted is None or wanted == CONTRACT_VERSION[0]:
        return ""
    have = ".".join(map(str, CONTRACT_VERSION))
    return f"written for plugin contract {wanted!r}; this crosswatch has contract {have} (CROSSWATCH_CONTRACT)"


def _import_file(path: Path) -> Any:
    """Import a drop-in plugin file as module ``crosswatch_dropin_<stem>``."""
    name = f"crosswatch_dropin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
