"""Pairs (``/pairs``): each pair with its features and direction; plan a sync, then apply that plan.

"Plan" does what ``sync plan -o FILE`` does, the file kept under ``.cw_state/web-plans/`` and
named by its checksum (the plan id); "apply" is ``sync apply FILE`` as a daemon job, with the
same stale-plan rules. Only a pair's newest plan can be applied, and only once.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from crosswatch.commands.sync import plan_rows
from crosswatch.crashpoints import crash_point
from crosswatch.errors import fault_message
from crosswatch.sync import planfile
from crosswatch.sync.engine import Options, make_plans, opened_pair, read_state
from crosswatch.sync.pairs import Pair, resolve_pairs
from crosswatch.webui.app import UI, WebError
from crosswatch.webui.jobs import WebContext, jobs_for
from crosswatch.webui.sessions import Session

NAV = [("/pairs", "Pairs")]
PLAN_ID = re.compile(r"[0-9a-f]{64}")
FOLDER = "web-plans"


def _slug(pair: str) -> str:
    return hashlib.sha256(pair.encode()).hexdigest()[:12]


def plan_path(folder: Path, pair: str, plan_id: str) -> Path:
    return folder / f"{_slug(pair)}.{plan_id}.json"


def keep_plan(folder: Path, pair: str, plan: planfile.PlanFile) -> str:
    """Write ``plan`` as the pair's one current web plan (older ones removed); its id."""
    folder.mkdir(mode=0o700, exist_ok=True)
    path = plan_path(folder, pair, plan.sha256)
    crash_point("web.plan_write")
    planfile.write(path, plan)
    crash_point("web.plan_written")
    for old in folder.glob(f"{_slug(pair)}.*.json"):
        if old != path:
            old.unlink(missing_ok=True)
    return plan.sha256


def routes(ui: UI) -> list[Route]:
    jobs = jobs_for(ui)

    def folder() -> Path:
        return ui.state.path / FOLDER

    def the_pair(name: str) -> Pair:
        pairs, _ = resolve_pairs(ui.config(), ui.host.providers)
        found = next((p for p in pairs if p.name == name), None)
        if found is None:
            raise WebError(404, f"pair: no pair {name[:80]!r} in config.toml (or it cannot run: see /pairs)")
        return found

    def plan_of(pair: Pair, raw: object) -> tuple[Path, planfile.PlanFile]:
        """The pair's current web plan with id ``raw``; 4xx when forged, superseded or changed."""
        if not isinstance(raw, str) or not PLAN_ID.fullmatch(raw):
            raise WebError(400, "plan: not a plan id; make a new plan")
        path = plan_path(folder(), pair.name, raw)
        if not path.exists():
            raise WebError(
                409,
                f"plan {raw[:12]}: not the current plan of {pair.name} (applied, replaced or never made); "
                "make a new plan",
            )
        try:
            plan = planfile.read(path)
            if plan.sha256 != raw or plan.pair != pair.name:
                raise planfile.PlanError(f"plan {raw[:12]}: not a plan of {pair.name}")
            planfile.check_pair(path, plan, pair)
        except planfile.PlanError as exc:
            raise WebError(409, f"{exc}".replace(str(path), f"plan {raw[:12]}")) from None
        return path, plan

    @ui.page()
    async def listing(request: Request, session: Session) -> Response:
        pairs, errors = await anyio.to_thread.run_sync(resolve_pairs, ui.config(), ui.host.providers)
        return ui.render(request, session, "pairs.html", pairs=pairs, errors=errors)

    @ui.page()
    async def make(request: Request, session: Session) -> Response:
        form = await ui.form(request, session)
        pair = the_pair(str(form.get("pair") or ""))
        ctx = WebContext(ui.config(), ui.host, None, trigger="web")
        options = Options(dry_run=True)
        try:
            async with opened_pair(ctx, pair) as providers:
                state = await read_state(ctx, pair, providers, options)
        except Exception as exc:
            if fault_message(exc) is None:
                raise
            raise WebError(409, f"{pair.name}: {fault_message(exc)}") from None
        plans = make_plans(ctx, pair, state, options)
        plan = planfile.to_file(pair, plans, state)
        plan_id = await anyio.to_thread.run_sync(keep_plan, folder(), pair.name, plan)
        return RedirectResponse(f"/pairs/{quote(pair.name, safe='')}/plans/{plan_id}", status_code=303)

    @ui.page()
    async def show(request: Request, session: Session) -> Response:
        pair = the_pair(request.path_params["pair"])
        _, plan = await anyio.to_thread.run_sync(plan_of, pair, request.path_params["plan_id"])
        plans, _ = planfile.from_file(plan)
        rows = plan_rows([p for p in plans if not p.refused])
        refused = [(p.feature.value, p.refused) for p in plans if p.refused]
        return ui.render(request, session, "pairs_plan.html", pair=pair, plan=plan, rows=rows, refused=refused)

    @ui.page()
    async def apply(request: Request, session: Session) -> Response:
        form = await ui.form(request, session)
        pair = the_pair(request.path_params["pair"])
        path, plan = await anyio.to_thread.run_sync(plan_of, pair, form.get("plan"))
        # applied once: the file is gone before the job starts (a second POST is refused)
        taken = path.with_suffix(".applying")
        path.rename(taken)

        async def work(ctx: WebContext) -> object:
            try:
                return await planfile.apply_file(ctx, pair, taken, plan)
            finally:
                taken.unlink(missing_ok=True)

        try:
            job = await jobs.settled(jobs.start("apply", f"pair {pair.name}", work))
        except WebError:
            taken.rename(path)
            raise
        if job.run_id is not None:
            return RedirectResponse(f"/runs/{job.run_id}", status_code=303)
        if job.error:
            raise WebError(409, f"{pair.name}: {job.error}; nothing was written")
        raise WebError(202, "The apply is still starting; see /runs for its run.")

    return [
        Route("/pairs", listing, methods=["GET"], name="pairs"),
        Route("/pairs/plan", make, methods=["POST"], name="pairs_plan"),
        Route("/pairs/{pair}/plans/{plan_id}", show, methods=["GET"], name="pairs_show"),
        Route("/pairs/{pair}/apply", apply, methods=["POST"], name="pairs_apply"),
    ]
