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

from crosswatch.errors import CrosswatchError
from crosswatch.model import Item

KIND = "crosswatch.capture"
FORMAT = 1
ALL = "all"
_ITEMS_OPEN = b',"items":['


class CaptureError(CrosswatchError):
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


_ENCODER = msgspec.json.Encoder()
_ITEMS = msgspec.json.Decoder(list[Item])


def stats_of(items: list[Item], without_date: int = 0) -> Stats:
    return Stats(count=len(items), by_type=dict(Counter(str(i.type) for i in items)), without_date=without_date)


def header_of(capture: Header) -> Header:
    """Just the header of a capture (its items left behind)."""
    if type(capture) is Header:
        return capture
    fields = {f: getattr(capture, f) for f in Header.__struct_fields__}
    return Header(**fields)


def _digest(header: Header, lines: list[bytes]) -> str:
    """sha256 of the header (without its own sha256) and the items array, ``[line,line,...]``."""
    digest = hashlib.sha256(_ENCODER.encode(msgspec.structs.replace(header_of(header), sha256="")))
    digest.update(b"[")
    digest.update(b",".join(lines))
    digest.update(b"]")
    return digest.hexdigest()


def checksum(header: Header, items: list[Item]) -> str:
    return _digest(header, [_ENCODER.encode(item) for item in items])


def encode(capture: Capture) -> tuple[bytes, Header]:
    """The file's bytes and its header, with a fresh checksum (items are encoded once)."""
    lines = [_ENCODER.encode(item) for item in capture.items]
    header = header_of(capture)
    header = msgspec.structs.replace(header, sha256=_digest(header, lines))
    head = _ENCODER.encode(header)
    body = head[:-1] + _ITEMS_OPEN + b"\n" + b",\n".join(lines) + (b"\n" if lines else b"") + b"]}\n"
    return body, header


def decode_header(first_line: bytes, where: str) -> Header | None:
    """The header from a file's first line, or None when the line is not in crosswatch's layout."""
    line = first_line.rstrip(b"\r\n")
    if not line.endswith(_ITEMS_OPEN):
        return None
    try:
        return _checked(msgspec.json.decode(line[: -len(_ITEMS_OPEN)] + b"}", type=Header), where)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None


def split_lines(data: bytes) -> tuple[bytes, list[bytes]] | None:
    """A file in crosswatch's layout as (first line, item lines); None for any other layout."""
    first, sep, rest = data.partition(b"\n")
    if not sep or not first.endswith(_ITEMS_OPEN) or not rest.endswith(b"]}\n"):
        return None
    body = rest[: -len(b"]}\n")]
    if not body:
        return first, []
    if not body.endswith(b"\n"):
        return None
    return first, body[:-1].split(b",\n")


def decode_lines(data: bytes, where: str) -> tuple[Header, list[bytes]] | None:
    """Header and raw item lines, checked by checksum without decoding an item; None if not our layout.

    A line may hold ``,\n`` only inside a string, where JSON never has a raw newline; the
    checksum proves the split (a wrong split cannot hash to the written sum).
    """
    parts = split_lines(data)
    if parts is None:
        return None
    header = decode_header(parts[0], where)
    if header is None or header.sha256 != _digest(header, parts[1]):
        return None
    return header, parts[1]


def items_of(lines: list[bytes], where: str) -> list[Item]:
    """Decode item lines (already checked by :func:`decode_lines`)."""
    try:
        return _ITEMS.decode(b"[" + b",".join(lines) + b"]")
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise CaptureError(f"{where}: not a capture crosswatch can read ({exc})") from None


def decode(data: bytes, where: str) -> Capture:
    """A whole capture, checked: kind, format version and checksum."""
    fast = decode_lines(data, where)
    if fast is not None:
        header, lines = fast
        fields = {f: getattr(header, f) for f in Header.__struct_fields__}
        return Capture(**fields, items=items_of(lines, where))
    try:
        capture = msgspec.json.decode(data, type=Capture)
    except (msgspec.ValidationError, RecursionError) as exc:  # nested deeper than any capture
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
