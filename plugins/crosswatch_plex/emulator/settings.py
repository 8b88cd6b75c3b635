"""The emulator's knobs: set at construction, by CLI flags, or live with ``POST /_emulator/settings``.

=========================  ========  =============================================================
knob                       default   meaning
=========================  ========  =============================================================
latency_ms                 0         added to every request (not ``/_emulator``) before it is handled
error_rate                 0.0       share of requests answered 500/502/503 (seeded RNG), not applied
not_found_rate             0.0       share of PMS ratingKeys whose ``/library/metadata/{ids}`` hydration
                                     answers 404 (fixed per key: the same keys fail every time)
not_found_keys             []        ratingKeys (strings) whose hydration always answers 404
discover_max_page          200       a Discover watchlist page larger than this answers 504
discover_default_page      20        Discover watchlist page size when no X-Plex-Container-Size is sent
approve_after_polls        2         ``GET /api/v2/pins/{id}`` polls answered without ``authToken`` first
pin_ttl                    900       PIN lifetime in seconds (``expiresIn``); an expired PIN answers 404
websocket_drop             0         close every notification websocket after this many frames (0 = never)
watched_threshold          0.9       share of the duration past which a timeline/progress report is a play
watchlist_conflict_status  409       answer to adding a title already listed (or removing one that is not):
                                     409 with an "already" message, or 200 to accept silently
matches_by_id              1         1: ``/library/metadata/matches?guid=imdb://|tmdb://|tvdb://...``
                                     finds titles by external id; 0: it answers an empty container
                                     for them (as real Discover does for some titles), while
                                     ``title=`` and ``guid=plex://`` lookups still answer
=========================  ========  =============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crosswatch.emulation.settings import Knobs, coerce_number

_SHARES = frozenset({"error_rate", "not_found_rate", "watched_threshold"})
_CHOICES = {"watchlist_conflict_status": (200, 204, 409), "matches_by_id": (0, 1)}


@dataclass
class EmulatorSettings(Knobs):
    """Every run-time knob of the Plex emulator (see the module docstring)."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    not_found_rate: float = 0.0
    not_found_keys: list[str] = field(default_factory=list)
    discover_max_page: int = 200
    discover_default_page: int = 20
    approve_after_polls: int = 2
    pin_ttl: int = 900
    websocket_drop: int = 0
    watched_threshold: float = 0.9
    watchlist_conflict_status: int = 409
    matches_by_id: int = 1

    def coerce(self, name: str, kind: str, value: Any) -> Any:
        """A list knob holds ratingKeys (as strings); every other knob is a non-negative number."""
        if kind.startswith("list"):
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int)) for v in value):
                raise ValueError(f"setting {name!r} must be a list of ratingKeys")
            return [str(v) for v in value]
        return coerce_number(name, kind, value, shares=_SHARES, choices=_CHOICES)
