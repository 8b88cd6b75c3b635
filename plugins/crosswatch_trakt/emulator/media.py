"""Catalogue media as Trakt writes them (the shapes of ``shared/fixtures/trakt``), encoded once.

Each media object is encoded to JSON on first use and kept as ``msgspec.Raw``, so a page of
250 history entries costs 250 small dicts and one ``encode`` call.
"""

from __future__ import annotations

from typing import Any

import msgspec

from crosswatch.emulation.catalog import Catalog, Episode, Media, Movie, Season, Show

PLURAL = {"movie": "movies", "show": "shows", "season": "seasons", "episode": "episodes"}
SINGULAR = {v: k for k, v in PLURAL.items()}

encode = msgspec.json.Encoder().encode


def media_json(media: Media) -> dict[str, Any]:
    """The standard Trakt object of one catalogue media (``movie``, ``show``, ``season``, ``episode``)."""
    if isinstance(media, Movie):
        return {"title": media.title, "year": media.year, "ids": media.ids()}
    if isinstance(media, Show):
        return {"title": media.title, "year": media.year, "ids": {**media.ids(), "tvrage": None}}
    if isinstance(media, Season):
        return {"number": media.number, "ids": {**media.ids(), "tvrage": None}}
    return {
        "season": media.season,
        "number": media.number,
        "title": media.title,
        "ids": {**media.ids(), "tvrage": None},
    }


def show_of(media: Media) -> Show | None:
    return media.show if isinstance(media, (Season, Episode)) else None


class MediaCache:
    """``msgspec.Raw`` JSON of catalogue media, made on first use."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._raw: dict[tuple[str, int], msgspec.Raw] = {}

    def raw(self, media: Media) -> msgspec.Raw:
        key = (media.kind, media.trakt)
        found = self._raw.get(key)
        if found is None:
            found = self._raw[key] = msgspec.Raw(encode(media_json(media)))
        return found

    def attach(self, entry: dict[str, Any], media: Media) -> dict[str, Any]:
        """Add ``type``, the media object and, for seasons and episodes, its ``show``."""
        entry["type"] = media.kind
        entry[media.kind] = self.raw(media)
        show = show_of(media)
        if show is not None:
            entry["show"] = self.raw(show)
        return entry
