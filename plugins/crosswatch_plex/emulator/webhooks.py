"""Webhooks as Plex sends them (a Plex Pass feature): a multipart POST per event to each URL.

Register URLs with ``POST /_emulator/webhooks {"urls": [...]}`` (``GET`` lists them). Events:
``media.play`` (a session starts), ``media.resume`` (playing after a pause), ``media.pause``,
``media.stop``, ``media.scrobble`` (the play is counted: past ``watched_threshold``) and
``media.rate``. Each POST is ``multipart/form-data`` with the JSON ``payload`` field::

    {"event": "media.play", "user": true, "owner": true,
     "Account": {"id": 1, "thumb": "...", "title": "ivy3514"},
     "Server": {"title": "Emulated PMS 3", "uuid": "..."},
     "Player": {"local": true, "publicAddress": "127.0.0.1", "title": "Plex Web", "uuid": "..."},
     "Metadata": {"librarySectionType": "movie", "ratingKey": "1234", "key": "/library/metadata/1234",
                  "guid": "plex://movie/...", "type": "movie", "title": "...", "year": 2001,
                  "librarySectionID": 1, "viewOffset": 61000, "duration": 7200000,
                  "userRating": 8.0, "Guid": [{"id": "imdb://tt..."}, ...]}}

and, for play events, a small JPEG ``thumb`` part. Posts go out from one worker thread in
the order the events happened, so a slow receiver never slows the emulator down; the
outcome of each is counted in ``delivered`` / ``failed``.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import httpx

from crosswatch.emulation.catalog import Episode, Media

#: the smallest JPEG there is, sent as the poster of play events
THUMB = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f141d1a1f1e1d1a1c1c"
    "20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001000101011100ffc4001f0000010501010101010100"
    "000000000000000102030405060708090a0bffda0008010100003f00d2cf20ffd9"
)


class Webhooks:
    """The registered URLs of one emulator and the thread that posts to them."""

    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.urls: list[str] = []
        self.delivered = 0
        self.failed = 0
        self.pending = 0
        self._queue: queue.Queue[tuple[str, bytes, bool] | None] = queue.Queue(maxsize=10_000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def set_urls(self, urls: list[str]) -> None:
        self.urls = list(urls)

    def to_json(self) -> dict[str, Any]:
        return {"urls": self.urls, "delivered": self.delivered, "failed": self.failed, "queued": self._queue.qsize()}

    def send(self, event: str, account: int, media: Media, *, view_offset: int = 0, player: Any = None) -> None:
        """Queue ``event`` for every registered URL (nothing when none is registered)."""
        if not self.urls:
            return
        payload = json.dumps(self.payload(event, account, media, view_offset, player)).encode()
        thumb = event in ("media.play", "media.resume", "media.scrobble")
        for url in self.urls:
            try:
                self._queue.put_nowait((url, payload, thumb))
                with self._lock:
                    self.pending += 1
            except queue.Full:
                self.failed += 1
        self._start()

    def payload(self, event: str, account: int, media: Media, view_offset: int, player: Any) -> dict[str, Any]:
        emu = self.emu
        lib = emu.library
        who = next(a for a in emu.accounts if a.id == account)
        rk = lib.rk(media)
        section = lib.section_of(media)
        meta: dict[str, Any] = {
            "librarySectionType": "movie" if media.kind == "movie" else "show",
            "ratingKey": str(rk),
            "key": f"/library/metadata/{rk}",
            "guid": lib.guid(media),
            "type": media.kind,
            "title": getattr(media, "title", ""),
            "librarySectionID": section.id,
            "librarySectionTitle": section.title,
            "duration": lib.duration_ms(media),
            "Guid": [{"id": g} for g in lib.guids(media)],
        }
        if isinstance(media, Episode):
            show = lib.title_of(media)
            meta |= {
                "grandparentTitle": show.title,
                "grandparentRatingKey": str(lib.rk(show)),
                "parentIndex": media.season,
                "index": media.number,
                "year": show.year,
            }
        else:
            meta["year"] = getattr(media, "year", None)
        if view_offset:
            meta["viewOffset"] = view_offset
        rating = emu.state.users[account].ratings.get(rk)
        if rating is not None:
            meta["userRating"] = rating[0]
        return {
            "event": event,
            "user": True,
            "owner": who.admin,
            "Account": {"id": who.plextv_id, "thumb": f"https://plex.tv/users/{who.uuid}/avatar", "title": who.title},
            "Server": {"title": emu.friendly_name, "uuid": emu.machine_identifier},
            "Player": {
                "local": True,
                "publicAddress": "127.0.0.1",
                "title": getattr(player, "product", "Plex Web"),
                "uuid": getattr(player, "client_id", "emulator-player"),
            },
            "Metadata": meta,
        }

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._deliver, name="plex-webhooks", daemon=True)
                self._thread.start()

    def _deliver(self) -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                try:
                    job = self._queue.get(timeout=5)
                except queue.Empty:
                    return  # idle: the next event starts a new thread
                if job is None:
                    return
                url, payload, thumb = job
                files = {"payload": (None, payload, "application/json")}
                if thumb:
                    files["thumb"] = ("thumb.jpg", THUMB, "image/jpeg")  # type: ignore[assignment]
                try:
                    client.post(url, files=files).raise_for_status()
                    self.delivered += 1
                except httpx.HTTPError:
                    self.failed += 1
                finally:
                    with self._lock:
                        self.pending -= 1

    def wait(self, timeout: float = 5.0) -> bool:
        """Block until every queued post was sent (for tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True
