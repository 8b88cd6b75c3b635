"""Load ``config.toml`` + ``schedules.toml``, validate into typed objects, report faults by file:line."""

from __future__ import annotations

import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from crosswatch.config.names import pair_slug
from crosswatch.config.schema import (
    CORE_SECTIONS,
    CaptureSchedule,
    CapturesConfig,
    DaemonConfig,
    HistoryConfig,
    LogConfig,
    NotifyConfig,
    PairConfig,
    PluginsConfig,
    ScrobbleConfig,
    SyncConfig,
    WebConfig,
)
from crosswatch.config.types import (
    CONFIG_FILE,
    DEFAULT_CONFIG_DIR,
    SCHEDULES_FILE,
    Config,
    ConfigError,
    ConfigIssue,
    ConfigSection,
    ProviderSection,
)
from crosswatch.config.validate import Source, error_path, has_path, merge, unknown_keys
from crosswatch.cron import CronError, parse_cron


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
    except RecursionError:
        raise ConfigError([ConfigIssue(path, None, "", "invalid TOML: nested too deeply")]) from None


# -- validation -------------------------------------------------------------------------


def _check_timezone(src: Source, path: list, tz: str) -> None:
    if tz:
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            src.error(path, f"unknown time zone {tz!r}")


def _check_cron(src: Source, path: list, expr: str) -> None:
    try:
        parse_cron(expr)
    except CronError as exc:
        src.error(path, f"invalid cron expression {expr!r}: {exc}")


def _check_listen(src: Source, listen: str) -> None:
    if not listen:
        return
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        src.error(["daemon", "listen"], f"expected HOST:PORT, got {listen!r}")


def _validate_section(src: Source, name: str, raw: Any, spec: ConfigSection) -> ProviderSection | None:
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
        merged = merge(raw, praw)
        try:
            profiles[pname] = msgspec.convert(merged, spec.schema)
        except msgspec.ValidationError as exc:
            text, sub = error_path(exc, merged, spec.schema)
            own = has_path(praw, sub)
            if own or default is not None:  # else it is the default's fault, reported above
                src.error([name] + (["profiles", pname] if own else []) + sub, text)
        if len(src.errors) == before:
            for path in unknown_keys(praw, spec.schema, [name, "profiles", pname]):
                src.warn(path, "unknown key (ignored)")
    if any(v is None for v in profiles.values()):
        return None
    return ProviderSection(name, profiles)


def _check_ref(src: Source, path: list, ref: str, sections: Mapping[str, ProviderSection | None]) -> None:
    name, _, profile = ref.partition(".")
    if name not in sections:
        src.error(path, f"no provider section [{name}] (is its plugin installed and enabled?)")
    elif (section := sections[name]) is not None and (profile or "default") not in section.profiles:
        src.error(path, f"[{name}] has no profile {profile!r}")


def load_config(
    config_dir: Path, sections: Mapping[str, ConfigSection] | None = None, in_force: Config | None = None
) -> Config:
    """Read and validate the config of ``config_dir``; raise ConfigError naming every fault.

    ``sections`` are the plugin-owned sections (from the plugin host); a top-level key that
    neither core nor a plugin owns is warned about and ignored. ``in_force`` is the config a
    running daemon reloads over: if it came from a config.toml with settings, a config.toml
    that is now missing or empty is a fault rather than "all defaults".
    """
    sections = sections or {}
    config_dir = Path(config_dir)
    check_config_dir(config_dir)
    raw, text = read_toml(config_dir / CONFIG_FILE, required=False)
    if not raw and in_force is not None and in_force.from_file:
        _refuse_losing_the_file(config_dir / CONFIG_FILE)
    sched_raw, sched_text = read_toml(config_dir / SCHEDULES_FILE, required=False)
    src = Source(config_dir / CONFIG_FILE, text)
    sched = Source(config_dir / SCHEDULES_FILE, sched_text)
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
            try:
                defaults = msgspec.convert({}, spec.schema)
            except msgspec.ValidationError:
                continue  # the section has required keys: its provider is simply not configured
            provider_sections[name] = ProviderSection(name, {"default": defaults}, configured=False)

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
        history=values.get("history") or HistoryConfig(),
        notify=values.get("notify") or NotifyConfig(),
        web=values.get("web") or WebConfig(),
        pairs=tuple(values.get("pairs") or ()),
        sections={k: v for k, v in provider_sections.items() if v is not None},
        warnings=tuple(src.warnings + sched.warnings),
        raw=merged_raw,
        from_file=bool(raw),
    )


def _refuse_losing_the_file(path: Path) -> None:
    """Refuse a config.toml that vanished or was emptied under a running daemon.

    Usually a save gone wrong or a half-finished edit: applying it as "all defaults" would stop
    every pair and scrobbling, so the daemon keeps the config it has instead.
    """
    what = "is empty (nothing but whitespace or comments)" if path.exists() else "is missing"
    why = f"{what}: not applied, the previous config stays in force (restore it; restart to run on defaults)"
    raise ConfigError([ConfigIssue(path, None, "", why)])


def _semantic_checks(
    src: Source,
    sched: Source,
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
    slugs: dict[str, tuple[str, list]] = {}  # lower-cased slug -> the first pair's name and key path
    for i, pair in enumerate(values.get("pairs") or ()):
        at = ["pairs", i]
        if pair.name in seen:
            src.error(at + ["name"], f"duplicate pair name {pair.name!r}")
        else:
            _check_slug(src, at + ["name"], pair.name, slugs)
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


def _check_slug(src: Source, path: list, name: str, slugs: dict[str, tuple[str, list]]) -> None:
    """Two pairs whose names map to the same state files (compared as a case-insensitive file system would)."""
    slug = pair_slug(name)
    first, first_at = slugs.setdefault(slug.lower(), (name, path))
    if first_at is path:
        return
    line = src.issue(first_at, "").line
    where = f" (line {line})" if line else ""
    theirs = pair_slug(first)
    files = (
        f"both are stored as sync_{slug}_*"
        if theirs == slug
        else f"sync_{slug}_* and sync_{theirs}_* are the same files where case is ignored"
    )
    src.error(
        path, f"pair {name!r} would share its state files with pair {first!r}{where}: {files}; rename one of them"
    )
