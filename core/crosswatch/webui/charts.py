"""Pictures (``/pictures``): bar charts drawn on the server as SVG (no chart library, no script).

:func:`bars` draws labelled horizontal bars; the compare page uses it for its summary, and
``/pictures`` for the plays per month of the newest history capture.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.captures.format import CaptureError, items_of
from crosswatch.captures.store import CaptureRef, CaptureStore
from crosswatch.model import Feature
from crosswatch.webui.app import UI, WebError
from crosswatch.webui.sessions import Session

NAV = [("/pictures", "Pictures")]
MONTHS = 36  # the newest months drawn
#: bar colours by kind (SVG presentation attributes: the CSP forbids style attributes, not these)
COLOURS = {"added": "#1a7f37", "removed": "#cf222e", "updated": "#9a6700", "plays": "#0969da"}


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    kind: str = "plays"


def bars(rows: list[Bar], title: str, *, width: int = 720, height: int = 22, label_w: int = 170) -> Markup:
    """Horizontal bars, one per row, each with its label and value written out (readable as text too)."""
    top = max((r.value for r in rows), default=0) or 1
    room = width - label_w - 70
    total_h = max(1, len(rows)) * height + 8
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{total_h}" '
        f'viewBox="0 0 {width} {total_h}" font-family="system-ui, sans-serif" font-size="13">',
        f"<title>{escape(title)}</title>",
    ]
    for n, row in enumerate(rows):
        y = 4 + n * height
        w = round(room * row.value / top) if row.value else 0
        colour = COLOURS.get(row.kind, COLOURS["plays"])
        out.append(
            f'<g class="bar {escape(row.kind)}"><text x="{label_w - 6}" y="{y + height - 8}" text-anchor="end" '
            f'fill="#1f2328">{escape(row.label)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{w}" height="{height - 6}" rx="2" fill="{colour}"/>'
            f'<text x="{label_w + w + 6}" y="{y + height - 8}" fill="#1f2328">{row.value:,}</text></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def plays_per_month(watched: list[str | None]) -> list[Bar]:
    """Plays counted by month (``YYYY-MM`` of each ``watched_at``), oldest first, the newest MONTHS."""
    months = Counter(w[:7] for w in watched if w and len(w) >= 7)
    return [Bar(month, months[month]) for month in sorted(months)[-MONTHS:]]


def newest_history(store: CaptureStore) -> CaptureRef | None:
    """The newest capture holding plays (a history capture, a bundle's child included)."""
    for ref in reversed(store.refs()):
        if ref.header is not None and ref.header.feature == Feature.HISTORY.value:
            return ref
    return None


def history_picture(store: CaptureStore) -> tuple[CaptureRef | None, list[Bar]]:
    ref = newest_history(store)
    if ref is None:
        return None, []
    try:
        _, lines = store.load_lines(ref.path)
    except CaptureError as exc:
        raise WebError(400, str(exc)) from None
    return ref, plays_per_month([i.watched_at for i in items_of(lines, ref.rel)])


def routes(ui: UI) -> list[Route]:
    @ui.page()
    async def pictures(request: Request, session: Session) -> Response:
        store = CaptureStore(ui.config().config_dir)
        ref, rows = await anyio.to_thread.run_sync(history_picture, store)
        chart = bars(rows, "Plays per month") if rows else None
        return ui.render(
            request,
            session,
            "captures_pictures.html",
            ref=ref,
            rows=rows,
            chart=chart,
            drawn=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )

    return [Route("/pictures", pictures, methods=["GET"], name="pictures")]
