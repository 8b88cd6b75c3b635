"""Overview (``/``): the facts of ``crosswatch status``, refreshing itself (``/partials/overview``)."""

from __future__ import annotations

from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch.status import Status, assess, gather, scrobbling
from crosswatch.webui.app import UI
from crosswatch.webui.sessions import Session

NAV = [("/", "Overview")]
REFRESH_S = 10


async def live_status(ui: UI) -> tuple[Status, dict[str, Any]]:
    """What ``/healthz`` and ``crosswatch status`` say: the gathered status judged with the daemon's facts."""
    config, facts = ui.config(), ui.facts()
    status = await anyio.to_thread.run_sync(gather, config, ui.host)
    status.daemon = facts
    status.reasons = assess(config, status, facts)
    return status, facts


def routes(ui: UI) -> list[Route]:
    async def model() -> dict[str, Any]:
        status, facts = await live_status(ui)
        return {"status": status, "daemon": facts, "scrobbling": scrobbling(facts), "refresh_s": REFRESH_S}

    @ui.page()
    async def overview(request: Request, session: Session) -> Response:
        return ui.render(request, session, "overview.html", **await model())

    @ui.page()
    async def overview_partial(request: Request, session: Session) -> Response:
        return ui.render(request, session, "overview_body.html", **await model())

    return [
        Route("/", overview, methods=["GET"], name="overview"),
        Route("/partials/overview", overview_partial, methods=["GET"], name="overview_partial"),
    ]
