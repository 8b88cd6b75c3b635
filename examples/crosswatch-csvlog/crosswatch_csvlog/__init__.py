"""crosswatch-csvlog: an example provider plugin that keeps watch state in CSV files.

Provider ``CSVLOG`` keeps a watchlist, ratings and history (one line per play) in
``watchlist.csv``, ``ratings.csv`` and ``history.csv``, in the folder its config section
names (relative to the config directory)::

    [csvlog]
    folder = "csvlog"

    [csvlog.profiles.backup]      # a second profile, "csvlog.backup" in pairs
    folder = "csvlog-backup"

This file is the whole plugin. Install the package (entry point ``csvlog`` in group
``crosswatch``), or copy this file alone to ``<config dir>/plugins.d/csvlog.py``. It imports
only crosswatch's public modules (``crosswatch.PUBLIC_MODULES``).
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import msgspec

from crosswatch import hookimpl
from crosswatch.config import ConfigSection
from crosswatch.errors import ProviderError
from crosswatch.model import Feature, Item, MediaType, epoch_seconds, match_keys
from crosswatch.provider import FeatureSupport, ProviderContext, ProviderSpec, WriteResult, file_prefix
from crosswatch.state import atomic_write_bytes
from crosswatch.unresolved import UnresolvedStore

#: the major version of crosswatch's plugin contract this file is written for
CROSSWATCH_CONTRACT = 1

PROVIDER_ID = "CSVLOG"
SECTION = "csvlog"


class CsvlogSettings(msgspec.Struct, kw_only=True, frozen=True):
    """The ``[csvlog]`` section, and each ``[csvlog.profiles.NAME]``."""

    folder: str = "csvlog"  # a relative folder is taken from the config directory


FEATURES = {
    Feature.WATCHLIST: FeatureSupport(),
    Feature.RATINGS: FeatureSupport(),
    Feature.HISTORY: FeatureSupport(),
}

# -- the files: one line per item, a header first -----------------------------------------

IDS = ("imdb", "tmdb", "tvdb", "trakt")  # the strong ids: titles match on these only
TITLE_COLUMNS = [
    "type", "title", "year", *IDS,
    "show_title", *(f"show_{name}" for name in IDS), "season", "episode",
]  # fmt: skip
OWN_COLUMNS = {
    Feature.WATCHLIST: ["listed_at"],
    Feature.RATINGS: ["rating", "rated_at"],
    Feature.HISTORY: ["watched_at"],
}


def columns(feature: Feature) -> list[str]:
    return OWN_COLUMNS[feature] + TITLE_COLUMNS


def to_row(item: Item, feature: Feature) -> list[str]:
    values: dict[str, object] = {
        "type": item.type.value,
        "title": item.title,
        "year": item.year,
        "show_title": item.show_title,
        "season": item.season,
        "episode": item.episode,
        "listed_at": item.listed_at,
        "rating": item.rating,
        "rated_at": item.rated_at,
        "watched_at": item.watched_at,
    }
    values |= {name: item.ids.get(name) for name in IDS}
    values |= {f"show_{name}": item.show_ids.get(name) for name in IDS}
    return ["" if values[c] is None else str(values[c]) for c in columns(feature)]


def from_row(row: dict[str, str], feature: Feature) -> Item:
    """The Item of one line; ValueError saying which field is wrong."""

    def number(name: str, low: int = 0, high: int = 99_999) -> int | None:
        text = row[name].strip()
        if not text:
            return None
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise ValueError(f"{name}: not a whole number from {low} to {high}: {text!r}")
        return int(text)

    def stamp(name: str) -> str | None:
        text = row[name].strip()
        if text and epoch_seconds(text) is None:
            raise ValueError(f"{name}: not an ISO 8601 time: {text!r}")
        return text or None

    kinds = [m.value for m in MediaType]
    if row["type"] not in kinds:
        raise ValueError(f"type: {row['type']!r} is none of {', '.join(kinds)}")
    item = Item(
        type=MediaType(row["type"]),
        title=row["title"] or None,
        year=number("year", 1, 9999),
        ids={name: row[name] for name in IDS if row[name]},
        show_title=row["show_title"] or None,
        show_ids={name: row[f"show_{name}"] for name in IDS if row[f"show_{name}"]},
        season=number("season"),
        episode=number("episode"),
    )
    if feature == Feature.WATCHLIST:
        return msgspec.structs.replace(item, listed_at=stamp("listed_at"))
    if feature == Feature.RATINGS:
        return msgspec.structs.replace(item, rating=number("rating", 1, 10), rated_at=stamp("rated_at"))
    return msgspec.structs.replace(item, watched_at=stamp("watched_at"))


def load(path: Path, feature: Feature) -> list[Item]:
    """Every item in ``path`` (none when it does not exist yet); ProviderError at the first bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except UnicodeDecodeError as exc:
        raise ProviderError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    wanted = columns(feature)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    items: list[Item] = []
    try:
        header = next(reader, None)
        if header is not None and header != wanted:
            raise ProviderError(f"{path}:1: the header must be {','.join(wanted)}")
        for row in reader:
            if not row:  # a blank line
                continue
            where = f"{path}:{reader.line_num}"
            if len(row) != len(wanted):
                raise ProviderError(f"{where}: {len(row)} fields, {len(wanted)} expected")
            try:
                items.append(from_row(dict(zip(wanted, row, strict=True)), feature))
            except ValueError as exc:
                raise ProviderError(f"{where}: {exc}") from None
    except csv.Error as exc:
        raise ProviderError(f"{path}:{reader.line_num}: {exc}") from None
    return items


def save(path: Path, feature: Feature, items: Sequence[Item]) -> None:
    """Write ``path`` atomically: a temp file beside it, fsynced, renamed over it, the folder fsynced."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns(feature))
    writer.writerows(to_row(item, feature) for item in items)
    data = out.getvalue().encode("utf-8")
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == data:
            return  # nothing changed: the file (and its mtime) stays as it was
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    atomic_write_bytes(path, data, mode=mode)  # temp file, fsync, rename, folder fsync


# -- the provider --------------------------------------------------------------------------

NO_ID = "no strong id (imdb, tmdb, tvdb or trakt): a CSV line could never be matched again"
NO_TIME = "a play without watched_at: a CSV line could not tell it from another play"


def same(a: Item, b: Item, feature: Feature) -> bool:
    """One title (a strong id in common); in history, one play (the same time too)."""
    if not set(match_keys(a)) & set(match_keys(b)):
        return False
    return feature != Feature.HISTORY or epoch_seconds(a.watched_at) == epoch_seconds(b.watched_at)


def upsert(held: list[Item], item: Item, feature: Feature) -> list[Item]:
    """``held`` with ``item`` in place of what it matches (at the first one's line), else at the end."""
    out: list[Item] = []
    placed = False
    for old in held:
        if not same(old, item, feature):
            out.append(old)
        elif not placed:
            out.append(item)
            placed = True
    return out if placed else [*out, item]


def drop(held: list[Item], item: Item, feature: Feature) -> list[Item]:
    """``held`` without ``item``: every line of the title, or in history the one play."""
    if feature != Feature.HISTORY:
        return [old for old in held if not same(old, item, feature)]
    for n, old in enumerate(held):
        if same(old, item, feature):
            return held[:n] + held[n + 1 :]
    return held


class CsvlogProvider:
    """One CSVLOG profile: three CSV files in one folder."""

    def __init__(self, ctx: ProviderContext[CsvlogSettings]) -> None:
        self.id = ctx.provider_id
        self.profile = ctx.profile
        self.folder = ctx.config_dir / Path(ctx.settings.folder).expanduser()  # an absolute folder stays as it is
        self.state = ctx.state
        # file_prefix: the name core reads this profile's unresolved files under
        self.prefix = file_prefix(ctx.provider_id, ctx.profile)
        self.unresolved = UnresolvedStore(ctx.state, self.prefix)

    def path(self, feature: Feature) -> Path:
        if feature not in FEATURES:
            raise ProviderError(f"{self.id} keeps no {feature} (only {', '.join(FEATURES)})")
        return self.folder / f"{Feature(feature).value}.csv"

    async def read(self, feature: Feature) -> list[Item]:
        return await anyio.to_thread.run_sync(load, self.path(feature), Feature(feature))

    async def add(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        return await anyio.to_thread.run_sync(self._write, Feature(feature), items, upsert)

    async def remove(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        return await anyio.to_thread.run_sync(self._write, Feature(feature), items, drop)

    async def aclose(self) -> None:
        pass  # no connection to close

    def _write(
        self, feature: Feature, items: Sequence[Item], change: Callable[[list[Item], Item, Feature], list[Item]]
    ) -> WriteResult:
        path = self.path(feature)
        todo, frozen = self.unresolved.split(feature.value, items)
        result = WriteResult(frozen=frozen)
        for item in todo:
            if next(match_keys(item), None) is None:
                result.unresolved.append((item, NO_ID))
            elif feature == Feature.HISTORY and epoch_seconds(item.watched_at) is None:
                result.unresolved.append((item, NO_TIME))
            else:
                result.ok.append(item)
        if result.ok:
            # read, change and write under one lock: another job may write this profile at once
            with self.state.lock(f"{self.prefix}_{feature.value}.csv"):
                held = load(path, feature)
                for item in result.ok:
                    held = change(held, item, feature)
                save(path, feature, held)
        self.unresolved.freeze(feature.value, result.unresolved)
        return result


# -- the hooks -----------------------------------------------------------------------------


@hookimpl
def crosswatch_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ProviderSpec(PROVIDER_ID, CsvlogProvider, FEATURES, title="CSV log", config_section=SECTION))


@hookimpl
def crosswatch_config_sections() -> list[ConfigSection]:
    return [ConfigSection(SECTION, CsvlogSettings)]
