"""Runs (``/runs``, ``/runs/<id>``): the run history, filtered and paged, and one run's page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.runs import KINDS, RESULTS, Run, RunHistory
from crosswatch.webui.app import UI, WebError
from crosswatch.webui.sessions import Session

NAV = [("/runs", "Runs")]
PAGE_SIZE = 50
CHUNK = 500  # rows read per query while filtering by result or day
NOT_OK = ("failed", "refused", "interrupted")
_TEXT = re.compile(r"[\w .:@+-]{1,100}")


@dataclass(frozen=True)
class RunFilter:
    """The runs page's query: each field validated, '' when not given."""

    pair: str = ""
    job: str = ""
    kind: str = ""
    result: str = ""  # a result, or "not-ok"
    day: str = ""  # YYYY-MM-DD, local time
    before: int | None = None

    @classmethod
    def parse(cls, query: Any) -> RunFilter:
        """From the query string; WebError(400) naming the bad parameter."""
        values = {k: (query.get(k) or "").strip() for k in ("pair", "job", "kind", "result", "day", "before")}
        for key in ("pair", "job"):
            if values[key] and not _TEXT.fullmatch(values[key]):
                raise WebError(400, f"{key}: not a {key} name")
        if values["kind"] and values["kind"] not in KINDS:
            raise WebError(400, f"kind: one of {', '.join(KINDS)}")
        if values["result"] and values["result"] not in (*RESULTS, "not-ok"):
            raise WebError(400, f"result: one of {', '.join(RESULTS)}, not-ok")
        if values["day"]:
            try:
                date.fromisoformat(values["day"])
            except ValueError:
                raise WebError(400, "day: a date like 2026-01-31") from None
        before = None
        if values["before"]:
            if not values["before"].isdigit() or len(values["before"]) > 18:
                raise WebError(400, "before: a run number")
            before = int(values["before"])
        return cls(values["pair"], values["job"], values["kind"], values["result"], values["day"], before)

    def query(self, **change: Any) -> str:
        """This filter as a query string, with ``change`` applied (None drops a key)."""
        fields = {"pair": self.pair, "job": self.job, "kind": self.kind, "result": self.result, "day": self.day}
        fields.update(change)
        return urlencode({k: v for k, v in fields.items() if v})

    @property
    def active(self) -> bool:
        return bool(self.pair or self.job or self.kind or self.result or self.day)


def _day_bounds(day: str) -> tuple[float, float]:
    start = datetime.combine(date.fromisoformat(day), datetime.min.time()).astimezone()
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def find_runs(history: RunHistory, f: RunFilter, limit: int = PAGE_SIZE) -> tuple[list[Run], bool]:
    """Newest first: up to ``limit`` runs matching ``f``, and whether older ones match too.

    Pair, job and kind (and "did not end well") are asked of the history; the exact result and
    the day are checked here, a chunk at a time, stopping at the first run older than the day.
    """
    start, end = _day_bounds(f.day) if f.day else (None, None)
    narrow = f.result in (*NOT_OK, "not-ok")
    found: list[Run] = []
    before = f.before
    while True:
        chunk = history.list(
            pair=f.pair or None, job=f.job or None, kind=f.kind or None, failed=narrow, limit=CHUNK, before=before
        )
        for run in chunk:
            if start is not None and run.started < start:
                return found, False
            if end is not None and run.started >= end:
                continue
            if f.result and f.result != "not-ok" and run.result != f.result:
                continue
            if len(found) == limit:
                return found, True
            found.append(run)
        if len(chunk) < CHUNK:
            return found, False
        before = chunk[-1].id


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """The summary table's columns, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def routes(ui: UI) -> list[Route]:
    def history() -> RunHistory:
        return RunHistory(ui.state, ui.config().history)

    @ui.page()
    async def runs(request: Request, session: Session) -> Response:
        f = RunFilter.parse(request.query_params)
        found, more = await anyio.to_thread.run_sync(find_runs, history(), f)
        config = ui.config()
        return ui.render(
            request,
            session,
            "runs.html",
            runs=found,
            more=more,
            f=f,
            kinds=KINDS,
            results=(*RESULTS, "not-ok"),
            pairs=sorted({p.name for p in config.pairs} | ({f.pair} if f.pair else set())),
            older=f.query(before=found[-1].id) if more and found else "",
            newest=f.query() if f.before else "",
        )

    @ui.page()
    async def run_page(request: Request, session: Session) -> Response:
        raw = request.path_params["run_id"]
        if not raw.isdigit() or len(raw) > 18:
            raise WebError(404, f"No run {raw!r}: runs are numbered.")
        run = await anyio.to_thread.run_sync(history().get, int(raw))
        if run is None:
            raise WebError(404, f"No run {raw} in the history (it may have been trimmed: [history] keep_days).")
        return ui.render(request, session, "run.html", run=run, columns=columns(run.summary))

    return [
        Route("/runs", runs, methods=["GET"], name="runs"),
        Route("/runs/{run_id}", run_page, methods=["GET"], name="run"),
    ]
