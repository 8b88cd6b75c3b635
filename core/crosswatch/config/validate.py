"""Validation helpers: msgspec conversion with exact key paths, unknown-key detection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import msgspec

from crosswatch.config.locate import format_path, locate, parse_msgspec_path
from crosswatch.config.types import ConfigIssue


class Source:
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
            message, sub = error_path(exc, raw, schema)
            self.error(prefix + sub, message)
            return None
        for path in unknown_keys(raw, schema, prefix):
            self.warn(path, "unknown key (ignored)")
        return value


def error_path(exc: msgspec.ValidationError, raw: Any, schema: Any) -> tuple[str, list]:
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


def _get(raw: Any, path: list, default: Any = None) -> Any:
    """The value at ``path`` in ``raw``, or ``default``."""
    for part in path:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return default
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


def has_path(raw: Any, path: list) -> bool:
    missing = object()
    return _get(raw, path, missing) is not missing


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
