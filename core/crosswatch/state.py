"""The state directory ``<config dir>/.cw_state/``: atomic files, locks, corrupt-file handling.

Every write goes to a temp file in the same folder, is fsynced, renamed over the old file
with ``os.replace`` and the folder is fsynced, so a crash or a full disk leaves either the
old file or the new one, never half of one. State files are created 0600 inside a 0700
folder: some of them hold tokens.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import msgspec
import structlog

from crosswatch.crashpoints import crash_point
from crosswatch.errors import CrosswatchError

STATE_DIRNAME = ".cw_state"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_MISSING: Any = object()
_log = structlog.get_logger("crosswatch.state")


class StateError(CrosswatchError):
    """A state file could not be read or written; the message names the file."""


class Busy(StateError):
    """Another process holds the lock of what was asked for (a pair's run, say)."""


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


def synced_temp(path: Path, data: bytes, mode: int) -> str:
    """A temp file beside ``path`` holding ``data``, fsynced, with ``mode``; the caller moves or removes it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably; on failure the old file is untouched."""
    path = Path(path)
    crash_point("file.write.before", path.name)
    tmp = synced_temp(path, data, mode)
    try:
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


def refuse_foreign_owner(path: Path) -> None:
    """As root, refuse to write into a folder another user owns (the service's, run as its own user).

    ``path`` is where the write goes; when it does not exist yet, the nearest folder above it
    that does decides. Files root made there (0600) could not be read by that user, and the
    service would fail on them later; the command should run as the folder's owner (``sudo -u``).
    """
    if os.geteuid() != 0:
        return
    path = Path(path).absolute()
    while True:
        try:
            uid = path.stat().st_uid
            break
        except FileNotFoundError:
            if path.parent == path:
                return
            path = path.parent
    if uid == 0:
        return
    import pwd

    try:
        name = pwd.getpwuid(uid).pw_name
        who, sudo = f"user {name} (uid {uid})", name
    except KeyError:
        who, sudo = f"uid {uid}", f"'#{uid}'"
    raise StateError(
        f"{path} belongs to {who}, not root: files root wrote there would be unreadable to that user "
        f"(the service); run the command as that user: sudo -u {sudo} crosswatch ..."
    )


class StateDir:
    """``<config dir>/.cw_state``: named JSON files, each written atomically, with locks."""

    def __init__(self, config_dir: Path) -> None:
        self.path = Path(config_dir) / STATE_DIRNAME

    @property
    def config_dir(self) -> Path:
        """The config directory this state folder belongs to."""
        return self.path.parent

    def ensure(self) -> Path:
        """Create the folder 0700, and tighten an existing one that is looser."""
        refuse_foreign_owner(self.path)
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.path.stat().st_mode & 0o077:
            os.chmod(self.path, 0o700)
        return self.path

    def file(self, name: str) -> Path:
        if not _SAFE_NAME.fullmatch(name):  # match() would let a trailing newline through
            raise ValueError(f"not a state file name: {name!r}")
        return self.path / name

    def read_json(self, name: str, default: Any = _MISSING, *, type: Any) -> Any:
        """Read a state file as ``type``; a missing file gives ``default``.

        ``type`` is the file's shape (a msgspec-decodable type, never ``Any``): a file that does
        not parse, or parses to another shape, is moved aside and raised as CorruptStateFile.
        """
        if type is Any:
            raise TypeError(f"read_json({name!r}) needs the file's shape, not Any")
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
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            moved = move_aside(path)
            raise CorruptStateFile(path, moved, _why(exc)) from exc

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
                raise Busy(f"{what} is running already (in the daemon or another command)") from None
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

    def update_json(self, name: str, update: Callable[[Any], Any], default: Any = None, *, type: Any) -> Any:
        """Read-modify-write ``name`` (read as ``type``) under its lock; ``update`` returns the new content."""
        with self.lock(name):
            new = update(self.read_json(name, default, type=type))
            self.write_json(name, new)
            return new

    async def aupdate_json(self, name: str, update: Callable[[Any], Any], default: Any = None, *, type: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: self.update_json(name, update, default, type=type))

    async def aread_json(self, name: str, default: Any = _MISSING, *, type: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: self.read_json(name, default, type=type))

    async def awrite_json(self, name: str, obj: Any) -> Path:
        return await anyio.to_thread.run_sync(lambda: self.write_json(name, obj))

    # -- files crosswatch can go on without, and room reserved ahead -----------------------------

    def read_json_or_default(self, name: str, default: Any, *, type: Any, instead: str = "") -> Any:
        """``read_json``, but a damaged file (moved aside) is reported and read as ``default``.

        For files crosswatch can go on without (caches, memos, frozen items, a sign-in that is
        then missing): the person is told which file was set aside and, in ``instead``, what
        happens without it.
        """
        try:
            return self.read_json(name, default, type=type)
        except CorruptStateFile as exc:
            report_damaged(exc, instead)
            return default

    def update_json_or_default(
        self, name: str, update: Callable[[Any], Any], default: Any, *, type: Any, instead: str = ""
    ) -> Any:
        """``update_json``; a damaged file is moved aside, reported, and ``update`` starts from ``default``."""
        try:
            return self.update_json(name, update, default, type=type)
        except CorruptStateFile as exc:  # raised before ``update`` ran: nothing was changed yet
            report_damaged(exc, instead)
        return self.update_json(name, update, default, type=type)

    def reserve(self, name: str, size: int | None = None) -> Reservation:
        """Room for ``name``'s next content (``SMALL_FILE`` bytes unless told; see :class:`Reservation`)."""
        self.ensure()
        return Reservation(self.file(name), size or SMALL_FILE)


def _why(exc: Exception) -> str:
    if isinstance(exc, msgspec.ValidationError):
        return f"not the shape crosswatch keeps there: {exc}"
    return str(exc)


def report_problem(logger: Any, event: str, message: str, *, level: int = logging.ERROR, **fields: Any) -> None:
    """Tell a person about a problem crosswatch works around (or that puts something at risk).

    A log line (at ``level``) where those are shown (the daemon, ``-v``); else, in a command
    that keeps its log quiet, one ``crosswatch: <message>`` line on stderr.
    """
    if getattr(logger, "is_enabled_for", lambda _level: True)(level):
        logger.log(level, event, message=message, **fields)
    else:
        print(f"crosswatch: {message}", file=sys.stderr, flush=True)


def report_damaged(exc: CorruptStateFile, instead: str = "") -> None:
    """Report a state file that was moved aside, and what crosswatch does without it."""
    report_problem(
        _log,
        "state.moved_aside",
        f"{exc}; {instead or 'going on as if it were not there'}",
        file=str(exc.path),
        moved_to=str(exc.moved_to),
        reason=exc.reason,
    )


#: room reserved for a small state file's next content (tokens and ids are well under 1 KiB)
SMALL_FILE = 4096


class NoRoom(StateError):
    """The room for a file's next content could not be reserved: nothing was written or done."""

    def __init__(self, path: Path, exc: OSError) -> None:
        self.path = path
        self.errno = exc.errno
        self.full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        self.reason = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc)).lower()
        super().__init__(f"{path.parent}: cannot reserve room for {path.name} ({self.reason})")


class Reservation:
    """Room for one file's next content, held by a temp file next to it until written or released.

    Reserve before doing what cannot be undone (spending a single-use token), write after: on a
    full disk the reservation fails (:class:`NoRoom`) before anything was done, and the write
    goes into disk space that is already the file's. ``write`` then replaces the file as
    ``atomic_write_bytes`` does (fsync, ``os.replace``, fsync of the folder). Use it as a
    context manager, or call ``release`` (a no-op after a write).
    """

    def __init__(self, path: Path, size: int = SMALL_FILE) -> None:
        self.path = Path(path)
        self.size = size
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as exc:
            raise NoRoom(self.path, exc) from exc
        self._fd: int | None = fd
        self._tmp: str | None = tmp
        try:
            _allocate(fd, size)
        except OSError as exc:
            self.release()
            raise NoRoom(self.path, exc) from exc

    def write(self, data: bytes, *, mode: int = 0o600) -> None:
        """Replace the file with ``data``, written into the reserved room; on failure the old file stays."""
        fd, tmp = self._fd, self._tmp
        if fd is None or tmp is None:
            raise StateError(f"{self.path}: its reserved room was used or released already")
        crash_point("file.reserved.before", self.path.name)
        view = memoryview(data)
        done = 0
        while done < len(view):
            done += os.pwrite(fd, view[done:], done)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
        os.fchmod(fd, mode)
        self._fd = None
        os.close(fd)
        crash_point("file.reserved.replace", self.path.name)  # the new content is on disk, not yet in place
        os.replace(tmp, self.path)
        self._tmp = None
        fsync_dir(self.path.parent)
        crash_point("file.reserved.after", self.path.name)

    def release(self) -> None:
        """Give the room back (the temp file goes); nothing to do after a write."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
        if self._tmp is not None:
            tmp, self._tmp = self._tmp, None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _allocate(fd: int, size: int) -> None:
    """Take ``size`` bytes of disk for ``fd`` now, so a full disk shows here and not at the write."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is not None:
        try:
            fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    os.pwrite(fd, bytes(size), 0)  # no fallocate on this filesystem: zeros take the room
    os.fsync(fd)
