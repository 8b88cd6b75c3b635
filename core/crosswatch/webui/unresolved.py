"""Unresolved (``/unresolved``): items frozen per provider and feature with the reason; release them.

Listing is :func:`crosswatch.unresolved.list_unresolved` (``crosswatch unresolved list``);
releasing one item or all of a provider's feature is ``UnresolvedStore.release`` (``unresolved
clear``), after a confirmation page.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any
from urllib.parse import urlencode

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from crosswatch.unresolved import UnresolvedStore, list_unresolved
from crosswatch.webui.app import UI, WebError
from crosswatch.webui.sessions import Session

NAV = [("/unresolved", "Unresolved")]


def title(item: dict[str, Any]) -> str:
    return str(item.get("show_title") or item.get("title") or "?")


def routes(ui: UI) -> list[Route]:
    def rows() -> list[dict[str, Any]]:
        return list_unresolved(ui.state)

    def chosen(form: Any) -> tuple[str, str, str, list[dict[str, Any]]]:
        """provider, feature, key ('' = all) of a form, checked against what is frozen; and those rows."""
        provider, feature, key = (str(form.get(k) or "") for k in ("provider", "feature", "key"))
        found = [r for r in rows() if r["provider"] == provider and r["feature"] == feature]
        if not found:
            raise WebError(404, f"provider/feature: nothing frozen for {provider[:40]!r} {feature[:40]!r}")
        if key:
            found = [r for r in found if r["key"] == key]
            if not found:
                raise WebError(404, f"key: {key[:80]!r} is not frozen in {provider} {feature}")
        return provider, feature, key, found

    @ui.page()
    async def listing(request: Request, session: Session) -> Response:
        found = await anyio.to_thread.run_sync(rows)
        groups = [(k, list(g)) for k, g in groupby(found, key=lambda r: (r["provider"], r["feature"]))]
        released = request.query_params.get("released", "")
        return ui.render(
            request,
            session,
            "unresolved.html",
            groups=groups,
            total=len(found),
            title=title,
            released=released if released.isdigit() else "",
        )

    @ui.page()
    async def clear(request: Request, session: Session) -> Response:
        form = await ui.form(request, session)
        provider, feature, key, found = await anyio.to_thread.run_sync(chosen, form)
        if form.get("confirm") != "yes":
            return ui.render(
                request,
                session,
                "unresolved_clear.html",
                provider=provider,
                feature=feature,
                key=key,
                rows=found,
                title=title,
            )
        store = UnresolvedStore(ui.state, provider)
        keys = [key] if key else None
        released = await anyio.to_thread.run_sync(store.release, feature, keys)
        return RedirectResponse("/unresolved?" + urlencode({"released": released}), status_code=303)

    return [
        Route("/unresolved", listing, methods=["GET"], name="unresolved"),
        Route("/unresolved/clear", clear, methods=["POST"], name="unresolved_clear"),
    ]
