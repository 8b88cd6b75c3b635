"""Library items as PMS shows them (``fixtures/plex/server/media``), with one account's user state.

``<Video>`` for movies and episodes, ``<Directory>`` for shows and seasons (JSON: ``Metadata``).
User attributes appear only when set, as in PMS: ``viewCount``, ``lastViewedAt``,
``viewOffset``, ``userRating``, ``lastRatedAt`` (shows and seasons: ``viewedLeafCount`` always,
``viewCount``/``lastViewedAt`` summed over their episodes). ``Guid`` children only for
modern-agent items, and in listings only with ``includeGuids=1``; ``Media``/``Part`` on movies
and episodes.
"""

from __future__ import annotations

import time
from typing import Any

from crosswatch.emulation.catalog import Episode, Media, Movie, Season, Show
from crosswatch_plex.emulator.library import Library, Section, title_sort
from crosswatch_plex.emulator.render import El
from crosswatch_plex.emulator.userstate import PlexState, Row

IDENTIFIER = "com.plexapp.plugins.library"


def day(epoch: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def _sort_title(title: str) -> str | None:
    """``titleSort`` when it differs from the title (PMS writes it only then)."""
    stripped = title_sort(title)
    return title[len(title) - len(stripped) :] if len(stripped) != len(title) else None


def _media_el(lib: Library, media: Movie | Episode, rk: int, duration: int | None) -> El:
    if isinstance(media, Movie):
        path = f"/data/Movies/{media.title} ({media.year}).mkv"
    else:
        show = media.show
        path = (
            f"/data/TV-Shows/{show.title}/Season {media.season:02d}/"
            f"{show.title} - s{media.season:02d}e{media.number:02d}.mkv"
        )
    size = (duration or 0) * 350
    part = El(
        "Part",
        {
            "id": rk,
            "key": f"/library/parts/{rk}/{lib.added_at(media)}/file.mkv",
            "duration": duration,
            "file": path,
            "size": size,
            "container": "mkv",
        },
    )
    attrs = {
        "id": rk,
        "duration": duration,
        "bitrate": 4200,
        "width": 1920,
        "height": 1080,
        "aspectRatio": 1.78,
        "audioChannels": 6,
        "audioCodec": "eac3",
        "videoCodec": "h264",
        "videoResolution": "1080",
        "container": "mkv",
        "videoFrameRate": "24p",
    }
    return El("Media", attrs, [part])


def item_el(
    lib: Library,
    state: PlexState,
    account: int,
    media: Media,
    *,
    guids: bool = True,
    detail: bool = False,
) -> El:
    """One item; ``detail`` adds the section attributes (as ``/library/metadata`` does)."""
    rk = lib.rk(media)
    data = state.users[account]
    guid = lib.guid(media)
    added = lib.added_at(media)
    attrs: dict[str, Any] = {"ratingKey": str(rk)}
    section = lib.section_of(media)
    if isinstance(media, Movie):
        tag = "Video"
        attrs |= {"key": f"/library/metadata/{rk}", "guid": guid, "type": "movie", "title": media.title}
        attrs["titleSort"] = _sort_title(media.title)
        attrs |= _section(section, detail)
        attrs |= {
            "summary": f"{media.title} ({media.year}).",
            "year": media.year,
            "thumb": f"/library/metadata/{rk}/thumb/{added}",
            "art": f"/library/metadata/{rk}/art/{added}",
            "duration": lib.duration_ms(media),
            "originallyAvailableAt": day(media.released),
        }
    elif isinstance(media, Show):
        tag = "Directory"
        leaf_count = sum(len(s.episodes) for s in media.seasons)
        attrs |= {"key": f"/library/metadata/{rk}/children", "guid": guid, "type": "show", "title": media.title}
        attrs["titleSort"] = _sort_title(media.title)
        attrs |= _section(section, detail)
        first = media.seasons[0].episodes[0] if media.seasons and media.seasons[0].episodes else None
        attrs |= {
            "summary": f"{media.title} ({media.year}).",
            "index": 1,
            "year": media.year,
            "thumb": f"/library/metadata/{rk}/thumb/{added}",
            "art": f"/library/metadata/{rk}/art/{added}",
            "duration": lib.duration_ms(media),
            "originallyAvailableAt": day(first.aired) if first else None,
            "leafCount": leaf_count,
            "childCount": len(media.seasons),
        }
    elif isinstance(media, Season):
        tag = "Directory"
        show = media.show
        show_rk = lib.rk(show)
        attrs |= {
            "key": f"/library/metadata/{rk}/children",
            "parentRatingKey": str(show_rk),
            "guid": guid,
            "parentGuid": lib.guid(show),
            "type": "season",
            "title": f"Season {media.number}",
            "parentKey": f"/library/metadata/{show_rk}",
            "parentTitle": show.title,
        }
        attrs |= _section(section, detail)
        attrs |= {
            "summary": "",
            "index": media.number,
            "parentIndex": 1,
            "parentYear": show.year,
            "thumb": f"/library/metadata/{rk}/thumb/{added}",
            "parentThumb": f"/library/metadata/{show_rk}/thumb/{lib.added_at(show)}",
            "leafCount": len(media.episodes),
        }
    else:
        assert isinstance(media, Episode)
        tag = "Video"
        show = media.show
        season = show.seasons[media.season - 1]
        show_rk, season_rk = lib.rk(show), lib.rk(season)
        attrs |= {
            "key": f"/library/metadata/{rk}",
            "parentRatingKey": str(season_rk),
            "grandparentRatingKey": str(show_rk),
            "guid": guid,
            "parentGuid": lib.guid(season),
            "grandparentGuid": lib.guid(show),
            "type": "episode",
            "title": media.title,
            "grandparentKey": f"/library/metadata/{show_rk}",
            "parentKey": f"/library/metadata/{season_rk}",
            "grandparentTitle": show.title,
            "parentTitle": f"Season {media.season}",
        }
        attrs |= _section(section, detail)
        attrs |= {
            "summary": "",
            "index": media.number,
            "parentIndex": media.season,
            "year": time.gmtime(media.aired).tm_year,
            "thumb": f"/library/metadata/{rk}/thumb/{added}",
            "grandparentThumb": f"/library/metadata/{show_rk}/thumb/{lib.added_at(show)}",
            "duration": lib.duration_ms(media),
            "originallyAvailableAt": day(media.aired),
        }
    # user state
    count, last, viewed_leaves = state.view_of(account, media)
    if isinstance(media, (Show, Season)):
        attrs["viewedLeafCount"] = viewed_leaves
    offset = data.offsets.get(rk)
    if offset:
        attrs["viewOffset"] = offset
    if count:
        attrs["viewCount"] = count
    if last is not None:
        attrs["lastViewedAt"] = last
    rating = data.ratings.get(rk)
    if rating is not None:
        attrs["userRating"] = rating[0]
        attrs["lastRatedAt"] = rating[1]
    attrs["addedAt"] = added
    attrs["updatedAt"] = added + 3600
    children = []
    if isinstance(media, (Movie, Episode)):
        children.append(_media_el(lib, media, rk, attrs.get("duration")))
    if guids:
        children += [El("Guid", {"id": g}) for g in lib.guids(media)]
    return El(tag, attrs, children, key="Metadata")


def _section(section: Section, detail: bool) -> dict[str, Any]:
    if not detail:
        return {}
    return {
        "librarySectionTitle": section.title,
        "librarySectionID": section.id,
        "librarySectionKey": f"/library/sections/{section.id}",
    }


def history_el(lib: Library, row: Row) -> El:
    """One play as ``/status/sessions/history/all`` lists it."""
    media = lib.get(row.rk)
    attrs: dict[str, Any] = {
        "historyKey": f"/status/sessions/history/{row.id}",
        "key": f"/library/metadata/{row.rk}",
        "ratingKey": str(row.rk),
        "librarySectionID": None,
        "parentKey": None,
        "grandparentKey": None,
        "title": None,
        "grandparentTitle": None,
        "type": None,
        "thumb": None,
        "parentThumb": None,
        "grandparentThumb": None,
        "index": None,
        "parentIndex": None,
        "originallyAvailableAt": None,
        "viewedAt": row.viewed_at,
        "accountID": row.account,
        "deviceID": row.device,
    }
    if media is None:  # a row whose item left the library (posted state): PMS keeps it bare
        return El("Video", attrs, key="Metadata")
    added = lib.added_at(media)
    attrs["librarySectionID"] = str(lib.section_of(media).id)
    attrs["thumb"] = f"/library/metadata/{row.rk}/thumb/{added}"
    if isinstance(media, Episode):
        show = media.show
        season = show.seasons[media.season - 1]
        show_rk, season_rk = lib.rk(show), lib.rk(season)
        attrs |= {
            "parentKey": f"/library/metadata/{season_rk}",
            "grandparentKey": f"/library/metadata/{show_rk}",
            "title": media.title,
            "grandparentTitle": show.title,
            "type": "episode",
            "parentThumb": f"/library/metadata/{season_rk}/thumb/{lib.added_at(season)}",
            "grandparentThumb": f"/library/metadata/{show_rk}/thumb/{lib.added_at(show)}",
            "index": media.number,
            "parentIndex": media.season,
            "originallyAvailableAt": day(media.aired),
        }
    elif isinstance(media, Movie):
        attrs |= {"title": media.title, "type": "movie", "originallyAvailableAt": day(media.released)}
    else:
        attrs |= {"title": getattr(media, "title", f"Season {getattr(media, 'number', '')}"), "type": media.kind}
    return El("Video", attrs, key="Metadata")
