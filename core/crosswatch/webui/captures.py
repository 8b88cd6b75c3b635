"""Captures (``/captures``, ``/captures/<name>``): browse, open, create, queue for the scheduler, delete.

Every operation is core's: the listing filters with ``crosswatch capture list``'s own matching,
a capture is created by :func:`crosswatch.captures.create.create_capture` as a daemon job
(:mod:`crosswatch.webui.jobs`, recorded with trigger ``web``; the page follows its run), a
schedule is added by ``capture schedule add``'s
:func:`~crosswatch.commands.capture_schedule.add_schedule`, and deleting goes through
:func:`crosswatch.captures.retention.delete_capture` (the store's containment rules).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlencode

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from crosswatch.captures.format import ALL, CaptureError, Header, items_of
from crosswatch.captures.plan import describe
from crosswatch.captures.store import MISSING, CaptureRef, CaptureStore, check_label
from crosswatch.commands.capture import _child_matches, _matches
from crosswatch.jobs import JobContext
from crosswatch.model import Feature
from crosswatch.runs import Run, RunHistory
from crosswatch.webui.app import UI, WebError
from crosswatch.webui.sessions import Session

NAV = [("/captures", "Captures")]
LIST_PAGE = 100  # top-level captures a page
ITEM_PAGE = 100  # items a page on a capture's page
TYPES = ("manual", "auto", "safety")
FEATURES = (*(f.value for f in Feature), ALL)
_WORD = re.compile(r"[\w.@+-]{1,64}")
_SEARCH_MAX = 120


def _text(query: Any, key: str, limit: int = _SEARCH_MAX) -> str:
    value = (query.get(key) or "").strip()
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise WebError(400, f"{key}: at most {limit} characters of plain text")
    return value


def _word(query: Any, key: str) -> str:
    value = (query.get(key) or "").strip()
    if value and not _WORD.fullmatch(value):
        raise WebError(400, f"{key}: letters, digits and . _ - @ + only")
    return value


def _page(query: Any) -> int:
    raw = (query.get("page") or "1").strip()
    if not raw.isdigit() or not 0 < int(raw) < 10**6:
        raise WebError(400, "page: a page number from 1")
    return int(raw)


@dataclass(frozen=True)
class CaptureFilter:
    """The listing's query, validated ('' when not given)."""

    search: str = ""
    provider: str = ""
    profile: str = ""
    feature: str = ""
    type: str = ""
    page: int = 1

    @classmethod
    def parse(cls, query: Any) -> CaptureFilter:
        feature, kind = _word(query, "feature"), _word(query, "type")
        if feature and feature not in FEATURES:
            raise WebError(400, f"feature: one of {', '.join(FEATURES)}")
        if kind and kind not in TYPES:
            raise WebError(400, f"type: one of {', '.join(TYPES)}")
        return cls(_text(query, "q"), _word(query, "provider"), _word(query, "profile"), feature, kind, _page(query))

    @property
    def active(self) -> bool:
        return bool(self.search or self.provider or self.profile or self.feature or self.type)

    def query(self, **change: Any) -> str:
        fields = {
            "q": self.search,
            "provider": self.provider,
            "profile": self.profile,
            "feature": self.feature,
            "type": self.type,
        }
        fields.update(change)
        return urlencode({k: v for k, v in fields.items() if v})

    def matches(self, ref: CaptureRef, by_rel: dict[str, CaptureRef]) -> bool:
        """``crosswatch capture list``'s matching (a bundle matches through a child), plus the profile."""
        args = argparse.Namespace(provider=self.provider, feature=self.feature, type=self.type, search=self.search)
        if not (_matches(ref, args) or _child_matches(ref, by_rel, args)):
            return False
        return not self.profile or (ref.header is not None and ref.header.profile == self.profile)


@dataclass
class Row:
    """One listed capture, with its children when it is a bundle."""

    ref: CaptureRef
    size: int
    children: list[tuple[str, CaptureRef | None, int]]  # (path, ref or None when missing, size)


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def listing(store: CaptureStore, f: CaptureFilter) -> tuple[list[Row], int, dict[str, list[str]]]:
    """Newest first: the page of top-level captures matching ``f``, how many match, and the filter choices."""
    refs = store.refs()
    by_rel = {r.rel: r for r in refs}
    children = {c.path for r in refs if r.header is not None for c in r.header.children}
    tops = [r for r in reversed(refs) if r.rel not in children]
    shown = [r for r in tops if f.matches(r, by_rel)]
    start = (f.page - 1) * LIST_PAGE
    rows = []
    for ref in shown[start : start + LIST_PAGE]:
        kids = []
        for child in ref.header.children if ref.header is not None else []:
            found = by_rel.get(child.path)
            kids.append((child.path, found, _size(found.path) if found else 0))
        rows.append(Row(ref, _size(ref.path), kids))
    heads = [r.header for r in refs if r.header is not None]
    choices = {
        "providers": sorted({h.provider.lower() for h in heads}),
        "profiles": sorted({h.profile for h in heads}),
    }
    return rows, len(shown), choices


# -- one capture ------------------------------------------------------------------------------


def checked_path(store: CaptureStore, name: str) -> Path:
    """The capture file ``name`` names under ``snapshots/``; WebError 400/404 saying why not."""
    if not name or len(name) > 1000 or "\x00" in name or "\\" in name:
        raise WebError(400, "capture: not a capture name")
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise WebError(400, f"{name}: a capture name is a path under snapshots/, without '..'")
    why = store.problem(rel)
    if why == MISSING:
        raise WebError(404, f"{name}: no such capture (it may have been deleted or pruned)")
    if why:
        raise WebError(400, f"{name}: {why}")
    return store.root / rel


@dataclass
class Detail:
    ref: CaptureRef
    header: Header
    size: int
    items: list[str]
    matched: int
    children: list[tuple[str, str, int, bool]]  # (feature, path, count, present)
    bundle_of: list[str]  # bundles that hold this capture


def detail(store: CaptureStore, name: str, search: str, page: int) -> Detail:
    """A capture's header and one page of its items (only that page is decoded)."""
    path = checked_path(store, name)
    ref = store.header(path)
    if ref.header is None:
        raise WebError(400, ref.error)
    items: list[str] = []
    matched = 0
    if ref.header.feature != ALL:
        try:
            _, lines = store.load_lines(path)
        except CaptureError as exc:
            raise WebError(400, str(exc)) from None
        if search:
            needle = search.lower().encode()
            lines = [line for line in lines if needle in line.lower()]
        matched = len(lines)
        start = (page - 1) * ITEM_PAGE
        items = [describe(i) for i in items_of(lines[start : start + ITEM_PAGE], ref.rel)]
    children = [(c.feature, c.path, c.count, store.problem(PurePosixPath(c.path)) == "") for c in ref.header.children]
    bundle_of = []
    if ref.header.feature != ALL:  # a child's bundle shares its folder and second
        for other in (store.header(p) for p in path.parent.glob(path.name.split("__", 1)[0] + "__*.json")):
            if other.header is not None and any(c.path == ref.rel for c in other.header.children):
                bundle_of.append(other.rel)
    return Detail(ref, ref.header, _size(path), items, matched, children, bundle_of)


# -- the create job ---------------------------------------------------------------------------


def capture_run(history: RunHistory, raw: str) -> Run:
    """The capture run ``raw`` names (the job page follows it); WebError 404 when there is none."""
    if not raw.isdigit() or len(raw) > 18:
        raise WebError(404, f"No run {raw!r}: runs are numbered.")
    run = history.get(int(raw))
    if run is None or run.kind != "capture":
        raise WebError(404, f"No capture run {raw} in the history.")
    return run


def routes(ui: UI) -> list[Route]:
    def store() -> CaptureStore:
        return CaptureStore(ui.config().config_dir)

    def history() -> RunHistory:
        return RunHistory(ui.state, ui.config().history)

    def providers() -> list[str]:
        """The configured providers' sections (what the create form offers)."""
        registry, sections = ui.host.providers, ui.config().sections
        return sorted(spec.section for i in registry.ids() if (spec := registry.get(i)).section in sections)

    @ui.page()
    async def captures(request: Request, session: Session) -> Response:
        f = CaptureFilter.parse(request.query_params)
        rows, total, choices = await anyio.to_thread.run_sync(listing, store(), f)
        pages = max(1, -(-total // LIST_PAGE))
        flash = {k: _text(request.query_params, k, 300) for k in ("deleted", "queued")}
        return ui.render(
            request,
            session,
            "captures.html",
            rows=rows,
            total=total,
            f=f,
            pages=pages,
            types=TYPES,
            features=FEATURES,
            choices=choices,
            providers=providers(),
            flash=flash,
            prev=f.query(page=f.page - 1 if f.page > 2 else None) if f.page > 1 else None,
            next=f.query(page=f.page + 1) if f.page < pages else None,
        )

    @ui.page()
    async def show(request: Request, session: Session) -> Response:
        name = request.path_params["name"]
        search = _text(request.query_params, "q")
        page = _page(request.query_params)
        found = await anyio.to_thread.run_sync(detail, store(), name, search, page)
        pages = max(1, -(-found.matched // ITEM_PAGE))

        def link(n: int) -> str:
            return "?" + urlencode({k: v for k, v in (("q", search), ("page", n if n > 1 else "")) if v})

        return ui.render(
            request,
            session,
            "capture.html",
            c=found,
            h=found.header,
            search=search,
            page=page,
            pages=pages,
            prev=link(page - 1) if page > 1 else None,
            next=link(page + 1) if page < pages else None,
        )

    def _choice(form: Any, key: str, allowed: tuple[str, ...] | list[str], default: str = "") -> str:
        value = form.get(key)
        value = value.strip() if isinstance(value, str) else default
        value = value or default
        if value not in allowed:
            raise WebError(400, f"{key}: one of {', '.join(allowed)}")
        return value

    def _target(form: Any) -> tuple[str, str, str]:
        from crosswatch.captures.create import capture_features
        from crosswatch.profiles import ProfileError

        provider = _choice(form, "provider", providers())
        profile = _word(form, "profile") or "default"
        feature = _choice(form, "feature", FEATURES, ALL)
        try:
            target = JobContext(ui.config(), ui.host).profile(provider, profile)
            capture_features(target, feature)
        except (ProfileError, CaptureError) as exc:
            raise WebError(400, str(exc)) from None
        return provider, profile, feature

    @ui.page()
    async def create(request: Request, session: Session) -> Response:
        from crosswatch.captures.create import create_capture
        from crosswatch.webui.jobs import Jobs, jobs_for

        form = await ui.form(request, session)
        provider, profile, feature = _target(form)
        try:
            label = check_label(str(form.get("label") or ""))
        except CaptureError as exc:
            raise WebError(400, f"label: {exc}") from None
        job = jobs_for(ui).start(
            "capture",
            f"{provider}.{profile} {feature}",
            lambda ctx: create_capture(ctx, provider, feature, profile=profile, label=label),
        )
        await Jobs.settled(job)
        if job.run_id is None:
            raise (
                WebError(400, job.error) if job.error else WebError(500, "The capture job did not start; see the log.")
            )
        return RedirectResponse(f"/captures/job?run={job.run_id}", status_code=303)

    async def job_model(request: Request) -> dict[str, Any]:
        raw = (request.query_params.get("run") or "").strip()
        run = await anyio.to_thread.run_sync(capture_run, history(), raw)
        return {"run": run, "done": run.result != "running"}

    @ui.page()
    async def job_page(request: Request, session: Session) -> Response:
        return ui.render(request, session, "captures_job.html", **await job_model(request))

    @ui.page()
    async def job_partial(request: Request, session: Session) -> Response:
        return ui.render(request, session, "captures_job_body.html", **await job_model(request))

    @ui.page()
    async def queue(request: Request, session: Session) -> Response:
        from crosswatch.commands.capture_schedule import add_schedule
        from crosswatch.config import ConfigError

        form = await ui.form(request, session)
        provider, profile, feature = _target(form)
        cron = _text(form, "cron", 100)
        if not cron:
            raise WebError(400, "cron: when the scheduler takes it, e.g. 0 3 * * *")
        name = _word(form, "name")
        ctx = JobContext(ui.config(), ui.host)
        try:
            entry = await anyio.to_thread.run_sync(
                lambda: add_schedule(ctx, provider, profile, cron=cron, feature=feature, name=name)
            )
        except (CaptureError, ConfigError) as exc:
            raise WebError(400, " ".join(str(exc).split())) from None
        return RedirectResponse("/captures?" + urlencode({"queued": entry.job_name}), status_code=303)

    @ui.page()
    async def delete(request: Request, session: Session) -> Response:
        from crosswatch.captures.retention import delete_capture

        form = await ui.form(request, session)
        name = _text(form, "capture", 1000)
        s = store()
        path = checked_path(s, name)
        try:
            doomed = await anyio.to_thread.run_sync(s.doomed, path)
        except CaptureError as exc:
            raise WebError(400, str(exc)) from None
        if form.get("confirm") != "yes":
            return ui.render(request, session, "captures_delete.html", name=name, files=[s.rel(p) for p in doomed])
        ctx = JobContext(ui.config(), ui.host)  # in a worker thread: no bus
        try:
            removed = await anyio.to_thread.run_sync(lambda: delete_capture(ctx, s.header(path)))
        except CaptureError as exc:
            raise WebError(400, str(exc)) from None
        return RedirectResponse("/captures?" + urlencode({"deleted": f"{len(removed)} file(s): {name}"}), 303)

    return [
        Route("/captures", captures, methods=["GET"], name="captures"),
        Route("/captures/create", create, methods=["POST"], name="captures_create"),
        Route("/captures/queue", queue, methods=["POST"], name="captures_queue"),
        Route("/captures/delete", delete, methods=["POST"], name="captures_delete"),
        Route("/captures/job", job_page, methods=["GET"], name="captures_job"),
        Route("/partials/captures/job", job_partial, methods=["GET"], name="captures_job_partial"),
        Route("/captures/{name:path}", show, methods=["GET"], name="capture"),
    ]
