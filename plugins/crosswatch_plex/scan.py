"""Scanning a Plex server's libraries: sections, paged listings, and hydration with ``Guid[]``.

Episodes and seasons carry only Plex's own key for their show, so their shows are hydrated
(``/library/metadata/{ids}``) once per show for the show's external ids.
"""

from __future__ import annotations

import re
from typing import Any

import anyio

from crosswatch_plex.client import PlexClient, PlexError
from crosswatch_plex.mapping import metadata_items

SECTION_TYPES = {"movie": (1,), "show": (2, 3, 4)}
HYDRATE_BATCH = 50
_RATING_KEY = re.compile(r"[0-9]+")
#: Discover's keys are 24 hex digits today; any plain letters and digits are safe in a path
_DISCOVER_KEY = re.compile(r"[0-9A-Za-z]+")


def rating_key(value: Any, *, discover: bool = False) -> str | None:
    """A ratingKey as text; None for a missing, empty or malformed one.

    A PMS ratingKey is a decimal integer; a Discover (metadata service) key is letters and
    digits. Only such keys go into a request path: a key like ``abc`` (for the PMS),
    ``12;DROP`` or ``../1`` from a bad answer is never sent to the server.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return text if (_DISCOVER_KEY if discover else _RATING_KEY).fullmatch(text) else None


async def library_sections(client: PlexClient, wanted: list[int]) -> list[dict[str, Any]]:
    """Movie and show sections, limited to ``wanted`` section ids when given.

    A section whose key is not a number cannot be listed: it is left out when it is not one of
    ``wanted``, and refused (rather than read partially) when every section is wanted.
    """
    body = (await client.sections()).get("MediaContainer", {})
    directories = (body.get("Directory") or []) if isinstance(body, dict) else None
    if not isinstance(directories, list):
        raise PlexError("GET /library/sections: unexpected answer from Plex (no list of libraries)")
    sections = []
    for section in directories:
        if not isinstance(section, dict) or section.get("type") not in SECTION_TYPES:
            continue
        key = rating_key(section.get("key"))
        if key is None:
            if wanted:
                continue
            raise PlexError(
                f"GET /library/sections: Plex sent the {section.get('type')} library {section.get('title')!r}"
                f" with a key that is not a number ({section.get('key')!r}); refusing a partial read"
            )
        if not wanted or int(key) in wanted:
            sections.append({**section, "key": key})
    return sections


async def hydrate(
    client: PlexClient, keys: set[str], scope: str = "PLEX", base: str | None = None
) -> dict[str, dict[str, Any]]:
    """Metadata (with ``Guid[]``) of ``keys``, fetched in batches at the policy's concurrency.

    ``base`` is the metadata service's for Discover keys, else the PMS. Keys that are not
    ratingKeys (see :func:`rating_key`) are not asked for: like keys the server no longer
    knows, they are missing from the answer, for the caller to report.
    """
    found: dict[str, dict[str, Any]] = {}
    checked = (rating_key(k, discover=base is not None) for k in keys)
    ordered = sorted({k for k in checked if k is not None})

    async def fetch(batch: list[str]) -> None:
        try:
            path = f"/library/metadata/{','.join(batch)}"
            body = await client.get(path, base=base, params={"includeGuids": 1}, scope=scope)
        except PlexError as exc:
            if exc.status != 404:
                raise
            return  # none of these is known any more: the caller reports them as missing
        for meta in metadata_items(body):
            found[str(meta.get("ratingKey"))] = meta

    async with anyio.create_task_group() as tg:
        for i in range(0, len(ordered), HYDRATE_BATCH):
            tg.start_soon(fetch, ordered[i : i + HYDRATE_BATCH])
    return found


async def scan_with_shows(
    client: PlexClient, libraries: list[int], params: dict[str, Any], scope: str, *, kinds: tuple[int, ...] = (1, 4)
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Every item of ``kinds`` in the libraries matching ``params``, with its show's metadata."""
    found: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for section in await library_sections(client, libraries):
        for kind in (k for k in SECTION_TYPES[section["type"]] if k in kinds):
            entries = await client.get_all(
                f"/library/sections/{section['key']}/all",
                params={"type": kind, "includeGuids": 1, **params},
                scope=scope,
            )
            parents = {str(e.get("grandparentRatingKey")) for e in entries if e.get("grandparentRatingKey")}
            shows = await hydrate(client, parents, scope)
            found += [(e, shows.get(str(e.get("grandparentRatingKey")))) for e in entries]
    return found
