"""The capture file: a header (line 1, so listings never parse items), then one item per line.

::

    {"kind":"crosswatch.capture","format":1,"provider":"TRAKT",...,"sha256":"...","items":[
    {"type":"movie","ids":{"imdb":"tt0111161"},"rating":9},
    ...
    ]}

The whole file is one JSON object. ``sha256`` covers the header (without itself) and the
items, so a truncated or hand-edited file is refused on load instead of restored.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Literal

import msgspec

from crosswatch.model import Item

KIND = "crosswatch.capture"
FORMAT = 1
ALL = "all"
_ITEMS_OPEN = b',"items":['


class CaptureError(Exception):
    """A capture cannot be used or written; the message names the file and the fault."""


class Stats(msgspec.Struct, kw_only=True, omit_defaults=True):
    count: int = 0
    by_type: dict[str, int] = {}
    without_date: int = 0  # history items left out because they carry no date


class ChildRef(msgspec.Struct, kw_only=True):
    """One child of an ``all`` bundle: its file (relative to ``snapshots/``) and checksum."""

    feature: str
    path: str
    sha256: str
    count: int = 0


class Header(msgspec.Struct, kw_only=True):
    kind: str = KIND
    format: int = FORMAT
    provider: str
    profile: str = "default"
    feature: str
    created: str  # UTC, ISO 8601 with Z
    label: str = ""
    type: Literal["manual", "auto", "safety"] = "manual"
    schedule: str = ""  # the schedule that made an auto capture
    reason: str = ""  # why a safety capture was taken
    stats: Stats = msgspec.field(default_factory=Stats)
    children: list[ChildRef] = []  # a bundle's children
    sha256: str = ""


class Capture(Header, kw_only=True):
    items: list[Item] = []


def stats_of(items: list[Item], without_date: int = 0) -> Stats:
    return Stats(count=len(items), by_type=dict(Counter(str(i.type) for i in items)), without_date=without_date)


def checksum(header: Header, items: list[Item]) -> str:
    plain = msgspec.structs.replace(header, sha256="")
    digest = hashlib.sha256(msgspec.json.encode(_header_only(plain)))
    digest.update(msgspec.json.encode(items))
    return digest.hexdigest()


def _header_only(capture: Header) -> Header:
    if type(capture) is Header:
        return capture
    fields = {f: getattr(capture, f) for f in Header.__struct_fields__}
    return Header(**fields)


def encode(capture: Capture) -> bytes:
    """The file's bytes, with a fresh checksum."""
    header = _header_only(capture)
    header = msgspec.structs.replace(header, sha256=checksum(header, capture.items))
    head = msgspec.json.encode(header)
    lines = [msgspec.json.encode(item) for item in capture.items]
    return head[:-1] + _ITEMS_OPEN + b"\n" + b",\n".join(lines) + (b"\n" if lines else b"") + b"]}\n"


def decode_header(first_line: bytes, where: str) -> Header | None:
    """The header from a file's first line, or None when the line is not in crosswatch's layout."""
    line = first_line.rstrip(b"\r\n")
    if not line.endswith(_ITEMS_OPEN):
        return None
    try:
        return _checked(msgspec.json.decode(line[: -len(_ITEMS_OPEN)] + b"}", type=Header), where)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def decode(data: bytes, where: str) -> Capture:
    """A whole capture, checked: kind, format version and checksum."""
    try:
        capture = msgspec.json.decode(data, type=Capture)
    except msgspec.ValidationError as exc:
        raise CaptureError(f"{where}: not a capture crosswatch can read ({exc})") from None
    except msgspec.DecodeError as exc:
        raise CaptureError(f"{where}: damaged or truncated capture file ({exc})") from None
    _checked(capture, where)
    if capture.sha256 != checksum(capture, capture.items):
        raise CaptureError(f"{where}: checksum mismatch: the file was changed after it was written; refusing it")
    return capture


def _checked(header: Header, where: str) -> Header:
    if header.kind != KIND:
        raise CaptureError(f"{where}: not a crosswatch capture (kind {header.kind!r})")
    if header.format > FORMAT:
        raise CaptureError(
            f"{where}: capture format {header.format} is newer than this crosswatch reads ({FORMAT}): upgrade"
        )
    if header.format < 1:
        raise CaptureError(f"{where}: unknown capture format {header.format}")
    return header
