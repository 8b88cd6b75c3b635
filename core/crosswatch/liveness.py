"""Whether a daemon runs for a config directory, proved by the lock it holds (cheap to import)."""

from __future__ import annotations

import fcntl
import os

from crosswatch.state import StateDir

DAEMON_FILE = "daemon.json"  # .cw_state/daemon.json: where the running daemon listens, and its token
DAEMON_LOCK = "daemon"  # .cw_state/daemon.lock, held by the running daemon


def daemon_alive(state: StateDir) -> bool:
    """Whether a daemon holds this config directory's lock (it runs, whatever its files say)."""
    try:
        fd = os.open(state.file(DAEMON_LOCK + ".lock"), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken just now
    return False
