"""Jinja2 filters: times and counts shown the way ``crosswatch status`` and ``crosswatch runs`` show them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from crosswatch.commands.runs import counts_text, subject, when
from crosswatch.status import age_text, short_time


def result_class(result: str | None) -> str:
    """The CSS class of a run result or verdict."""
    return {
        "ok": "ok",
        "running": "running",
        "failed": "bad",
        "failing": "bad",
        "refused": "warn",
        "interrupted": "warn",
        "degraded": "warn",
    }.get(result or "", "none")


FILTERS: dict[str, Any] = {
    "when": when,
    "short": short_time,
    "age": lambda seconds: age_text(float(seconds or 0)),
    "counts": counts_text,
    "subject": subject,
    "result_class": result_class,
    "pathpart": lambda text: quote(str(text), safe=""),
}
