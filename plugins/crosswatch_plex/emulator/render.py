"""Responses as PMS writes them: a ``MediaContainer`` tree, XML by default, JSON on ``Accept: application/json``.

A response is built as a small tree of :class:`El` (tag, JSON list name, attributes,
children) and written once, either way:

- XML: ``<MediaContainer size="2"><Video ratingKey="12" .../><Directory .../></MediaContainer>``;
  booleans are ``1``/``0``, ``None`` attributes are left out.
- JSON: ``{"MediaContainer": {"size": 2, "Metadata": [{...}, {...}]}}``; children are grouped
  under their list name (``Metadata`` for both ``Video`` and ``Directory`` items, ``Guid``,
  ``Media``, ``Part``, ``Directory``, ``Account``, ...), in order.

Paging (:func:`page`): ``X-Plex-Container-Start`` / ``X-Plex-Container-Size`` as headers or
query parameters; a paged answer carries ``offset``/``totalSize`` on the container and the
``X-Plex-Container-Start`` / ``X-Plex-Container-Total-Size`` headers. ``limit`` caps the list
first (and so the total), as the spec describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

XML_TYPE = "text/xml;charset=utf-8"
JSON_TYPE = "application/json"
_encode_json = msgspec.json.Encoder().encode


class El:
    """One element: ``tag`` in XML, ``key`` is its list name in JSON (defaults to the tag)."""

    __slots__ = ("attrs", "children", "key", "one", "tag")

    def __init__(
        self,
        tag: str,
        attrs: dict[str, Any],
        children: list[El] | None = None,
        key: str | None = None,
        *,
        one: bool = False,
    ) -> None:
        self.tag, self.attrs, self.children, self.key = tag, attrs, children or [], key or tag
        self.one = one  # JSON: an object under ``key``, not a list of one

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.attrs.items() if v is not None}
        for child in self.children:
            if child.one:
                out[child.key] = child.to_json()
            else:
                out.setdefault(child.key, []).append(child.to_json())
        return out

    def to_xml(self, out: list[str]) -> None:
        parts = ["<", self.tag]
        for name, value in self.attrs.items():
            if value is None:
                continue
            parts += (" ", name, '="', _attr(value), '"')
        if not self.children:
            parts.append("/>")
            out.append("".join(parts))
            return
        parts.append(">")
        out.append("".join(parts))
        for child in self.children:
            child.to_xml(out)
        out.append(f"</{self.tag}>")


def _attr(value: Any) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    text = value if isinstance(value, str) else str(value)
    if "&" in text or "<" in text or '"' in text or ">" in text or "\n" in text:
        text = (
            text.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace('"', "&quot;")
            .replace("\n", "&#10;")
        )
    return text


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "").lower()


def xml_bytes(root: El) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    root.to_xml(out)
    out.append("\n")
    return "".join(out).encode()


def respond(request: Request, root: El, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``root`` as JSON (``{root.tag: {...}}``) or XML, by the request's ``Accept``."""
    if wants_json(request):
        body = _encode_json({root.tag: root.to_json()})
        return Response(body, status_code=status, headers=headers, media_type=JSON_TYPE)
    return Response(xml_bytes(root), status_code=status, headers=headers, media_type=XML_TYPE)


def container(children: list[El] | None = None, **attrs: Any) -> El:
    """A ``MediaContainer`` with ``size`` first (the number of children unless given)."""
    children = children or []
    size = attrs.pop("size", len(children))
    return El("MediaContainer", {"size": size, **attrs}, children)


def html_error(status: int, headers: dict[str, str] | None = None) -> Response:
    """PMS's bare HTML error page (``<h1>404 Not Found</h1>``)."""
    from http import HTTPStatus

    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body = f"<html><head><title>{phrase}</title></head><body><h1>{status} {phrase}</h1></body></html>"
    return Response(body, status_code=status, headers=headers, media_type="text/html")


def x_plex(request: Request, name: str) -> str | None:
    """An ``X-Plex-*`` value from the headers or, as PMS allows, the query string."""
    value = request.headers.get(name)
    if value is None:
        value = request.query_params.get(name)
    return value


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if value.startswith("-") and value[1:].isdigit():
        return int(value)
    return int(value) if value.isdigit() else None


@dataclass(frozen=True)
class Page:
    """A slice of a list and what the container and headers say about it."""

    start: int
    stop: int
    attrs: dict[str, Any]
    headers: dict[str, str]


def page(request: Request, total: int, *, default_size: int | None = None) -> Page:
    """The slice asked for by the container headers (or query); everything if none was asked.

    ``default_size`` forces paging when the client asked for none (Discover does).
    """
    limit = _int(request.query_params.get("limit"))
    if limit is not None and limit >= 0:
        total = min(total, limit)
    start = _int(x_plex(request, "X-Plex-Container-Start"))
    size = _int(x_plex(request, "X-Plex-Container-Size"))
    if start is None and size is None and default_size is None:
        return Page(0, total, {}, {})
    start = max(0, start or 0)
    if size is None or size < 0:
        size = default_size if default_size is not None else total
    first = min(start, total)
    return Page(
        first,
        min(total, start + size),
        {"offset": start, "totalSize": total},
        {"X-Plex-Container-Start": str(start), "X-Plex-Container-Total-Size": str(total)},
    )
