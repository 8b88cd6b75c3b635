"""Where captures live: ``<config dir>/snapshots/YYYY-MM-DD/<UTC time>__<PROVIDER>__<feature>__<label>.json``.

Files are written atomically and never over another one (two captures in one second get
``-2``, ``-3``...); listing reads only each file's first line.

Containment: a path taken from a capture file (a bundle's children) or met under ``snapshots/``
is used only when it is a regular file under ``snapshots/``, named without ``..`` and reached
without a symbolic link (crosswatch never makes links, so one is never its own capture). Every
removal goes through :meth:`CaptureStore._unlink`, which checks that again just before.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TypeVar

import msgspec

from crosswatch.captures.format import (
    ALL,
    Capture,
    CaptureError,
    ChildRef,
    Header,
    decode,
    decode_header,
    decode_lines,
    encode,
    header_of,
)
from crosswatch.crashpoints import crash_point
from crosswatch.state import fsync_dir, refuse_foreign_owner

FOLDER = "snapshots"
T = TypeVar("T")
MAX_LABEL = 120
MAX_HEADER_LINE = 1 << 20
MISSING = "missing"
_OWN_ONLY = "crosswatch deletes only its own captures under snapshots/"
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
        return datetime.fromtimestamp(self.path.lstat().st_mtime, UTC)  # a link is not followed

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
        refuse_foreign_owner(folder)
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
            self._readable(path)
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

    def refs(self) -> list[CaptureRef]:
        """Every capture, oldest first."""
        return [self.header(p) for p in self.files()]

    def find(self, name: str) -> Path:
        """A capture by its listed name, its file name, or a path; CaptureError if none or many.

        A name under ``snapshots/`` is returned as found (a link too): reading and deleting
        check it. A path elsewhere is a file the user named; it can be read, never deleted.
        """
        rel = PurePosixPath(name)
        if not rel.is_absolute() and ".." not in rel.parts and os.path.lexists(self.root / rel):
            return self.root / rel
        given = Path(name)
        if (self._inside(given) is not None and os.path.lexists(given)) or given.is_file():
            return given
        if "/" not in name:
            hits = [p for p in self.files() if p.name == name or p.name == name + ".json"]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise CaptureError(f"{name}: {len(hits)} captures have this name; give the folder too")
        raise CaptureError(f"{name}: no such capture (see `crosswatch capture list`)")

    # -- containment ----------------------------------------------------------------------

    def _inside(self, path: Path) -> PurePosixPath | None:
        """``path`` relative to ``snapshots/`` (not normalised: ``..`` stays), or None when elsewhere."""
        absolute = Path(path).absolute()
        for root in (self.root.absolute(), self.root.resolve()):
            with contextlib.suppress(ValueError):
                return PurePosixPath(absolute.relative_to(root).as_posix())
        return None

    def problem(self, rel: PurePosixPath) -> str:
        """Why ``snapshots/<rel>`` is not one of crosswatch's capture files ('' when it is one).

        :data:`MISSING` when there is no such file (a link that leads nowhere is no file either).
        """
        if rel.is_absolute():
            return "an absolute path, not a file under snapshots/"
        if not rel.parts or rel.parts == (".",):
            return "the snapshots/ folder itself, not a capture file"
        if ".." in rel.parts:
            return "climbs out of snapshots/ with '..'"
        current = self.root
        mode = 0
        for depth, part in enumerate(rel.parts, 1):
            current = current / part
            try:
                mode = os.lstat(current).st_mode
            except (FileNotFoundError, NotADirectoryError):
                return MISSING
            except ValueError:  # a NUL byte
                return "not a file name"
            except OSError as exc:
                return f"cannot be checked ({exc.strerror})"
            if stat.S_ISLNK(mode):
                link = "/".join(rel.parts[:depth])
                what = "a symbolic link" if depth == len(rel.parts) else f"goes through the symbolic link {link}"
                return f"{what} (crosswatch never follows a link in snapshots/)"
        if not stat.S_ISREG(mode):
            return "not a regular file"
        if self.root.resolve() not in current.resolve().parents:  # cannot happen without a link; be sure
            return "outside snapshots/"
        return ""

    def _readable(self, path: Path) -> None:
        """Refuse to read a file under ``snapshots/`` that is not a capture file (a link, ``..``)."""
        rel = self._inside(path)
        if rel is None:
            return  # a file the user named by its path elsewhere
        why = self.problem(rel)
        if why and why != MISSING:  # a missing file fails on open, as it always did
            raise CaptureError(f"{self.rel(path)}: {why}; not read")

    def child(self, bundle: str, child: ChildRef) -> Path | None:
        """Where a bundle's child is: a capture file under ``snapshots/``, or None when it is gone.

        CaptureError naming the bundle and the child when its path leads anywhere else.
        """
        why = self.problem(PurePosixPath(child.path))
        if why == MISSING:
            return None
        if why:
            raise CaptureError(f"{bundle}: its {child.feature} capture {child.path!r}: {why}")
        return self.root / child.path

    def _read(self, path: Path) -> bytes:
        self._readable(path)
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
            where = self.child(rel, child)
            if where is None:
                raise CaptureError(f"{rel}: its {child.feature} capture {child.path} is missing")
            part = load(where)
            if header(part).sha256 != child.sha256:
                raise CaptureError(f"{rel}: its {child.feature} capture {child.path} is not the one it was made with")
            parts.append(part)
        return rel, top, parts

    # -- deleting -------------------------------------------------------------------------

    def doomed(self, path: Path) -> list[Path]:
        """What deleting the capture at ``path`` removes: a bundle's children first, then itself.

        Everything is checked before anything goes: the file must be a capture file under
        ``snapshots/``, and each child of a bundle too, carrying the checksum the bundle recorded
        (a child already gone is skipped). Otherwise CaptureError says which file and why.
        """
        rel = self._inside(path)
        if rel is None:
            raise CaptureError(f"{path}: not under {self.root}; {_OWN_ONLY}")
        why = self.problem(rel)
        if why:
            raise CaptureError(f"{rel}: {why}; {_OWN_ONLY}")
        top = self.root / rel
        ref = self.header(top)
        if ref.header is None or not ref.is_bundle:
            return [top]
        files = []
        for child in ref.header.children:
            try:
                found = self._own_child(ref.rel, child)
            except CaptureError as exc:
                raise CaptureError(
                    f"{exc}; nothing was deleted. To remove the bundle file alone (its children stay as "
                    f"captures of their own), delete {top} by hand"
                ) from None
            if found is not None:
                files.append(found)
        return [*files, top]

    def _own_child(self, bundle: str, child: ChildRef) -> Path | None:
        """A bundle's child file, if it is there and carries the checksum the bundle recorded."""
        found = self.child(bundle, child)
        if found is None:
            return None
        ref = self.header(found)
        if ref.header is None:
            raise CaptureError(f"{bundle}: its {child.feature} capture cannot be checked ({ref.error})")
        if ref.header.sha256 != child.sha256:
            raise CaptureError(
                f"{bundle}: its {child.feature} capture {child.path} is not the one it was made with (another checksum)"
            )
        return found

    def delete(self, path: Path, on_removed: Callable[[Path], None] | None = None) -> list[Path]:
        """Delete one capture (a bundle with its children, see :meth:`doomed`); returns what went.

        ``on_removed`` hears of each file as it goes, so a failure part way loses no news.
        """
        removed = []
        for file in self.doomed(path):
            if self._unlink(file):
                removed.append(file)
                if on_removed is not None:
                    on_removed(file)
        for folder in {f.parent for f in removed}:
            fsync_dir(folder)
            if folder != self.root:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty
        return removed

    def _unlink(self, path: Path) -> bool:
        """Remove one capture file, checked again just before; False when it was already gone."""
        rel = self._inside(path)
        why = "not under snapshots/" if rel is None else self.problem(rel)
        if why == MISSING:
            return False
        if why:
            raise CaptureError(f"{rel or path}: {why}; {_OWN_ONLY}")
        crash_point("capture.delete.before", str(rel))
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise CaptureError(f"{rel}: cannot delete ({exc.strerror})") from exc
        crash_point("capture.delete.after", str(rel))
        return True


_NAME = re.compile(r"(?P<stamp>[0-9T:-]+Z)(?:-(?P<n>[0-9]+))?__")


def _order(path: Path) -> tuple[str, int, str]:
    """Captures of one second in the order they were made (``Z``, ``Z-2``, ..., ``Z-10``)."""
    found = _NAME.match(path.name)
    if found is None:
        return (path.name, 0, path.name)
    return (found["stamp"], int(found["n"] or 1), path.name)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
