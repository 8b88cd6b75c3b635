"""Find the line of a dotted key in TOML source, so every config message can name it."""

from __future__ import annotations

import re
from collections.abc import Sequence

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_PATH = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[\.\.\.\]")

Path = Sequence[str | int]


def split_key(key: str) -> list[str]:
    """Split a TOML dotted key into its parts, honouring quotes."""
    parts: list[str] = []
    for m in re.finditer(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', key):
        parts.append(next(g for g in m.groups() if g is not None))
    return parts


def parse_msgspec_path(path: str) -> list[str | int]:
    """``$.pairs[0].mode`` -> ``["pairs", 0, "mode"]``."""
    return [m[1] if m[1] is not None else int(m[2]) for m in _PATH.finditer(path) if m[1] or m[2]]


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def locate(text: str, path: Path) -> int | None:
    """The 1-based line that sets ``path`` in ``text``, or of its nearest enclosing table."""
    target = list(path)
    table: list[str | int] = []
    arrays: dict[tuple, int] = {}  # array-of-tables path -> current index
    best_len, best_line = 0, None
    for lineno, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            names = split_key(header[2])
            table = []
            for i, name in enumerate(names):
                table.append(name)
                key = tuple(table)
                last = i == len(names) - 1
                if last and header[1] == "[[":
                    arrays[key] = arrays.get(key, -1) + 1
                    table.append(arrays[key])
                elif key in arrays:
                    table.append(arrays[key])
            here = table
        else:
            key_match = _KEY.match(line)
            if not key_match or line.lstrip().startswith("#"):
                continue
            here = [*table, *split_key(key_match[1])]
        n = len(here)
        if n <= len(target) and here == target[:n] and n > best_len:
            best_len, best_line = n, lineno
            if n == len(target):
                break
    return best_line
