"""Sign-in (``/login``) and sign-out (``/logout``), when ``[web] password_hash`` is set."""

from __future__ import annotations

import time
from collections import deque

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from crosswatch.webui.app import UI, WebError
from crosswatch.webui.passwords import verify_password
from crosswatch.webui.sessions import Session

NAV: list[tuple[str, str]] = []  # the base template shows sign-in/sign-out itself
FAILURES_PER_MINUTE = 5


def _next(target: str) -> str:
    """Where to go after signing in: a path of this dashboard only (never another site)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def routes(ui: UI) -> list[Route]:
    failures: deque[float] = deque()

    @ui.page(public=True)
    async def login_form(request: Request, session: Session) -> Response:
        if not ui.config().web.password_hash:
            return RedirectResponse("/", status_code=303)
        return ui.render(request, session, "login.html", next=_next(request.query_params.get("next", "/")), failed="")

    @ui.page(public=True)
    async def login(request: Request, session: Session) -> Response:
        form = await ui.form(request, session)
        web = ui.config().web
        if not web.password_hash:
            return RedirectResponse("/", status_code=303)
        now = time.monotonic()
        while failures and now - failures[0] > 60:
            failures.popleft()
        if len(failures) >= FAILURES_PER_MINUTE:
            raise WebError(429, "Too many wrong passwords; wait a minute and try again.")
        password = form.get("password")
        target = _next(str(form.get("next") or "/"))
        if not isinstance(password, str) or len(password) > 1024:
            raise WebError(400, "password: missing or too long")
        if not await anyio.to_thread.run_sync(verify_password, password, web.password_hash):
            failures.append(now)
            page = ui.render(request, session, "login.html", http_status=401, next=target, failed="Wrong password.")
            return page
        signed = ui.sessions.sign_in(session, web.password_hash, web.session_hours)
        response = RedirectResponse(target, status_code=303)
        ui.secure(request, response, signed)
        return response

    @ui.page(public=True)
    async def logout(request: Request, session: Session) -> Response:
        await ui.form(request, session)
        response = RedirectResponse("/login" if ui.config().web.password_hash else "/", status_code=303)
        ui.secure(request, response, ui.sessions.new())
        return response

    return [
        Route("/login", login_form, methods=["GET"], name="login_form"),
        Route("/login", login, methods=["POST"], name="login"),
        Route("/logout", logout, methods=["POST"], name="logout"),
    ]
