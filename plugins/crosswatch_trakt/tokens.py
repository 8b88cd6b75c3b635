"""Trakt OAuth tokens in ``.cw_state`` (0600): load, save atomically, refresh before expiry.

A refresh spends the single-use refresh token, so the room for the new pair is reserved in
``.cw_state`` before the refresh is sent (:meth:`TokenStore.reserve`): a full disk refuses the
refresh with nothing spent. Should saving the new pair still fail, it is kept in memory for
the rest of the process (the only copy of the sign-in), reported as at risk, and saved at
the next use.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import msgspec
import structlog

from crosswatch.logging import register_secret
from crosswatch.state import Reservation, StateDir, StateError, encode_json, report_problem

log = structlog.get_logger("crosswatch.trakt")

#: after a failed save of refreshed tokens, the wait before a request tries again (a new client tries at once)
RETRY_SAVE_S = 60.0


class Tokens(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str
    expires_in: int
    created_at: int
    token_type: str = "bearer"
    scope: str = "public"
    client_id: str = ""  # the app these tokens belong to

    @property
    def expires_at(self) -> int:
        return self.created_at + self.expires_in

    def needs_refresh(self, now: float | None = None) -> bool:
        """True within the last tenth of the lifetime (at most a day before expiry)."""
        now = time.time() if now is None else now
        return now >= self.expires_at - min(86_400, self.expires_in * 0.1)


@dataclass
class _Unsaved:
    tokens: Tokens
    spent: str  # the refresh token they replace: what the file still holds
    tried_at: float  # time.monotonic() of the last failed save


#: refreshed tokens whose save failed, by tokens file: until saved, the only copy of the sign-in
_UNSAVED: dict[Path, _Unsaved] = {}


class TokenStore:
    """``<prefix>.tokens.json``: the signed-in tokens of one profile."""

    def __init__(self, state: StateDir, prefix: str) -> None:
        self.state = state
        self.name = f"{prefix}.tokens.json"
        self.path = Path(os.path.abspath(state.file(self.name)))

    def load(self) -> Tokens | None:
        """The signed-in tokens: the file's, or refreshed ones kept in memory (then saving them is tried again).

        A file that is damaged is moved aside and reported (not signed in). A sign-in saved
        since the kept tokens were refreshed (``crosswatch auth trakt``) wins over them.
        """
        on_disk = self.state.read_json_or_default(
            self.name, None, type=Tokens, instead="Trakt is not signed in without it"
        )
        kept = _UNSAVED.get(self.path)
        tokens = on_disk
        if kept is not None:
            if on_disk is not None and on_disk.refresh_token != kept.spent:
                _UNSAVED.pop(self.path, None)  # signed in again since: the file wins
            else:
                tokens = kept.tokens
                self._save_kept(kept)
        if tokens is not None:
            register_secret(tokens.access_token)
            register_secret(tokens.refresh_token)
        return tokens

    def reserve(self) -> Reservation:
        """Room for the next save; raises ``NoRoom`` (a full disk) before anything is spent."""
        return self.state.reserve(self.name)

    def save(self, tokens: Tokens, room: Reservation | None = None) -> None:
        """Replace the file with ``tokens``, into ``room`` when reserved ahead; OSError or StateError on failure."""
        register_secret(tokens.access_token)
        register_secret(tokens.refresh_token)
        data = encode_json(tokens)
        if room is not None:
            room.write(data)
        else:
            with self.reserve() as new_room:
                new_room.write(data)
        _UNSAVED.pop(self.path, None)

    def commit(self, tokens: Tokens, spent: str, room: Reservation) -> bool:
        """Save tokens a refresh just returned; if that fails, keep them in memory and say the sign-in is at risk."""
        try:
            self.save(tokens, room)
        except (OSError, StateError) as exc:
            earlier = _UNSAVED.get(self.path)  # refreshed again before the last pair was saved
            _UNSAVED[self.path] = _Unsaved(tokens, earlier.spent if earlier else spent, time.monotonic())
            self._at_risk(exc, still=False)
            return False
        return True

    def unsaved(self) -> bool:
        """Whether refreshed tokens of this file are kept in memory, not saved yet."""
        return self.path in _UNSAVED

    def retry_due(self) -> bool:
        """Whether kept tokens wait for a save and the last try was ``RETRY_SAVE_S`` ago."""
        kept = _UNSAVED.get(self.path)
        return kept is not None and time.monotonic() - kept.tried_at >= RETRY_SAVE_S

    def lock(self) -> AbstractContextManager[None]:
        """Held across a refresh: refresh tokens are single-use, so only one process may spend one."""
        return self.state.lock(self.name)

    def _save_kept(self, kept: _Unsaved) -> None:
        try:
            self.save(kept.tokens)
        except (OSError, StateError) as exc:
            kept.tried_at = time.monotonic()
            self._at_risk(exc, still=True)
            return
        report_problem(
            log,
            "trakt.tokens_saved",
            f"the refreshed Trakt sign-in is saved now in {self.path}: it is safe again",
            level=logging.WARNING,  # good news, but after an error a person must see it
            file=str(self.path),
        )

    def _at_risk(self, exc: BaseException, *, still: bool) -> None:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        report_problem(
            log,
            "trakt.tokens_unsaved",
            f"the Trakt sign-in is {'still ' if still else ''}at risk: the refreshed tokens could not be saved "
            f"to {self.path} ({why}); they are kept in memory while this process runs and saved at its next "
            f"Trakt request. Free space in {self.path.parent}; if the process ends before they are saved, "
            "sign in again with `crosswatch auth trakt`",
            file=str(self.path),
            error=why,
        )
