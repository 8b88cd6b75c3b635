"""The ``Meta`` block of ``/library/sections/{id}/all?includeMeta=1``: which filters and sorts exist.

python-plexapi reads it before it sends a filtered or sorted search (``section.search(
unwatched=True, sort="lastViewedAt:desc")``); it lists exactly what :mod:`.query` serves.
"""

from __future__ import annotations

from crosswatch_plex.emulator.library import Section
from crosswatch_plex.emulator.render import El

_FIELDS = (
    ("title", "Title", "string"),
    ("year", "Year", "integer"),
    ("userRating", "User Rating", "integer"),
    ("viewCount", "Plays", "integer"),
    ("lastViewedAt", "Last Played", "date"),
    ("lastRatedAt", "Last Rated", "date"),
    ("addedAt", "Date Added", "date"),
    ("unwatched", "Unplayed", "boolean"),
    ("inProgress", "In Progress", "boolean"),
)
_SORTS = (
    ("titleSort", "Title", "asc"),
    ("year", "Year", "desc"),
    ("originallyAvailableAt", "Release Date", "desc"),
    ("userRating", "Rating", "desc"),
    ("viewCount", "Plays", "desc"),
    ("lastViewedAt", "Last Played", "desc"),
    ("lastRatedAt", "Last Rated", "desc"),
    ("addedAt", "Date Added", "desc"),
    ("ratingKey", "Randomly", "asc"),
)
_OPERATORS = {
    "string": (("=", "contains"), ("!=", "does not contain"), ("==", "is"), ("!==", "is not")),
    "integer": (("=", "is"), ("!=", "is not"), (">>=", "is greater than"), ("<<=", "is less than")),
    "date": ((">>=", "is after"), ("<<=", "is before")),
    "boolean": (("=", "is true"), ("!=", "is false")),
}
_TYPES = {
    "movie": ((1, "movie", "Movies"),),
    "show": ((2, "show", "Shows"), (3, "season", "Seasons"), (4, "episode", "Episodes")),
}


def meta_el(section: Section) -> El:
    types = []
    for number, libtype, title in _TYPES.get(section.type, ()):
        prefix = "" if libtype == section.type else f"{libtype}."
        children = [
            El(
                "Filter",
                {
                    "filter": key,
                    "filterType": kind,
                    "key": f"/library/sections/{section.id}/{key}",
                    "title": label,
                    "type": "filter",
                },
            )
            for key, label, kind in _FIELDS
            if kind == "boolean"
        ]
        children += [
            El(
                "Sort",
                {
                    "default": direction if key == "titleSort" else None,
                    "defaultDirection": direction,
                    "descKey": f"{key}:desc",
                    "key": key,
                    "title": label,
                },
            )
            for key, label, direction in _SORTS
        ]
        children += [El("Field", {"key": prefix + key, "title": label, "type": kind}) for key, label, kind in _FIELDS]
        types.append(
            El(
                "Type",
                {
                    "key": f"/library/sections/{section.id}/all?type={number}",
                    "type": libtype,
                    "title": title,
                    "active": number in (1, 2),
                },
                children,
            )
        )
    field_types = [
        El("FieldType", {"type": kind}, [El("Operator", {"key": k, "title": t}) for k, t in ops])
        for kind, ops in _OPERATORS.items()
    ]
    return El("Meta", {}, types + field_types, one=True)
