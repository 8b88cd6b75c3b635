"""Where captures live: ``<config dir>/snapshots/YYYY-MM-DD/<UTC time>__<PROVIDER>__<feature>__<label>.json``.

Files are written atomically and never over another one (two captures in one second get
``-2``, ``-3``...); listing reads only each file's first line; deleting touches nothing but
files under ``snapshots/``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import msgspec

from crosswatch.captures.format import (
    ALL,
    Capture,
    CaptureError,
    Header,
    decode,
    decode_header,
    decode_lines,
    encode,
    header_of,
)
from crosswatch.crashpoints import crash_point
from crosswatch.state import fsync_dir

FOLDER = "snapshots"
T = TypeVar("T")
MAX_LABEL = 120
MAX_HEADER_LINE = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def check_label(label: str) -> str:
    """The label as given, if it can be one; CaptureError saying why not."""
    label = label.strip()
    if any(unicodedata.category(c) == "Cc" for c in label):
        raise CaptureError(f"label {label!r} holds control characters (NUL, newline, ...); use plain text")
    if len(label) > MAX_LABEL:
        raise CaptureError(f"label is {len(label)} characters long; at most {MAX_LABEL}")
    return label


def label_slug(label: str) -> str:
    """The label's file-name part: never a path (``/``, ``..`` and the like become ``-``)."""
    slug = _UNSAFE.sub("-", label).strip(".-")
    return re.sub(r"\.{2,}", "-", slug)[:MAX_LABEL]


def stamp(created: datetime) -> str:
    return created.astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")


def iso(created: datetime) -> str:
    return created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_created(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class CaptureRef:
    """A capture file on disk with its header (or why it could not be read)."""

    path: Path
    rel: str  # relative to snapshots/, the name commands show and take
    header: Header | None
    error: str = ""

    @property
    def created(self) -> datetime:
        if self.header is not None:
            with contextlib.suppress(ValueError):
                return parse_created(self.header.created)
        return datetime.fromtimestamp(self.path.stat().st_mtime, UTC)

    @property
    def is_bundle(self) -> bool:
        return self.header is not None and self.header.feature == ALL


class CaptureStore:
    """The ``snapshots/`` folder of one config directory."""

    def __init__(self, config_dir: Path) -> None:
        self.root = Path(config_dir) / FOLDER

    def name_for(self, header: Header, created: datetime, n: int = 1) -> Path:
        who = header.provider if header.profile == "default" else f"{header.provider}.{label_slug(header.profile)}"
        parts = [stamp(created) + (f"-{n}" if n > 1 else ""), who, header.feature]
        slug = label_slug(header.label)
        if slug:
            parts.append(slug)
        return self.root / created.astimezone(UTC).strftime("%Y-%m-%d") / ("__".join(parts) + ".json")

    def write(self, capture: Capture, created: datetime, n: int = 1) -> CaptureRef:
        """Write ``capture`` under a new name (never replacing a file); returns where it went.

        On any failure nothing is left: no temp file, and no file under the final name.
        """
        data, header = encode(capture)
        path = self.name_for(capture, created, n)
        folder = path.parent
        linked = False
        crash_point("capture.write.before", path.name)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}.", suffix=".tmp")
            os.close(fd)
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                while True:
                    try:
                        os.link(tmp, path)  # fails if the name is taken: never overwrite a capture
                        linked = True
                        break
                    except FileExistsError:
                        n += 1
                        path = self.name_for(capture, created, n)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            fsync_dir(folder)
        except OSError as exc:
            if linked:
                with contextlib.suppress(OSError):
                    path.unlink()
            hint = " (the disk is full)" if exc.errno == errno.ENOSPC else ""
            raise CaptureError(f"cannot write capture {path}: {exc.strerror}{hint}; nothing was written") from exc
        crash_point("capture.write.after", path.name)
        return CaptureRef(path, self.rel(path), header)

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def files(self) -> Iterator[Path]:
        if not self.root.is_dir():
            return
        for day in sorted(self.root.iterdir()):
            if day.is_dir() and not day.name.startswith("."):
                yield from sorted((p for p in day.glob("*.json") if not p.name.startswith(".")), key=_order)

    def header(self, path: Path) -> CaptureRef:
        """A file's header from its first line (the whole file only when it is not in our layout)."""
        where = self.rel(path)
        try:
            with open(path, "rb") as fh:
                first = fh.readline(MAX_HEADER_LINE)
            header = decode_header(first, where)
            if header is None:
                header = header_of(decode(path.read_bytes(), where))
        except CaptureError as exc:
            return CaptureRef(path, where, None, str(exc))
        except OSError as exc:
            return CaptureRef(path, where, None, f"{where}: cannot read ({exc.strerror})")
        return CaptureRef(path, where, header)

    def list(self) -> list[CaptureRef]:
        """Every capture, oldest first."""
        return [self.header(p) for p in self.files()]

    def find(self, name: str) -> Path:
        """A capture by its listed name, its file name, or a path; CaptureError if none or many."""
        given = Path(name)
        for candidate in (self.root / name, given):
            if candidate.is_file():
                return candidate
        if "/" not in name:
            hits = [p for p in self.files() if p.name == name or p.name == name + ".json"]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise CaptureError(f"{name}: {len(hits)} captures have this name; give the folder too")
        raise CaptureError(f"{name}: no such capture (see `crosswatch capture list`)")

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise CaptureError(f"{self.rel(path)}: cannot read ({exc.strerror})") from exc

    def load(self, name: str | Path) -> Capture:
        """A whole capture, checked (kind, format, checksum)."""
        path = self.find(str(name)) if not isinstance(name, Path) else name
        return decode(self._read(path), self.rel(path))

    def load_lines(self, path: Path) -> tuple[Header, list[bytes]]:
        """A capture's header and raw item lines, checked, without decoding an item when it can."""
        where = self.rel(path)
        data = self._read(path)
        fast = decode_lines(data, where)
        if fast is not None:
            return fast
        capture = decode(data, where)  # another layout (or a damaged file: this raises)
        return header_of(capture), [msgspec.json.encode(i) for i in capture.items]

    def parts(self, name: str, load: Callable[[Path], T], header: Callable[[T], Header]) -> tuple[str, T, list[T]]:
        """A capture by name, loaded with ``load``, and its parts: itself, or a bundle's children.

        Each child must exist and be the one the bundle was made with (its checksum).
        """
        path = self.find(name)
        rel = self.rel(path)
        top = load(path)
        if header(top).feature != ALL:
            return rel, top, [top]
        parts = []
        for child in header(top).children:
            where = self.root / child.path
            if not where.is_file():
                raise CaptureError(f"{rel}: its {child.feature} capture {child.path} is missing")
            part = load(where)
            if header(part).sha256 != child.sha256:
                raise CaptureError(f"{rel}: its {child.feature} capture {child.path} is not the one it was made with")
            parts.append(part)
        return rel, top, parts

    def children(self, bundle: Header) -> list[Path]:
        """A bundle's child files (those that still exist)."""
        return [p for c in bundle.children if (p := self.root / c.path).is_file()]

    def delete(self, path: Path) -> list[Path]:
        """Delete one capture (a bundle with its children); only files under ``snapshots/``."""
        path = path.resolve()
        root = self.root.resolve()
        if root not in path.parents:
            raise CaptureError(f"{path}: not under {root}; crosswatch deletes only its own captures")
        ref = self.header(path)
        doomed = ([*self.children(ref.header)] if ref.header is not None and ref.is_bundle else []) + [path]
        removed = []
        for file in doomed:
            with contextlib.suppress(FileNotFoundError):
                file.unlink()
                removed.append(file)
        for folder in {f.parent for f in removed}:
            fsync_dir(folder)
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        return removed


_NAME = re.compile(r"(?P<stamp>[0-9T:-]+Z)(?:-(?P<n>[0-9]+))?__")


def _order(path: Path) -> tuple[str, int, str]:
    """Captures of one second in the order they were made (``Z``, ``Z-2``, ..., ``Z-10``)."""
    found = _NAME.match(path.name)
    if found is None:
        return (path.name, 0, path.name)
    return (found["stamp"], int(found["n"] or 1), path.name)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
