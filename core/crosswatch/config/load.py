"""Load ``config.toml`` + ``schedules.toml``, validate into typed objects, report faults by file:line."""

from __future__ import annotations

import os
import re
import tomllib
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import msgspec

from crosswatch.config.locate import format_path, locate, parse_msgspec_path
from crosswatch.config.schema import (
    CORE_SECTIONS,
    CapturesConfig,
    CaptureSchedule,
    DaemonConfig,
    LogConfig,
    PairConfig,
    PluginsConfig,
    ScrobbleConfig,
    SyncConfig,
)
from crosswatch.cron import CronError, parse_cron

CONFIG_FILE = "config.toml"
SCHEDULES_FILE = "schedules.toml"
DEFAULT_CONFIG_DIR = "/config"


@dataclass(frozen=True)
class ConfigSection:
    """A top-level config section owned by a plugin, e.g. ``[plex]``."""

    name: str
    schema: type[msgspec.Struct]
    profiles: bool = True  # accepts [<name>.profiles.<profile>] overrides
    owner: str = ""


@dataclass(frozen=True)
class ConfigIssue:
    """One fault or warning, pointing at a file, a line and a key."""

    file: Path
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The config is invalid; ``issues`` say where and why."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


@dataclass(frozen=True)
class ProviderSection:
    """A plugin section with its profiles: ``default`` is the section itself."""

    name: str
    profiles: dict[str, Any]

    @property
    def default(self) -> Any:
        return self.profiles["default"]


@dataclass(frozen=True)
class Config:
    """The validated config in force."""

    config_dir: Path
    daemon: DaemonConfig = DaemonConfig()
    log: LogConfig = LogConfig()
    plugins: PluginsConfig = PluginsConfig()
    sync: SyncConfig = SyncConfig()
    scrobble: ScrobbleConfig = ScrobbleConfig()
    captures: CapturesConfig = CapturesConfig()
    pairs: tuple[PairConfig, ...] = ()
    sections: dict[str, ProviderSection] = field(default_factory=dict)
    warnings: tuple[ConfigIssue, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def resolve(self, ref: str) -> tuple[str, str, Any]:
        """``"plex"`` or ``"plex.kids"`` -> (section, profile, that profile's settings)."""
        name, _, profile = ref.partition(".")
        profile = profile or "default"
        return name, profile, self.sections[name].profiles[profile]

    def changed_sections(self, other: Config | None) -> tuple[str, ...]:
        """Top-level sections whose raw settings differ from ``other``."""
        if other is None:
            return tuple(sorted(self.raw))
        keys = set(self.raw) | set(other.raw)
        return tuple(sorted(k for k in keys if self.raw.get(k) != other.raw.get(k)))


# -- reading ----------------------------------------------------------------------------


def config_dir_from(arg: str | os.PathLike | None) -> Path:
    """The config directory: the argument, else $CROSSWATCH_CONFIG_DIR, else /config."""
    return Path(arg or os.environ.get("CROSSWATCH_CONFIG_DIR") or DEFAULT_CONFIG_DIR)


def check_config_dir(config_dir: Path) -> None:
    """Raise ConfigError if the folder is missing, not a folder or unreadable."""
    if not config_dir.exists():
        msg = "config directory does not exist (set --config-dir or CROSSWATCH_CONFIG_DIR)"
    elif not config_dir.is_dir():
        msg = "is not a directory"
    elif not os.access(config_dir, os.R_OK | os.X_OK):
        msg = "config directory is not readable by this user"
    else:
        return
    raise ConfigError([ConfigIssue(config_dir, None, "", msg)])


_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def read_toml(path: Path, *, required: bool) -> tuple[dict[str, Any], str]:
    """Parse one TOML file; a missing optional file is empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError([ConfigIssue(path, None, "", "no such file")]) from None
        return {}, ""
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([ConfigIssue(path, None, "", f"cannot read: {reason}")]) from exc
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_POS.search(str(exc))
        line = int(m[1]) if m else None
        if line is None and "(at end of document)" in str(exc):
            line = len(text.rstrip().splitlines()) or 1  # the last line with content
        msg = _TOML_POS.sub("", str(exc)).replace("(at end of document)", "(at end of file)").strip()
        raise ConfigError([ConfigIssue(path, line, "", f"invalid TOML: {msg}")]) from exc


# -- validation -------------------------------------------------------------------------


class _Source:
    """One TOML file being validated: collects issues with line numbers."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text
        self.errors: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []

    def issue(self, key_path: list, message: str) -> ConfigIssue:
        return ConfigIssue(self.path, locate(self.text, key_path), format_path(key_path), message)

    def error(self, key_path: list, message: str) -> None:
        self.errors.append(self.issue(key_path, message))

    def warn(self, key_path: list, message: str) -> None:
        self.warnings.append(self.issue(key_path, message))

    def convert(self, raw: Any, schema: Any, prefix: list) -> Any:
        """msgspec-convert ``raw``; on failure record the fault at its key and return None."""
        try:
            value = msgspec.convert(raw, schema)
        except msgspec.ValidationError as exc:
            message, sub = _error_path(exc, raw, schema)
            self.error(prefix + sub, message)
            return None
        for path in unknown_keys(raw, schema, prefix):
            self.warn(path, "unknown key (ignored)")
        return value


def _error_path(exc: msgspec.ValidationError, raw: Any, schema: Any) -> tuple[str, list]:
    """Split a msgspec error into its message and the key path it points at.

    msgspec writes a table key as ``[...]`` (``$[0].features[...].add``); the key is found
    again by converting ``raw`` with that table cut down to one entry at a time.
    """
    text = str(exc)
    message, sep, at = text.rpartition(" - at `")
    if not sep:
        return text, []
    parts = at.rstrip("`").split("[...]")
    path = parse_msgspec_path(parts[0])
    for rest in parts[1:]:
        table = _get(raw, path)
        key = None
        if isinstance(table, dict):
            key = next((k for k in table if _fails_with(_with(raw, path, {k: table[k]}), schema, text)), None)
        if key is None:
            return message, path
        raw = _with(raw, path, {key: table[key]})
        path = path + [key] + parse_msgspec_path(rest)
    return message, path


def _get(raw: Any, path: list) -> Any:
    """The value at ``path`` in ``raw``, or None."""
    for part in path:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _with(raw: Any, path: list, value: Any) -> Any:
    """A copy of ``raw`` with the value at ``path`` replaced (only the path is copied)."""
    if not path:
        return value
    head, *rest = path
    copy = list(raw) if isinstance(raw, list) else dict(raw)
    copy[head] = _with(raw[head], rest, value)
    return copy


def _fails_with(raw: Any, schema: Any, text: str) -> bool:
    """Whether converting ``raw`` still fails with the error ``text``."""
    try:
        msgspec.convert(raw, schema)
    except msgspec.ValidationError as exc:
        return str(exc) == text
    return False


def _struct_in(tp: Any) -> tuple[str, Any] | None:
    """Find a Struct inside a type: ('struct'|'list'|'dict', StructType)."""
    origin, args = get_origin(tp), get_args(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return "struct", tp
    if origin is Union or str(origin) == "<class 'types.UnionType'>":
        for arg in args:
            if found := _struct_in(arg):
                return found
    if origin is list and args:
        inner = _struct_in(args[0])
        return ("list", inner[1]) if inner and inner[0] == "struct" else None
    if origin is dict and len(args) == 2:
        inner = _struct_in(args[1])
        return ("dict", inner[1]) if inner and inner[0] == "struct" else None
    if getattr(tp, "__metadata__", None) is not None:  # Annotated
        return _struct_in(args[0])
    return None


def unknown_keys(raw: Any, schema: Any, prefix: list) -> Iterator[list]:
    """Yield the path of every key in ``raw`` that ``schema`` does not know."""
    found = _struct_in(schema)
    if not found or not isinstance(raw, (dict, list)):
        return
    kind, struct = found
    if kind == "list" and isinstance(raw, list):
        for i, value in enumerate(raw):
            yield from unknown_keys(value, struct, prefix + [i])
        return
    if kind == "dict" and isinstance(raw, dict):
        for key, value in raw.items():
            yield from unknown_keys(value, struct, prefix + [key])
        return
    if not isinstance(raw, dict):
        return
    fields = {f.encode_name: f.type for f in msgspec.structs.fields(struct)}
    for key, value in raw.items():
        if key not in fields:
            yield prefix + [key]
        elif isinstance(value, (dict, list)):
            yield from unknown_keys(value, fields[key], prefix + [key])


def _check_timezone(src: _Source, path: list, tz: str) -> None:
    if tz:
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            src.error(path, f"unknown time zone {tz!r}")


def _check_cron(src: _Source, path: list, expr: str) -> None:
    try:
        parse_cron(expr)
    except CronError as exc:
        src.error(path, f"invalid cron expression {expr!r}: {exc}")


def _check_listen(src: _Source, listen: str) -> None:
    if not listen:
        return
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        src.error(["daemon", "listen"], f"expected HOST:PORT, got {listen!r}")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _validate_section(src: _Source, name: str, raw: Any, spec: ConfigSection) -> ProviderSection | None:
    if not isinstance(raw, dict):
        src.error([name], f"expected a table, got {type(raw).__name__}")
        return None
    raw = dict(raw)
    profiles_raw = raw.pop("profiles", {}) if spec.profiles else {}
    default = src.convert(raw, spec.schema, [name])
    profiles = {"default": default}
    if not isinstance(profiles_raw, dict):
        src.error([name, "profiles"], "expected a table of profiles")
        return None
    for pname, praw in profiles_raw.items():
        if not isinstance(praw, dict):
            src.error([name, "profiles", pname], "expected a table")
            continue
        before = len(src.errors)
        merged = _merge(raw, praw)
        try:
            profiles[pname] = msgspec.convert(merged, spec.schema)
        except msgspec.ValidationError as exc:
            text, sub = _error_path(exc, merged, spec.schema)
            own = _has_path(praw, sub)
            if own or default is not None:  # else it is the default's fault, reported above
                src.error([name] + (["profiles", pname] if own else []) + sub, text)
        if len(src.errors) == before:
            for path in unknown_keys(praw, spec.schema, [name, "profiles", pname]):
                src.warn(path, "unknown key (ignored)")
    if any(v is None for v in profiles.values()):
        return None
    return ProviderSection(name, profiles)


def _has_path(raw: Any, path: list) -> bool:
    for part in path:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return False
    return True


def _check_ref(src: _Source, path: list, ref: str, sections: Mapping[str, ProviderSection | None]) -> None:
    name, _, profile = ref.partition(".")
    if name not in sections:
        src.error(path, f"no provider section [{name}] (is its plugin installed and enabled?)")
    elif sections[name] is not None and (profile or "default") not in sections[name].profiles:
        src.error(path, f"[{name}] has no profile {profile!r}")


def load_config(config_dir: Path, sections: Mapping[str, ConfigSection] | None = None) -> Config:
    """Read and validate the config of ``config_dir``; raise ConfigError naming every fault.

    ``sections`` are the plugin-owned sections (from the plugin host); a top-level key that
    neither core nor a plugin owns is warned about and ignored.
    """
    sections = sections or {}
    config_dir = Path(config_dir)
    check_config_dir(config_dir)
    raw, text = read_toml(config_dir / CONFIG_FILE, required=False)
    sched_raw, sched_text = read_toml(config_dir / SCHEDULES_FILE, required=False)
    src = _Source(config_dir / CONFIG_FILE, text)
    sched = _Source(config_dir / SCHEDULES_FILE, sched_text)
    if not text and not (config_dir / CONFIG_FILE).exists():
        src.warn([], "not found: running on defaults")

    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in CORE_SECTIONS:
            values[key] = src.convert(value, CORE_SECTIONS[key], [key])
        elif key == "pairs":
            values[key] = src.convert(value, list[PairConfig], [key])
        elif key not in sections:
            src.warn([key], "unknown section (ignored): no plugin provides it")

    provider_sections: dict[str, ProviderSection | None] = {}
    for name, spec in sections.items():
        if name in raw:
            provider_sections[name] = _validate_section(src, name, raw[name], spec)
        else:
            provider_sections[name] = ProviderSection(name, {"default": msgspec.convert({}, spec.schema)})

    # schedules.toml only holds [[captures.schedules]] entries (written by `capture schedule`)
    extra_schedules: list[CaptureSchedule] = []
    for key, value in sched_raw.items():
        if key != "captures" or not isinstance(value, dict):
            sched.warn([key], "unknown key (ignored): schedules.toml holds only [[captures.schedules]]")
            continue
        for sub in value:
            if sub != "schedules":
                sched.warn(["captures", sub], "unknown key (ignored)")
        converted = sched.convert(value.get("schedules", []), list[CaptureSchedule], ["captures", "schedules"])
        extra_schedules = converted or []

    if not src.errors and not sched.errors:
        _semantic_checks(src, sched, values, extra_schedules, provider_sections)
    errors = src.errors + sched.errors
    if errors:
        raise ConfigError(errors)

    captures = values.get("captures") or CapturesConfig()
    if extra_schedules:
        captures = msgspec.structs.replace(captures, schedules=[*captures.schedules, *extra_schedules])
    merged_raw = dict(raw)
    if sched_raw:
        merged_raw["schedules.toml"] = sched_raw
    return Config(
        config_dir=config_dir,
        daemon=values.get("daemon") or DaemonConfig(),
        log=values.get("log") or LogConfig(),
        plugins=values.get("plugins") or PluginsConfig(),
        sync=values.get("sync") or SyncConfig(),
        scrobble=values.get("scrobble") or ScrobbleConfig(),
        captures=captures,
        pairs=tuple(values.get("pairs") or ()),
        sections={k: v for k, v in provider_sections.items() if v is not None},
        warnings=tuple(src.warnings + sched.warnings),
        raw=merged_raw,
    )


def _semantic_checks(
    src: _Source,
    sched: _Source,
    values: dict[str, Any],
    extra_schedules: list[CaptureSchedule],
    sections: Mapping[str, ProviderSection | None],
) -> None:
    daemon: DaemonConfig = values.get("daemon") or DaemonConfig()
    _check_listen(src, daemon.listen)
    _check_timezone(src, ["daemon", "timezone"], daemon.timezone)
    scrobble: ScrobbleConfig = values.get("scrobble") or ScrobbleConfig()
    if scrobble.webhook.enabled and not scrobble.webhook.secret:
        src.error(["scrobble", "webhook", "secret"], "must be set when webhooks are enabled")

    seen: set[str] = set()
    for i, pair in enumerate(values.get("pairs") or ()):
        at = ["pairs", i]
        if pair.name in seen:
            src.error(at + ["name"], f"duplicate pair name {pair.name!r}")
        seen.add(pair.name)
        _check_ref(src, at + ["source"], pair.source, sections)
        _check_ref(src, at + ["target"], pair.target, sections)
        if pair.source == pair.target:
            src.error(at + ["target"], "source and target are the same profile")
        if pair.schedule:
            _check_cron(src, at + ["schedule"], pair.schedule)
        _check_timezone(src, at + ["timezone"], pair.timezone)
        if not pair.features:
            src.error(at + ["features"], "no features selected")

    names: set[str] = set()
    captures: CapturesConfig = values.get("captures") or CapturesConfig()
    for source, schedules in ((src, captures.schedules), (sched, extra_schedules)):
        for i, entry in enumerate(schedules):
            at = ["captures", "schedules", i]
            _check_ref(source, at + ["provider"], entry.provider, sections)
            _check_cron(source, at + ["cron"], entry.cron)
            _check_timezone(source, at + ["timezone"], entry.timezone)
            if entry.job_name in names:
                source.error(at + ["name"], f"duplicate capture schedule name {entry.job_name!r}")
            names.add(entry.job_name)
