"""Play history: ``GET /status/sessions/history/all``, ``GET|DELETE /status/sessions/history/{id}``.

Filters: ``accountID`` (comma list), ``viewedAt`` with an operator (``viewedAt>=T``: at or
after T, which is also what python-plexapi's ``viewedAt>`` parameter puts on the wire;
``viewedAt>>=T`` strictly after; ``<=`` / ``<<=`` before), ``librarySectionID``,
``metadataItemID`` (a show or season means its episodes), ``sort=viewedAt:desc`` (the
default) or ``viewedAt:asc``; container paging. The owner sees every account's plays, a
home user only their own. Rows: ``historyKey`` (``/status/sessions/history/<id>``), ``key``,
``ratingKey``, ``librarySectionID``, ``title``, ``type``, ``viewedAt``, ``accountID``,
``deviceID``, and for episodes ``grandparentTitle``, ``parentIndex``, ``index``.
Deleting a row (owner only, else 403) does not change viewCount.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crosswatch_plex.emulator.common import Reject, account, cached, emulator, endpoint
from crosswatch_plex.emulator.items import history_el
from crosswatch_plex.emulator.query import BadQuery, compare, number, split_param
from crosswatch_plex.emulator.render import container, page, respond
from crosswatch_plex.emulator.userstate import Row, leaves


def _ints(value: str) -> set[int]:
    out = set()
    for part in value.split(","):
        part = part.strip()
        if not part.lstrip("-").isdigit():
            raise BadQuery(f"not a number: {part!r}")
        out.add(int(part))
    return out


def _viewed(op: str, bound: list[Any]) -> Callable[[Row], bool]:
    return lambda row: compare(op, row.viewed_at, bound)


def _in_sections(lib: Any, section_ids: set[int]) -> Callable[[Row], bool]:
    return lambda row: (media := lib.get(row.rk)) is not None and lib.section_of(media).id in section_ids


def _of_items(keys: set[int]) -> Callable[[Row], bool]:
    return lambda row: row.rk in keys


@endpoint
async def history_all(request: Request) -> Response:
    emu = emulator(request)
    who = account(request)
    params = tuple((k, v) for k, v in request.query_params.multi_items() if not k.startswith("X-Plex-"))

    def build() -> list[Row]:
        lib = emu.library
        tests: list[Callable[[Row], bool]] = []
        accounts: set[int] | None = None if who == 1 else {who}
        for name, value in params:
            field, op, text = split_param(name, value)
            if field == "accountID":
                wanted = _ints(text)
                accounts = wanted if accounts is None else accounts & wanted
            elif field == "viewedAt":
                bound = [number("viewedAt", text)]
                tests.append(_viewed(op, bound))
            elif field == "librarySectionID":
                section_ids = _ints(text)
                tests.append(_in_sections(lib, section_ids))
            elif field == "metadataItemID":
                keys: set[int] = set()
                for rk in _ints(text):
                    media = lib.get(rk)
                    if media is not None:
                        keys.add(rk)
                        keys.update(lib.rk(leaf) for leaf in leaves(media))
                tests.append(_of_items(keys))
        rows = emu.state.rows_newest_first()
        if accounts is not None:
            rows = [r for r in rows if r.account in accounts]
        if tests:
            rows = [r for r in rows if all(t(r) for t in tests)]
        sort = request.query_params.get("sort", "viewedAt:desc")
        if sort.split(",")[0].strip().lower() in ("viewedat", "viewedat:asc"):
            rows = list(reversed(rows))
        return rows

    rows = cached(emu, ("history", who, params), build)
    cut = page(request, len(rows))
    out = [history_el(emu.library, r) for r in rows[cut.start : cut.stop]]
    return respond(request, container(out, **cut.attrs), headers=cut.headers)


@endpoint
async def history_one(request: Request) -> Response:
    emu = emulator(request)
    who = account(request)
    row = emu.state.rows.get(request.path_params["id"])
    if row is None or (who != 1 and row.account != who):
        raise Reject(404)
    if request.method == "DELETE":
        if who != 1:
            raise Reject(403)
        emu.state.delete_row(row.id)
        return respond(request, container([]))
    return respond(request, container([history_el(emu.library, row)]))


ROUTES = [
    Route("/status/sessions/history/all", history_all, methods=["GET"]),
    Route("/status/sessions/history/{id:int}", history_one, methods=["GET", "DELETE"]),
]
