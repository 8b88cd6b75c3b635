"""Knobs of an emulator: a dataclass whose fields are checked at construction and on every update.

An emulator's settings class is a ``@dataclass`` that subclasses :class:`Knobs` and says in
``coerce`` how one value is checked (usually :func:`coerce_number` plus its own kinds)::

    @dataclass
    class EmulatorSettings(Knobs):
        latency_ms: float = 0.0
        error_rate: float = 0.0

        def coerce(self, name: str, kind: str, value: Any) -> Any:
            return coerce_number(name, kind, value, shares={"error_rate"})
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, fields
from typing import Any


def coerce_number(
    name: str,
    kind: str,
    value: Any,
    *,
    shares: Collection[str] = (),
    choices: Mapping[str, tuple[int, ...]] | None = None,
) -> int | float:
    """A non-negative number for knob ``name`` of ``kind`` ``"int"`` or ``"float"``; ValueError otherwise.

    ``shares`` name knobs that are a share between 0 and 1; ``choices`` knobs with a fixed
    set of values.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"setting {name!r} must be a number")
    if value < 0:
        raise ValueError(f"setting {name!r} must not be negative")
    if name in shares and value > 1:
        raise ValueError(f"setting {name!r} is a share between 0 and 1")
    allowed = (choices or {}).get(name)
    if allowed is not None and value not in allowed:
        listed = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}" if len(allowed) > 1 else str(allowed[0])
        raise ValueError(f"setting {name!r} must be {listed}")
    if kind == "int":
        if value != int(value):
            raise ValueError(f"setting {name!r} must be a whole number")
        return int(value)
    return float(value)


def _kind(kind: Any) -> str:
    return kind if isinstance(kind, str) else kind.__name__


class Knobs:
    """Base of a knobs dataclass: checked fields, ``to_json`` and an all-or-nothing ``update``."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            setattr(self, f.name, self.coerce(f.name, _kind(f.type), getattr(self, f.name)))

    def coerce(self, name: str, kind: str, value: Any) -> Any:
        """The checked value of knob ``name`` whose annotation is ``kind`` (``"int"``, ``"list[str]"``, ...)."""
        return coerce_number(name, kind, value)

    def to_json(self) -> dict[str, Any]:
        """Every knob by name."""
        return asdict(self)  # type: ignore[call-overload]

    def apply_json(self, body: Any) -> None:
        """``POST /_emulator/settings``: :meth:`update` from a posted body, which must be an object."""
        if not isinstance(body, dict):
            raise ValueError("post an object of settings")
        self.update(body)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``{knob: value}``; raises ValueError naming an unknown knob or a bad value."""
        known = {f.name: f for f in fields(self)}  # type: ignore[arg-type]
        staged: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown setting {name!r} (known: {', '.join(known)})")
            staged[name] = self.coerce(name, _kind(known[name].type), value)
        for name, value in staged.items():
            setattr(self, name, value)
