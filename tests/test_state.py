"""The state folder ``.cw_state/``: private, atomic, never silently reset, locked across processes."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from crosswatch.state import (
    STATE_DIRNAME,
    CorruptStateFile,
    StateDir,
    StateError,
    atomic_write_json,
)
from tests.daemon_proc import wait_until


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files in ``folder`` other than ``keep`` (temp files a failed write left behind)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def full_disk() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def permissive_umask() -> Any:
    old = os.umask(0)
    yield
    os.umask(old)


# -- permissions ----------------------------------------------------------------------------


def test_atomic_write_json_creates_a_private_file(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "trakt_auth.json"
    atomic_write_json(path, {"access_token": "t0k3n", "expires": 3600})

    assert mode_of(path) == 0o600
    assert msgspec.json.decode(path.read_bytes()) == {"access_token": "t0k3n", "expires": 3600}


def test_rewriting_a_world_readable_file_makes_it_private(tmp_path: Path) -> None:
    path = tmp_path / "plex_auth.json"
    path.write_text("{}")
    path.chmod(0o644)

    atomic_write_json(path, {"token": "x"})

    assert mode_of(path) == 0o600


def test_state_dir_is_private_and_its_files_too(tmp_path: Path, permissive_umask: None) -> None:
    state = StateDir(tmp_path)

    folder = state.ensure()

    assert folder == tmp_path / STATE_DIRNAME and folder.is_dir()
    assert mode_of(folder) == 0o700
    written = state.write_json("trakt_watchlist.shadow.json", {"items": []})
    assert written.parent == folder and mode_of(written) == 0o600
    assert state.ensure() == folder  # a second call is harmless


def test_write_json_creates_the_folder_when_needed(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "fresh")

    state.write_json("plex_fallback_memo.json", {"a": 1})

    assert state.read_json("plex_fallback_memo.json", type=dict[str, int]) == {"a": 1}
    assert mode_of(state.path) == 0o700


# -- failing writes ---------------------------------------------------------------------------


def _write_half_then_fill_the_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file opened by fd writes half of what it is given, then fails with ENOSPC."""
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

        def write(self, data: bytes) -> int:
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            raise full_disk()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.fh, name)

    monkeypatch.setattr(os, "fdopen", lambda *a, **kw: FullDisk(real_fdopen(*a, **kw)))


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_a_failing_write_keeps_the_old_content_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    state = StateDir(tmp_path)
    path = state.write_json("trakt_ratings.index.json", {"version": 1, "items": list(range(50))})
    before = path.read_bytes()

    if where == "write":
        _write_half_then_fill_the_disk(monkeypatch)
    else:

        def fail(*args: object, **kwargs: object) -> None:
            raise full_disk()

        monkeypatch.setattr(os, where, fail)
    with pytest.raises(OSError) as caught:
        state.write_json("trakt_ratings.index.json", {"version": 2, "items": list(range(5000))})
    monkeypatch.undo()

    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert state.read_json("trakt_ratings.index.json", type=dict[str, Any])["version"] == 1
    assert leftovers(state.path, {path.name}) == []


def test_a_failing_update_keeps_the_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = StateDir(tmp_path)
    state.write_json("counter.json", {"n": 7})
    _write_half_then_fill_the_disk(monkeypatch)

    with pytest.raises(OSError):
        state.update_json("counter.json", lambda c: {"n": c["n"] + 1}, type=dict[str, int])
    monkeypatch.undo()

    assert state.read_json("counter.json", type=dict[str, int]) == {"n": 7}
    assert leftovers(state.path, {"counter.json", "counter.json.lock"}) == []


# -- corrupt files ----------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b'{"items": [1, 2,', b"", b"\x00\x00\x00\x00", b"not json at all\n"])
def test_a_corrupt_file_is_moved_aside_and_raised_never_reset(tmp_path: Path, content: bytes) -> None:
    state = StateDir(tmp_path)
    state.ensure()
    path = state.file("trakt_watchlist.shadow.json")
    path.write_bytes(content)

    with pytest.raises(CorruptStateFile) as caught:
        state.read_json("trakt_watchlist.shadow.json", default={"items": []}, type=dict[str, list[Any]])

    err = caught.value
    assert str(path) in str(err)
    assert isinstance(err, StateError)
    assert err.moved_to is not None and err.moved_to.parent == state.path
    assert err.moved_to.name in str(err)
    assert err.moved_to.read_bytes() == content  # the evidence, byte for byte
    assert not path.exists()


def test_update_of_a_corrupt_file_raises_and_writes_nothing(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.ensure()
    path = state.file("plex_history.unresolved.json")
    path.write_bytes(b'{"frozen": [')
    calls: list[Any] = []

    with pytest.raises(CorruptStateFile) as caught:
        state.update_json(
            "plex_history.unresolved.json",
            lambda old: calls.append(old) or {"frozen": []},
            default={},
            type=dict[str, Any],
        )

    assert calls == []  # the update never saw a made-up empty state
    assert not path.exists()
    assert caught.value.moved_to is not None and caught.value.moved_to.read_bytes() == b'{"frozen": ['


def test_repeated_corruption_keeps_every_moved_copy(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.ensure()
    moved = []
    for content in (b"{first", b"{second", b"{third"):
        state.file("memo.json").write_bytes(content)
        with pytest.raises(CorruptStateFile) as caught:
            state.read_json("memo.json", type=dict[str, Any])
        moved.append(caught.value.moved_to)

    assert len(set(moved)) == 3
    assert [m.read_bytes() for m in moved] == [b"{first", b"{second", b"{third"]


def test_missing_file_gives_the_default_or_an_error_naming_it(tmp_path: Path) -> None:
    state = StateDir(tmp_path)

    assert state.read_json("nothing.json", default={"n": 0}, type=dict[str, int]) == {"n": 0}
    with pytest.raises(StateError) as caught:
        state.read_json("nothing.json", type=dict[str, int])
    assert str(state.file("nothing.json")) in str(caught.value)
    assert not state.remove("nothing.json")
    state.write_json("nothing.json", [])
    assert state.remove("nothing.json") and not state.file("nothing.json").exists()


# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../config.toml", "..", ".", "", "a/b.json", "/etc/passwd", "sub/../x.json", ".hidden", "x.json\n", "a\\..\\b"],
)
def test_unsafe_state_file_names_are_rejected(tmp_path: Path, name: str) -> None:
    state = StateDir(tmp_path / "cfg")

    with pytest.raises(ValueError):
        state.file(name)
    with pytest.raises(ValueError):
        state.write_json(name, {"x": 1})
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []


def test_seed_state_file_names_are_accepted(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    for name in [
        "trakt_watchlist.shadow.json",
        "trakt_ratings.index.json",
        "plex_fallback_memo.json",
        "plex_ratings.unresolved.json",
    ]:
        assert state.file(name) == tmp_path / STATE_DIRNAME / name


# -- the lock -----------------------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from crosswatch.state import StateDir

    state, go = StateDir(sys.argv[1]), Path(sys.argv[2])
    Path(sys.argv[2] + "-" + sys.argv[3]).touch()  # at the start line
    while not go.exists():
        time.sleep(0.002)

    def bump(counter):
        seen = counter["n"]
        time.sleep(0.0005)  # widen the read-modify-write window
        return {"n": seen + 1, "by": counter["by"] + [sys.argv[3]]}

    for _ in range(50):
        state.update_json("counter.json", bump, default={"n": 0, "by": []}, type=dict)
    """
)


@pytest.mark.slow
def test_update_json_excludes_other_processes(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    go = tmp_path / "go"
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), str(go), f"w{i}"], stderr=subprocess.PIPE)
        for i in range(4)
    ]
    wait_until(lambda: all(Path(f"{go}-w{i}").exists() for i in range(4)), what="every worker at the start line")
    go.touch()
    for proc in workers:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()

    final = state.read_json("counter.json", type=dict[str, Any])
    assert final["n"] == 4 * 50
    assert sorted(set(final["by"])) == ["w0", "w1", "w2", "w3"]
    assert all(final["by"].count(w) == 50 for w in ["w0", "w1", "w2", "w3"])


def test_lock_is_held_until_the_block_ends(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    probe = textwrap.dedent(
        """
        import fcntl, os, sys
        fd = os.open(sys.argv[1], os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("busy")
        else:
            print("free")
        """
    )
    lock_file = str(state.file("counter.json.lock"))

    def probe_lock() -> str:
        return subprocess.run(
            [sys.executable, "-c", probe, lock_file], capture_output=True, text=True, check=True
        ).stdout.strip()

    with state.lock("counter.json"):
        assert probe_lock() == "busy"
    assert probe_lock() == "free"


# -- async ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_wrappers(tmp_path: Path) -> None:
    state = StateDir(tmp_path)

    path = await state.awrite_json("progress.json", {"n": 0})
    assert path == state.file("progress.json") and mode_of(path) == 0o600
    assert await state.aread_json("progress.json", type=dict[str, int]) == {"n": 0}
    assert await state.aread_json("absent.json", default=None, type=dict[str, int]) is None

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(
                partial(state.aupdate_json, "progress.json", lambda c: {"n": c["n"] + 1}, type=dict[str, int])
            )
    assert (await state.aread_json("progress.json", type=dict[str, int]))["n"] == 20

    state.file("progress.json").write_bytes(b"{broken")
    with pytest.raises(CorruptStateFile):
        await state.aread_json("progress.json", type=dict[str, int])
