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
=========================  ========  =============================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

_SHARES = frozenset({"error_rate", "not_found_rate", "watched_threshold"})


@dataclass
class EmulatorSettings:
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

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, _coerce(f.name, f.type, getattr(self, f.name)))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``{knob: value}``; raises ValueError naming an unknown knob or a bad value."""
        known = {f.name: f for f in fields(self)}
        staged: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown setting {name!r} (known: {', '.join(known)})")
            staged[name] = _coerce(name, known[name].type, value)
        for name, value in staged.items():
            setattr(self, name, value)


def _coerce(name: str, kind: Any, value: Any) -> Any:
    kind = kind if isinstance(kind, str) else kind.__name__
    if kind.startswith("list"):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int)) for v in value):
            raise ValueError(f"setting {name!r} must be a list of ratingKeys")
        return [str(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"setting {name!r} must be a number")
    if value < 0:
        raise ValueError(f"setting {name!r} must not be negative")
    if name in _SHARES and value > 1:
        raise ValueError(f"setting {name!r} is a share between 0 and 1")
    if name == "watchlist_conflict_status" and value not in (200, 204, 409):
        raise ValueError("setting 'watchlist_conflict_status' must be 200, 204 or 409")
    if kind == "int":
        if value != int(value):
            raise ValueError(f"setting {name!r} must be a whole number")
        return int(value)
    return float(value)
