"""A full disk when the Trakt sign-in is refreshed: the single-use refresh token is never lost.

Trakt refresh tokens are single-use. crosswatch reserves room for the new pair in
``.cw_state`` before it sends a refresh: on a full disk it refuses with one line and spends
nothing. Should saving still fail after the refresh, the new pair is kept in memory for the
rest of the process (the sign-in "at risk"), and saved at the next use once there is room.

Against the real Trakt emulator (``capture_env``), run as a person runs crosswatch; the full
disk is the one thing faked: the ``os`` calls that take disk space or flush it fail with ENOSPC
for the temp files the tokens are written through (the rest of the disk is left alone, so a
run can go on and show what it did).
"""

# ruff: noqa: F811  (the pytest fixtures imported from tests.capture_env are test arguments)
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from crosswatch.commands.stopping import BACKEND
from crosswatch.state import StateDir
from crosswatch_trakt.tokens import Tokens, TokenStore
from tests.capture_env import CwEnv, Result, cw_env, emulators  # noqa: F401  (pytest fixtures)

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The commands run on both anyio backends."""
    monkeypatch.setenv(BACKEND, request.param)
    return request.param


def state_dir(env: CwEnv) -> Path:
    return env.folder / ".cw_state"


def store(env: CwEnv) -> TokenStore:
    return TokenStore(StateDir(env.folder), "trakt")


def on_disk(env: CwEnv) -> Tokens:
    return Tokens(**json.loads((state_dir(env) / "trakt.tokens.json").read_text()))


def signed_in_and_expired(env: CwEnv) -> Tokens:
    """A sign-in of this test's own whose access token has expired: the next request refreshes it."""
    issued = env.trakt.issue_token()
    tokens = Tokens(
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        expires_in=issued["expires_in"],
        created_at=int(time.time()) - issued["expires_in"] - 60,
        client_id=env.trakt.client_id,
    )
    store(env).save(tokens)
    env.trakt.auth.expire_all()
    env.trakt.stats.reset()
    return tokens


def fill_disk(monkeypatch: pytest.MonkeyPatch, env: CwEnv, *, reserve: bool) -> None:
    """Writing the tokens file fails as on a full disk (ENOSPC): reserving room too when ``reserve``."""
    temp = str(state_dir(env) / ".trakt.tokens.json.")  # the temp files the tokens are written through
    for call in ("posix_fallocate", "pwrite", "fsync") if reserve else ("pwrite", "fsync"):
        real = getattr(os, call)

        def full(fd: int, *args: object, real: Any = real) -> object:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(temp):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(fd, *args)

        monkeypatch.setattr(os, call, full)


def refreshes(env: CwEnv) -> int:
    return env.trakt.stats.requests.get("POST /oauth/token", 0)


def capture(env: CwEnv, feature: str = "watchlist") -> Result:
    return env.cli("capture", "create", "--provider", "trakt", "--feature", feature, "--json")


def messages(result: Result) -> list[str]:
    return [line for line in result.err.splitlines() if line.startswith("crosswatch:")]


def leftovers(env: CwEnv) -> list[str]:
    """Temp files a reservation left behind."""
    return sorted(p.name for p in state_dir(env).iterdir() if p.name.endswith(".tmp"))


def test_no_room_for_the_new_tokens_refuses_the_refresh_and_spends_nothing(
    cw_env: CwEnv, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = cw_env
    old = signed_in_and_expired(env)
    fill_disk(monkeypatch, env, reserve=True)

    result = capture(env)

    assert result.code == 1
    assert messages(result) == [
        f"crosswatch: cannot refresh the Trakt sign-in: no space left on device in {state_dir(env)}; "
        "free space there and try again (nothing was spent: the saved sign-in still holds)"
    ], result.err
    assert refreshes(env) == 0  # no refresh request reached Trakt
    assert old.refresh_token in env.trakt.auth.refresh_tokens  # unspent
    assert on_disk(env) == old and leftovers(env) == []

    monkeypatch.undo()  # space is freed: the next run refreshes, and saves the new pair
    monkeypatch.setenv(BACKEND, backend)
    again = capture(env)
    assert again.code == 0, again.err
    assert refreshes(env) == 1 and on_disk(env).refresh_token != old.refresh_token


def test_a_save_failing_after_the_refresh_keeps_the_sign_in_in_memory(
    cw_env: CwEnv, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = cw_env
    old = signed_in_and_expired(env)
    fill_disk(monkeypatch, env, reserve=False)  # the room was reserved, then the write fails

    first = capture(env)

    assert first.code == 0, first.err  # the run goes on with the refreshed tokens
    assert refreshes(env) == 1
    assert old.refresh_token not in env.trakt.auth.refresh_tokens  # spent
    [message] = messages(first)
    assert message.startswith("crosswatch: the Trakt sign-in is at risk: ")
    assert str(state_dir(env) / "trakt.tokens.json") in message and "No space left on device" in message
    assert "crosswatch auth trakt" in message
    assert on_disk(env) == old and leftovers(env) == []  # the old file is untouched

    # the disk is still full: the next command in this process uses the tokens kept in memory
    second = capture(env, "ratings")
    assert second.code == 0, second.err
    assert refreshes(env) == 1  # no second refresh: the spent refresh token is never sent again
    assert env.trakt.stats.requests.get("GET /sync/ratings/movies", 0) == 1
    [again] = messages(second)
    assert again.startswith("crosswatch: the Trakt sign-in is still at risk: ")
    assert on_disk(env) == old


@pytest.mark.slow
def test_once_space_is_freed_the_kept_sign_in_is_saved_and_a_new_process_uses_it(
    cw_env: CwEnv, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = cw_env
    old = signed_in_and_expired(env)
    fill_disk(monkeypatch, env, reserve=False)
    assert capture(env).code == 0
    monkeypatch.undo()  # space is freed
    monkeypatch.setenv(BACKEND, backend)

    after = capture(env, "ratings")

    assert after.code == 0, after.err
    assert messages(after) == [
        f"crosswatch: the refreshed Trakt sign-in is saved now in {state_dir(env) / 'trakt.tokens.json'}: "
        "it is safe again"
    ]
    saved = on_disk(env)
    assert saved.refresh_token != old.refresh_token and saved.refresh_token in env.trakt.auth.refresh_tokens
    assert oct((state_dir(env) / "trakt.tokens.json").stat().st_mode & 0o777) == "0o600"
    assert leftovers(env) == []

    # a new process has only the file: it reads Trakt with the saved pair, no refresh needed
    env.trakt.stats.reset()
    command = ["capture", "create", "--provider", "trakt", "--feature", "history"]
    proc = subprocess.run(
        [CROSSWATCH, "--config-dir", str(env.folder), *command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, BACKEND: backend},
    )
    assert proc.returncode == 0, proc.stderr
    assert env.trakt.stats.requests.get("GET /sync/history/movies", 0) >= 1
    assert refreshes(env) == 0 and "401" not in env.trakt.stats.statuses
