"""Restore (``/restore``): choose a capture and a mode, see the plan, confirm it, follow the run.

The plan is ``restore_capture(dry_run=True)``, what ``capture restore --dry-run`` runs. The
confirmation carries the plan's identity (a digest of every planned write); the job runs
``restore_capture`` again and writes only when the plan it reads is still that one.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath
from typing import Any

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from crosswatch.captures.plan import describe
from crosswatch.captures.restore import MODES, RestoreReport, restore_capture
from crosswatch.captures.store import CaptureRef, CaptureStore
from crosswatch.errors import fault_message
from crosswatch.webui.app import UI, WebError
from crosswatch.webui.jobs import WebContext, jobs_for
from crosswatch.webui.sessions import Session

NAV = [("/restore", "Restore")]
SHOWN = 50  # planned items listed per action and feature


def plan_id(report: RestoreReport) -> str:
    """The identity of a restore plan: a digest of the capture, the target and every planned write."""
    body = [
        (f.plan.feature, f.plan.mode, f.plan.add, f.plan.update, f.plan.remove, f.plan.notes) for f in report.features
    ]
    data = msgspec.json.encode([report.capture, report.provider, report.profile, report.mode, body])
    return hashlib.sha256(data).hexdigest()


def capture_names(store: CaptureStore) -> list[CaptureRef]:
    """Every readable capture, newest first."""
    return sorted((r for r in store.refs() if r.header is not None), key=lambda r: r.created, reverse=True)


def checked(ui: UI, params: Any) -> tuple[str, str]:
    """The capture name and mode of a query or form, checked against the capture store."""
    name = params.get("capture") or ""
    mode = params.get("mode") or "merge"
    if not isinstance(name, str) or not name:
        raise WebError(400, "capture: choose a capture")
    if mode not in MODES:
        raise WebError(400, f"mode: one of {', '.join(MODES)}")
    rel = PurePosixPath(name)
    if len(name) > 500 or rel.is_absolute() or ".." in rel.parts or "\\" in name or "\x00" in name:
        raise WebError(400, f"capture: {name[:80]!r} is not a capture name")
    store = CaptureStore(ui.config().config_dir)
    if name not in {r.rel for r in capture_names(store)}:
        raise WebError(404, f"capture: no capture {name!r} (see the list at /restore)")
    return name, mode


def plan_view(report: RestoreReport) -> list[dict[str, Any]]:
    """Per feature: counts by action and media type, notes, the first items of each action."""
    rows = []
    for outcome in report.features:
        plan = outcome.plan
        rows.append(
            {
                "feature": plan.feature,
                "mode": plan.mode,
                "counts": plan.counts(),
                "unchanged": plan.unchanged,
                "notes": plan.notes,
                "lines": {a: [describe(i) for i in getattr(plan, a)[:SHOWN]] for a in ("remove", "add", "update")},
                "more": {a: max(0, len(getattr(plan, a)) - SHOWN) for a in ("remove", "add", "update")},
            }
        )
    return rows


def routes(ui: UI) -> list[Route]:
    jobs = jobs_for(ui)

    async def dry_run(name: str, mode: str) -> RestoreReport:
        ctx = WebContext(ui.config(), ui.host, None, trigger="web")
        try:
            return await restore_capture(ctx, name, mode, dry_run=True)
        except Exception as exc:
            message = fault_message(exc)
            if message is None:
                raise
            raise WebError(409, f"{name}: {message}") from None

    @ui.page()
    async def choose(request: Request, session: Session) -> Response:
        store = CaptureStore(ui.config().config_dir)
        refs = await anyio.to_thread.run_sync(capture_names, store)
        return ui.render(request, session, "restore.html", captures=refs, modes=MODES)

    @ui.page()
    async def plan(request: Request, session: Session) -> Response:
        name, mode = await anyio.to_thread.run_sync(checked, ui, request.query_params)
        report = await dry_run(name, mode)
        empty = all(f.plan.empty for f in report.features)
        return ui.render(
            request,
            session,
            "restore_plan.html",
            report=report,
            features=plan_view(report),
            plan_id=plan_id(report),
            empty=empty,
        )

    @ui.page()
    async def confirm(request: Request, session: Session) -> Response:
        form = await ui.form(request, session)
        name, mode = await anyio.to_thread.run_sync(checked, ui, form)
        wanted = form.get("plan") or ""
        if not isinstance(wanted, str) or len(wanted) != 64 or any(c not in "0123456789abcdef" for c in wanted):
            raise WebError(400, "plan: not a plan id; open the plan again")
        changed: list[str] = []

        def same_plan(report: RestoreReport) -> bool:
            if plan_id(report) != wanted:
                changed.append(plan_id(report))
                return False
            return True

        async def work(ctx: WebContext) -> RestoreReport:
            return await restore_capture(ctx, name, mode, confirm=same_plan)

        job = await jobs.settled(jobs.start("restore", f"{name} ({mode})", work))
        if job.run_id is not None:
            return RedirectResponse(f"/runs/{job.run_id}", status_code=303)
        if job.error:
            raise WebError(409, f"{name}: {job.error}; nothing was written")
        if changed:
            raise WebError(
                409,
                f"{name}: the plan changed since it was shown (the provider's state moved); nothing was written. "
                "Open the plan again and confirm the new one.",
            )
        if job.done:
            raise WebError(409, f"{name}: nothing to restore; nothing was written")
        raise WebError(202, "The restore is still starting; see /runs for its run.")

    return [
        Route("/restore", choose, methods=["GET"], name="restore"),
        Route("/restore/plan", plan, methods=["GET"], name="restore_plan"),
        Route("/restore/run", confirm, methods=["POST"], name="restore_run"),
    ]
