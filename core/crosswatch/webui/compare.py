"""Compare (``/compare?a=<capture>&b=<capture or live>``): added / removed / updated per feature.

Two captures are compared by :func:`crosswatch.captures.compare.compare_captures`, the function
``crosswatch capture compare`` calls. ``b=live`` compares a capture with the provider's current
state, read live through the provider and shaped as a capture of it would be (core's capture
filter), then diffed by the same :func:`~crosswatch.captures.compare.diff_lines`.
"""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.captures.compare import CompareReport, compare_captures, diff_lines
from crosswatch.captures.format import CaptureError, Header
from crosswatch.captures.plan import by_type, describe
from crosswatch.captures.store import CaptureStore, now
from crosswatch.errors import fault_message
from crosswatch.jobs import JobContext
from crosswatch.model import Feature
from crosswatch.profiles import ProfileError, opened
from crosswatch.webui.app import UI, WebError
from crosswatch.webui.captures import checked_path
from crosswatch.webui.charts import Bar, bars
from crosswatch.webui.sessions import Session

NAV = [("/compare", "Compare")]
LIVE = "live"
SHOWN = 200  # items listed per kind and feature (the counts are always whole)


async def compare_live(ctx: JobContext, name: str) -> CompareReport:
    """``name`` against what its provider holds now, feature by feature."""
    from crosswatch.captures.create import _capture

    store = ctx.store
    rel, (top, _), parts = await anyio.to_thread.run_sync(
        lambda: store.parts(name, store.load_lines, lambda part: part[0])
    )
    try:
        target = ctx.profile(top.provider, top.profile)
    except ProfileError as exc:
        raise CaptureError(str(exc)) from None
    report = CompareReport(rel, f"{target.name} now", top.provider)
    async with opened(target, ctx.state, ctx.bus) as instance:
        for header, lines in parts:
            feature = Feature(header.feature)
            shaped = _capture(ctx, target, feature, await instance.read(feature), now(), "", "manual", "", "")
            current = [msgspec.json.encode(i) for i in shaped.items]
            report.features.append(
                await anyio.to_thread.run_sync(diff_lines, ctx, feature, top.provider, lines, current)
            )
    return report


def summary(report: CompareReport) -> list[dict[str, Any]]:
    """Per feature: the counts by kind and media type, and the first SHOWN items of each kind."""
    rows = []
    for diff in report.features:
        updated = [(describe(i), changes) for i, changes in diff.updated[:SHOWN]]
        rows.append(
            {
                "feature": diff.feature,
                "only_in": diff.only_in,
                "counts": {
                    "added": by_type(diff.added),
                    "removed": by_type(diff.removed),
                    "updated": by_type(i for i, _ in diff.updated),
                },
                "totals": {"added": len(diff.added), "removed": len(diff.removed), "updated": len(diff.updated)},
                "added": [describe(i) for i in diff.added[:SHOWN]],
                "removed": [describe(i) for i in diff.removed[:SHOWN]],
                "updated": updated,
                "same": diff.same,
            }
        )
    return rows


def chart_of(report: CompareReport) -> Any:
    rows = [
        Bar(f"{d.feature} {kind}", n, kind)
        for d in report.features
        if not d.only_in
        for kind, n in (("added", len(d.added)), ("removed", len(d.removed)), ("updated", len(d.updated)))
    ]
    return bars(rows, f"{report.a} -> {report.b}") if rows else None


def choices(store: CaptureStore) -> list[tuple[str, Header]]:
    """Top-level captures that can be compared, newest first."""
    refs = store.refs()
    children = {c.path for r in refs if r.header is not None for c in r.header.children}
    return [(r.rel, r.header) for r in reversed(refs) if r.header is not None and r.rel not in children]


def routes(ui: UI) -> list[Route]:
    @ui.page()
    async def compare(request: Request, session: Session) -> Response:
        query = request.query_params
        a, b = (query.get("a") or "").strip(), (query.get("b") or "").strip()
        store = CaptureStore(ui.config().config_dir)
        found = await anyio.to_thread.run_sync(choices, store)
        report = None
        if a or b:
            if not a or not b:
                raise WebError(400, "a, b: pick two captures (or a capture and its provider's current state)")
            checked_path(store, a)
            if b != LIVE:
                checked_path(store, b)
            ctx = JobContext(ui.config(), ui.host, ui.bus, trigger="web")
            try:
                if b == LIVE:
                    report = await compare_live(ctx, a)
                else:
                    report = await anyio.to_thread.run_sync(compare_captures, ctx, a, b)
            except CaptureError as exc:
                raise WebError(400, str(exc)) from None
            except Exception as exc:  # a provider that cannot be reached: its one line
                message = fault_message(exc)
                if message is None:
                    raise
                raise WebError(502, f"{a}: the current state could not be read: {message}") from None
        return ui.render(
            request,
            session,
            "compare.html",
            captures=found,
            a=a,
            b=b,
            live=LIVE,
            report=report,
            features=summary(report) if report else [],
            chart=chart_of(report) if report else None,
            shown=SHOWN,
        )

    return [Route("/compare", compare, methods=["GET"], name="compare")]
