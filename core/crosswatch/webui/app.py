"""The dashboard's foundation: who may see it, sessions, CSRF, security headers, templates.

Every page module (``overview``, ``runs``, ...) has ``NAV`` (its menu entries) and
``routes(ui) -> list[Route]``, whose handlers are wrapped by :meth:`UI.page`. Add a page area by
writing such a module and listing it in :data:`PAGES` (docs/web.md has the pattern).
"""

from __future__ import annotations

import hmac
import importlib
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from crosswatch.config import Config
from crosswatch.state import StateDir
from crosswatch.webui import filters
from crosswatch.webui.passwords import BadHash, parse
from crosswatch.webui.sessions import COOKIE, Session, Sessions, load_key

log = structlog.get_logger("crosswatch.web")

#: the page areas, in menu order (module names under crosswatch.webui)
PAGES = ("overview", "runs", "captures", "compare", "charts", "restore", "pairs", "unresolved", "login")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send "Origin: null" with forms
    "Cache-Control": "no-store",
}
MAX_FORM_BYTES = 64 * 1024
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}

Handler = Callable[[Request, Session], Awaitable[Response]]


class WebError(Exception):
    """Answer with this status and a one-line message, on the dashboard's error page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name, no port) is this machine only."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(header: str) -> str:
    """The host part of a ``Host`` header (``127.0.0.1:8787``, ``[::1]:8787``, ``localhost``)."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass
class UI:
    """What the pages read: the config in force, the plugins, the state, the daemon's live facts."""

    config: Callable[[], Config]
    host: Any  # crosswatch.plugins.PluginHost
    state: StateDir
    facts: Callable[[], dict[str, Any]]
    address: str  # the address the daemon is bound to
    sessions: Sessions
    daemon: Any = None  # the Daemon (its task group and bus run the long actions: webui.jobs)
    bus: Any = None  # the daemon's EventBus: jobs started from a page publish on it
    env: Environment = field(init=False)
    nav: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("crosswatch.webui", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(filters.FILTERS)

    @property
    def loopback(self) -> bool:
        return is_loopback(_host_of(self.address))

    # -- rendering -------------------------------------------------------------------------

    def render(self, request: Request, session: Session, template: str, http_status: int = 200, **ctx: Any) -> Response:
        """``template`` with the common context (menu, CSRF token, sign-in state)."""
        web = self.config().web
        html = self.env.get_template(template).render(
            request_path=request.url.path,
            nav=self.nav,
            csrf=session.csrf,
            signed_in=session.signed_in,
            password_set=bool(web.password_hash),
            **ctx,
        )
        return HTMLResponse(html, status_code=http_status)

    def error(self, request: Request, session: Session, status: int, message: str) -> Response:
        return self.render(request, session, "error.html", http_status=status, status_code=status, message=message)

    # -- access ----------------------------------------------------------------------------

    def refusal(self, request: Request, session: Session, *, public: bool) -> Response | None:
        """Why this request may not see the page (a response), or None when it may."""
        web = self.config().web
        if not web.enabled:
            raise WebError(404, "The dashboard is turned off ([web] enabled = false in config.toml).")
        if web.password_hash:
            try:
                parse(web.password_hash)
            except BadHash as exc:
                raise WebError(403, f"{exc}; run it again and put the line it prints in config.toml.") from None
            if public or session.signed_in:
                return None
            target = "/login?next=" + quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            if request.headers.get("hx-request"):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        if not self.loopback:
            raise WebError(
                403,
                f"The dashboard is not served: crosswatch listens on {self.address}, beyond this machine, and no "
                "password is set. Run `crosswatch web set-password` and put the line it prints under [web] in "
                "config.toml, or listen on 127.0.0.1.",
            )
        if not is_loopback(_host_of(request.headers.get("host", ""))):
            # a page of another site reaching 127.0.0.1 through a name it controls (DNS rebinding)
            raise WebError(403, "The dashboard answers only to localhost and loopback addresses.")
        return None

    def page(self, *, public: bool = False) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
        """Wrap a handler: access rules, the session, 4xx pages for bad input, security headers.

        ``public``: reachable without signing in (the sign-in page itself); the other rules hold.
        """

        def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                session = self.sessions.new()
                try:
                    session = self.sessions.load(request.cookies.get(COOKIE), self.config().web.password_hash)
                    response = self.refusal(request, session, public=public) or await handler(request, session)
                except WebError as exc:
                    response = self.error(request, session, exc.status, exc.message)
                except Exception as exc:
                    log.exception("web.page_failed", path=request.url.path, error=repr(exc))
                    response = self.error(request, session, 500, f"Internal error ({type(exc).__name__}); see the log.")
                return self.secure(request, response, session)

            endpoint.__name__ = handler.__name__
            return endpoint

        return wrap

    def secure(self, request: Request, response: Response, session: Session) -> Response:
        """Add the security headers, and the session cookie when ``session`` is new."""
        response.headers.update(HEADERS)
        if session.fresh:
            response.set_cookie(
                COOKIE,
                self.sessions.dump(session),
                max_age=int(session.expires - time.time()) if session.signed_in else None,
                path="/",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    # -- forms -----------------------------------------------------------------------------

    async def form(self, request: Request, session: Session) -> FormData:
        """The POSTed form, once its CSRF token (and Origin, when sent) is checked; else WebError."""
        try:
            length = int(request.headers.get("content-length") or 0)
        except ValueError:
            raise WebError(400, "Bad Content-Length.") from None
        if length > MAX_FORM_BYTES:
            raise WebError(413, f"The form is too large (over {MAX_FORM_BYTES // 1024} KiB).")
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            raise WebError(403, "The form was sent from another site.")
        try:
            form = await request.form(max_files=0, max_fields=100)
        except Exception:  # multipart errors, bad encodings
            raise WebError(400, "The form could not be read.") from None
        token = form.get("csrf")
        if not isinstance(token, str) or not hmac.compare_digest(token, session.csrf):
            raise WebError(
                403, "This form expired or did not come from this dashboard (CSRF token). Reload the page and retry."
            )
        return form


def routes(daemon: Any, address: str) -> list[BaseRoute]:
    """The dashboard's routes for ``daemon`` bound at ``address`` (mounted after core's routes)."""
    ui = UI(
        config=daemon._current,
        host=daemon.host,
        state=daemon.state,
        facts=daemon.facts,
        daemon=daemon,
        address=address,
        sessions=Sessions(load_key(daemon.state)),
        bus=daemon.bus,
    )
    return build(ui)


def build(ui: UI) -> list[BaseRoute]:
    """The static files, then each page area's routes; fills the menu."""
    found: list[BaseRoute] = [Mount("/static", StaticFiles(packages=[("crosswatch.webui", "static")]), name="static")]
    for name in PAGES:
        module = importlib.import_module(f"crosswatch.webui.{name}")
        ui.nav.extend(module.NAV)
        found.extend(module.routes(ui))
    return found
