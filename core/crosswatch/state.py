"""The state directory ``<config dir>/.cw_state/``: atomic files, locks, corrupt-file handling.

Every write goes to a temp file in the same folder, is fsynced, renamed over the old file
with ``os.replace`` and the folder is fsynced, so a crash or a full disk leaves either the
old file or the new one, never half of one. State files are created 0600 inside a 0700
folder: some of them hold tokens.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import msgspec

from crosswatch.crashpoints import crash_point

STATE_DIRNAME = ".cw_state"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_MISSING: Any = object()


class StateError(Exception):
    """A state file could not be read or written; the message names the file."""


class CorruptStateFile(StateError):
    """A state file did not parse; it has been moved aside (never silently reset)."""

    def __init__(self, path: Path, moved_to: Path | None, reason: str) -> None:
        self.path = path
        self.moved_to = moved_to
        self.reason = reason
        where = f"; moved aside to {moved_to.name}" if moved_to else ""
        super().__init__(f"{path}: corrupt state file ({reason}){where}")


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably; on failure the old file is untouched."""
    path = Path(path)
    crash_point("file.write.before", path.name)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        crash_point("file.write.replace", path.name)  # the new content is on disk, not yet in place
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    crash_point("file.write.after", path.name)


def encode_json(obj: Any, *, pretty: bool = True) -> bytes:
    data = msgspec.json.encode(obj)
    return msgspec.json.format(data, indent=2) + b"\n" if pretty else data


def atomic_write_json(path: Path, obj: Any, *, mode: int = 0o600, pretty: bool = True) -> None:
    atomic_write_bytes(path, encode_json(obj, pretty=pretty), mode=mode)


def move_aside(path: Path, tag: str = "corrupt") -> Path:
    """Rename ``path`` to ``<name>.<tag>-<UTC time>`` next to it and return the new path."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    target = path.with_name(f"{path.name}.{tag}-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{tag}-{stamp}-{n}")
    os.replace(path, target)
    fsync_dir(path.parent)
    return target


class StateDir:
    """``<config dir>/.cw_state``: named JSON files, each written atomically, with locks."""

    def __init__(self, config_dir: Path) -> None:
        self.path = Path(config_dir) / STATE_DIRNAME

    def ensure(self) -> Path:
        """Create the folder 0700, and tighten an existing one that is looser."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.path.stat().st_mode & 0o077:
            os.chmod(self.path, 0o700)
        return self.path

    def file(self, name: str) -> Path:
        if not _SAFE_NAME.fullmatch(name):  # match() would let a trailing newline through
            raise ValueError(f"not a state file name: {name!r}")
        return self.path / name

    def read_json(self, name: str, default: Any = _MISSING, *, type: Any = Any) -> Any:
        """Read a state file; a missing file gives ``default``, a corrupt one is moved aside and raised."""
        path = self.file(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            if default is _MISSING:
                raise StateError(f"{path}: no such state file") from None
            return default
        except OSError as exc:
            raise StateError(f"{path}: cannot read ({exc.strerror})") from exc
        try:
            return msgspec.json.decode(data, type=type)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            moved = move_aside(path)
            raise CorruptStateFile(path, moved, str(exc)) from exc

    def write_json(self, name: str, obj: Any, *, pretty: bool = True) -> Path:
        self.ensure()
        path = self.file(name)
        atomic_write_json(path, obj, pretty=pretty)
        return path

    def remove(self, name: str) -> bool:
        path = self.file(name)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_dir(path.parent)
        return True

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold an exclusive ``flock`` on ``<name>.lock``, shared by the daemon and the CLI."""
        self.ensure()
        fd = os.open(self.file(name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @contextlib.contextmanager
    def try_lock(self, name: str, what: str) -> Iterator[None]:
        """``lock`` that does not wait: StateError saying ``what`` is busy when another holds it."""
        self.ensure()
        fd = os.open(self.file(name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateError(f"{what} is running already (in the daemon or another command)") from None
            yield
        finally:
            os.close(fd)

    @contextlib.asynccontextmanager
    async def alock(self, name: str) -> AsyncIterator[None]:
        """``lock`` for async code: the blocking ``flock`` waits in a worker thread."""
        self.ensure()
        path = self.file(name + ".lock")

        def acquire() -> int:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            return fd

        fd = await anyio.to_thread.run_sync(acquire)
        try:
            yield
        finally:
            os.close(fd)

    def update_json(self, name: str, update: Callable[[Any], Any], default: Any = None) -> Any:
        """Read-modify-write ``name`` under its lock; ``update`` returns the new content."""
        with self.lock(name):
            new = update(self.read_json(name, default))
            self.write_json(name, new)
            return new

    async def aupdate_json(self, name: str, update: Callable[[Any], Any], default: Any = None) -> Any:
        return await anyio.to_thread.run_sync(self.update_json, name, update, default)

    async def aread_json(self, name: str, default: Any = _MISSING) -> Any:
        return await anyio.to_thread.run_sync(lambda: self.read_json(name, default))

    async def awrite_json(self, name: str, obj: Any) -> Path:
        return await anyio.to_thread.run_sync(lambda: self.write_json(name, obj))
