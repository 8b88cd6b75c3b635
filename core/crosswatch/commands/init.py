"""``crosswatch init``: a commented starter ``config.toml`` from the packaged example, and what to do next."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import sys
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import crosswatch
from crosswatch.commands.common import config_dir, fail
from crosswatch.config import CONFIG_FILE
from crosswatch.crashpoints import crash_point
from crosswatch.errors import CrosswatchError
from crosswatch.state import fsync_dir, refuse_foreign_owner, synced_temp

#: files the wheel carries in crosswatch/data -> where they live in the source tree (pyproject's force-include)
PACKAGED = {"crosswatch.toml": "etc/crosswatch.toml", "crosswatch.service": "systemd/crosswatch.service"}
#: the daemon.listen init writes uncommented; the container image sets it to 0.0.0.0:8787
LISTEN_ENV = "CROSSWATCH_INIT_LISTEN"
_KEY_LINE = re.compile(r"^[A-Za-z0-9_-]+\s*=")
_LISTEN_LINE = re.compile(r"^listen\s*=")
_TABLE_LINE = re.compile(r"^\[\[?([^\[\]]+)\]")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):\d{1,5}$")


def packaged(name: str) -> Traversable:
    """A file of ``crosswatch/data``; an editable install (no such folder) reads it from its source tree."""
    found = resources.files("crosswatch") / "data" / name
    if found.is_file():
        return found
    source = Path(crosswatch.__file__).resolve().parents[2] / PACKAGED[name]
    if source.is_file():
        return source
    raise CrosswatchError(f"this installation of crosswatch lacks its {name} (crosswatch/data); reinstall it")


def init_listen() -> str | None:
    """``$CROSSWATCH_INIT_LISTEN`` (HOST:PORT), the one setting init writes uncommented; None when unset."""
    value = os.environ.get(LISTEN_ENV, "").strip()
    if not value:
        return None
    if not _HOST_PORT.fullmatch(value):
        raise CrosswatchError(f"{LISTEN_ENV}={value!r}: not HOST:PORT (e.g. 0.0.0.0:8787)")
    return value


def starter_text(example: str, *, folder: Path, listen: str | None = None) -> str:
    """The example config with every setting commented out, under a header saying what to set first.

    ``listen`` sets daemon.listen (the container image: only the published port reaches the daemon,
    so it listens on every address of the container).
    """
    lines = example.splitlines()
    if lines and lines[0].startswith("# crosswatch example config"):
        lines = lines[1:]
    out = [
        f"# crosswatch config, written by `crosswatch init` (crosswatch {crosswatch.__version__}).",
        "#",
        "# Every setting is shown at its default and commented out: uncomment a line to change it.",
        "# Set first: [plex] url, [trakt] client_id and client_secret, and one [[pairs]] table.",
        f"# Then check it:  crosswatch --config-dir {folder} config check",
    ]
    table = ""
    for line in lines:
        header = _TABLE_LINE.match(line)
        table = header[1].strip() if header else table
        if listen and table == "daemon" and _LISTEN_LINE.match(line):
            out.append(f"# {line}")
            out.append(f'listen = "{listen}"  # from ${LISTEN_ENV} (the container image: its published port)')
        elif _KEY_LINE.match(line):
            out.append(f"# {line}")
        else:
            out.append(line)
    text = "\n".join(out) + "\n"
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # the example gained a form this does not comment out whole
        raise CrosswatchError(f"the packaged example config does not make a valid starter ({exc})") from None
    return text


class Exists(CrosswatchError):
    """The file is there already: init never overwrites."""


def write_new(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` with ``data`` atomically, never replacing a file that is there (Exists).

    The content goes to a temp file first, is fsynced and then hard-linked into place: the link
    fails if ``path`` exists, so a file that appeared meanwhile is not overwritten either.
    """
    crash_point("init.config.before", path.name)
    tmp = synced_temp(path, data, mode)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise Exists(path) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            _create_exclusive(path, data, mode)  # a filesystem without hard links
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(path.parent)
    crash_point("init.config.after", path.name)


def _create_exclusive(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise Exists(path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise


def _this_script() -> Path:
    """Where this crosswatch's console script is (the path a unit's ExecStart needs)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "crosswatch":
        return argv0.absolute()
    return Path(sys.executable).with_name("crosswatch")


def _unit_exec(unit: str) -> str:
    found = re.search(r"^ExecStart=(\S+)", unit, re.M)
    return found[1] if found else ""


def _docs() -> Path | None:
    for candidate in (
        Path(sys.prefix) / "share" / "doc" / "crosswatch" / "install.md",
        Path(crosswatch.__file__).resolve().parents[2] / "docs" / "install.md",
    ):
        if candidate.is_file():
            return candidate
    return None


def cmd_init(args: argparse.Namespace) -> int:
    folder = config_dir(args)
    config = folder / CONFIG_FILE
    if config.exists() or config.is_symlink():
        return fail(
            f"{config} exists already; crosswatch init never overwrites it (edit it, or move it away to start over)"
        )
    if folder.exists() and not folder.is_dir():
        return fail(f"{folder}: is not a directory")
    refuse_foreign_owner(folder)
    listen = init_listen()
    text = starter_text(packaged("crosswatch.toml").read_text(encoding="utf-8"), folder=folder, listen=listen)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        write_new(config, text.encode())
    except Exists:
        return fail(
            f"{config} exists already; crosswatch init never overwrites it (edit it, or move it away to start over)"
        )
    _next_steps(args, folder, config, listen)
    return 0


def _next_steps(args: argparse.Namespace, folder: Path, config: Path, listen: str | None) -> None:
    cw = f"crosswatch --config-dir {folder}" if args.config_dir else "crosswatch"
    said = f"; daemon.listen = {listen} (from ${LISTEN_ENV})" if listen else ""
    print(f"wrote {config}: every setting at its default, commented out{said}")
    print("next:")
    print("  1. edit it: [plex] url, [trakt] client_id and client_secret, and one [[pairs]] table")
    print(f"  2. sign in:     {cw} auth plex")
    print(f"                  {cw} auth trakt")
    print(f"  3. check:       {cw} config check")
    print(f"  4. try a pair:  {cw} sync plan PAIR -o plan.json   (writes nothing; sync run PAIR applies)")
    if listen:  # the container image: the container is the service
        print(f"  5. run it:      start the container (its command is `{cw} run`)")
        return
    print(f"  5. run it:      {cw} run   (in the foreground; Ctrl+C stops it)")
    unit = packaged("crosswatch.service")
    print(f"  or as a service, the systemd unit: {unit}")
    expects, here = _unit_exec(unit.read_text(encoding="utf-8")), _this_script()
    if expects and Path(expects).resolve() != here.resolve():
        print(f"     its ExecStart runs {expects}; this crosswatch is {here}: set that in `systemctl edit crosswatch`")
    print("     run the commands above as the service's user then (sudo -u crosswatch ...)")
    docs = _docs()
    if docs is not None:
        print(f"  the whole set-up: {docs}")
