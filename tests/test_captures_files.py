"""Capture files and the captures issue's "Bad input": what a person notices on disk and on screen.

Labels that try to be paths, files truncated or edited by hand, a newer format, another
provider's capture, two captures in one second (and two writers at once), a disk that fills
mid-write, a capture deleted while a restore reads it, deletes outside ``snapshots/``,
listings of many files with garbage among them; then the restore plan and compare rules.

Providers ``MEMO`` (keeps a play's ``watched_at``, like Trakt) and ``MEMP`` (records a written
play at "now", like Plex) come from a drop-in file in ``<config dir>/plugins.d/``, the way a
third party adds one; they keep their items in a JSON state file, so every instance of a
profile sees the same account.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

import crosswatch.captures.create as create_module
import crosswatch.captures.store as store_module
from crosswatch.captures.compare import compare_captures
from crosswatch.captures.create import create_capture
from crosswatch.captures.format import Capture, CaptureError, encode, stats_of
from crosswatch.captures.plan import plan_restore
from crosswatch.captures.restore import restore_capture
from crosswatch.captures.store import CaptureStore, iso
from crosswatch.cli import main
from crosswatch.config import load_config
from crosswatch.jobs import JobContext
from crosswatch.model import Feature, Item, MediaType
from crosswatch.plugins import PluginHost
from crosswatch.provider import FeatureSupport
from crosswatch.state import StateDir

MEMORY_DROPIN = textwrap.dedent(
    '''\
    """Test providers MEMO (keeps watched_at) and MEMP (records "now"), held in a JSON state file."""

    from __future__ import annotations

    import anyio
    import msgspec

    from crosswatch import hookimpl
    from crosswatch.config import ConfigSection
    from crosswatch.model import Feature, Item, item_key
    from crosswatch.provider import FeatureSupport, ProviderSpec, WriteResult

    NOW = "2030-01-01T00:00:00Z"  # the time MEMP records for a written play
    ON_READ = []  # callables(provider_id, feature) run inside read(): a test acts mid-restore


    class Settings(msgspec.Struct, kw_only=True, frozen=True):
        note: str = ""


    FEATURES = {
        "MEMO": {
            Feature.WATCHLIST: FeatureSupport(),
            Feature.RATINGS: FeatureSupport(),
            Feature.HISTORY: FeatureSupport(),
        },
        "MEMP": {
            Feature.WATCHLIST: FeatureSupport(),
            Feature.RATINGS: FeatureSupport(),
            Feature.HISTORY: FeatureSupport(keeps_watched_at=False, note="plays are recorded at now"),
        },
    }


    def title_key(item):
        return item_key(msgspec.structs.replace(item, watched_at=None))


    class Memory:
        def __init__(self, ctx):
            self.id, self.profile, self.state = ctx.provider_id, ctx.profile, ctx.state
            self.file = f"memory-{self.id.lower()}-{self.profile}.json"

        def _all(self):
            return self.state.read_json(self.file, default={}, type=dict[str, list[Item]])

        def _save(self, feature, items):
            data = self._all()
            data[str(feature)] = items
            self.state.write_json(self.file, data)

        async def read(self, feature):
            await anyio.sleep(0)
            for hook in ON_READ:
                hook(self.id, feature)
            return list(self._all().get(str(feature), []))

        async def add(self, feature, items):
            await anyio.sleep(0)
            held = list(self._all().get(str(feature), []))
            for item in items:
                if feature == Feature.HISTORY:
                    if not FEATURES[self.id][Feature.HISTORY].keeps_watched_at:
                        item = msgspec.structs.replace(item, watched_at=NOW)
                    held.append(item)
                else:
                    held = [h for h in held if title_key(h) != title_key(item)] + [item]
            self._save(feature, held)
            return WriteResult(ok=list(items))

        async def remove(self, feature, items):
            await anyio.sleep(0)
            gone = {item_key(i) for i in items}
            self._save(feature, [h for h in self._all().get(str(feature), []) if item_key(h) not in gone])
            return WriteResult(ok=list(items))

        async def aclose(self):
            pass


    @hookimpl
    def crosswatch_register_providers(register):
        for provider_id, features in FEATURES.items():
            register(ProviderSpec(provider_id, Memory, features, title=provider_id.title()))


    @hookimpl
    def crosswatch_config_sections():
        return [ConfigSection("memo", Settings), ConfigSection("memp", Settings)]
    '''
)

CREATED = datetime(2026, 1, 27, 19, 12, 45, tzinfo=UTC)
DAY = "2026-01-27"


# -- helpers ---------------------------------------------------------------------------


def movie(imdb: str, **kw: Any) -> Item:
    return Item(type=MediaType.MOVIE, ids={"imdb": imdb}, **kw)


def episode(show: str, season: int, number: int, **kw: Any) -> Item:
    return Item(type=MediaType.EPISODE, show_ids={"tvdb": show}, season=season, episode=number, **kw)


def capture(provider: str, feature: str, items: list[Item], *, label: str = "", profile: str = "default") -> Capture:
    return Capture(
        provider=provider,
        profile=profile,
        feature=feature,
        created=iso(CREATED),
        label=label,
        stats=stats_of(items),
        items=items,
    )


@pytest.fixture
def config_dir(tmp_path: Path) -> Iterator[Path]:
    """A config dir whose ``plugins.d/`` holds the MEMO/MEMP drop-in; its modules are forgotten after."""
    folder = tmp_path / "config"
    (folder / "plugins.d").mkdir(parents=True)
    (folder / "plugins.d" / "memory.py").write_text(MEMORY_DROPIN, encoding="utf-8")
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if name.startswith("crosswatch_dropin_"):
            del sys.modules[name]


def context(config_dir: Path) -> JobContext:
    host = PluginHost(config_dir)
    host.load()
    assert host.plugins["memory"].status == "loaded", host.plugins["memory"].error
    return JobContext(load_config(config_dir, host.sections()), host)


def dropin(ctx: JobContext) -> Any:
    """The drop-in module this context's host loaded (for its ``ON_READ`` list)."""
    return ctx.host.pm.get_plugin("memory")


def account_file(provider: str, profile: str = "default") -> str:
    return f"memory-{provider.lower()}-{profile}.json"


def seed(config_dir: Path, provider: str, feature: str, items: list[Item], profile: str = "default") -> None:
    state = StateDir(config_dir)
    name = account_file(provider, profile)
    data = state.read_json(name, default={}, type=dict[str, list[Item]])
    data[feature] = items
    state.write_json(name, data)


def held(config_dir: Path, provider: str, feature: str, profile: str = "default") -> list[Item]:
    data = StateDir(config_dir).read_json(account_file(provider, profile), default={}, type=dict[str, list[Item]])
    return data.get(feature, [])


def account_bytes(config_dir: Path, provider: str, profile: str = "default") -> bytes | None:
    path = StateDir(config_dir).file(account_file(provider, profile))
    return path.read_bytes() if path.exists() else None


def cli(config_dir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config-dir", str(config_dir), *args])
    out, err = capsys.readouterr()
    return code, out, err


async def acli(config_dir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``cli`` from async code: the command runs its own event loop, so in a worker thread."""
    return await anyio.to_thread.run_sync(lambda: cli(config_dir, capsys, *args))


def snapshot_files(config_dir: Path) -> list[Path]:
    """Every file under ``snapshots/``, hidden temp files included."""
    root = config_dir / "snapshots"
    return sorted(p for p in root.rglob("*") if not p.is_dir()) if root.exists() else []


# -- labels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("before\x00cleanup", "control characters"),
        ("before\ncleanup", "control characters"),
        ("x" * 300, "300 characters long; at most 120"),
    ],
    ids=["nul", "newline", "300-chars"],
)
def test_label_with_nul_newline_or_300_characters_is_refused_and_nothing_is_written(
    config_dir: Path, capsys: pytest.CaptureFixture[str], label: str, reason: str
) -> None:
    seed(config_dir, "MEMO", "watchlist", [movie("tt0111161")])
    code, out, err = cli(
        config_dir, capsys, "capture", "create", "--provider", "memo", "--feature", "all", "--label", label
    )
    assert code == 1
    assert "label" in err and reason in err
    assert "Traceback" not in err and out == ""
    assert snapshot_files(config_dir) == []


@pytest.mark.parametrize(
    "label",
    [
        "../../../etc/passwd",
        "before/after",
        "..",
        "/",
        "/abs/path",
        "..\\..\\windows",
        ".hidden",
        "café ☕ avant/après",
        "a" * 120,
        "-- ../ .. --",
    ],
)
@pytest.mark.anyio
async def test_odd_labels_never_become_a_path_and_stay_whole_in_the_header(config_dir: Path, label: str) -> None:
    seed(config_dir, "MEMO", "ratings", [movie("tt0111161", rating=9)])
    ctx = context(config_dir)
    [ref] = await create_capture(ctx, "memo", "ratings", label=label)

    day = ctx.store.root / ref.header.created[:10]  # type: ignore[union-attr]
    assert ref.path.parent == day
    assert ref.path.resolve().parent == day.resolve()
    assert not ref.path.name.startswith(".")  # a hidden name would vanish from the listing
    assert ref.path.name.endswith(".json") and "/" not in ref.rel.split("/", 1)[1]
    assert ref.path.name.removesuffix(".json").split("__")[1:3] == ["MEMO", "ratings"]
    assert [p.name for p in snapshot_files(config_dir)] == [ref.path.name]

    [listed] = ctx.store.refs()
    assert listed.path == ref.path and listed.header is not None
    assert listed.header.label == label
    assert ctx.store.load(ref.path).label == label


# -- damaged, hand-edited, newer and foreign files -------------------------------------------


def _truncate(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def _edit_rating(data: bytes) -> bytes:
    assert data.count(b'"rating":7') == 1
    return data.replace(b'"rating":7', b'"rating":9')


def _edit_provider(data: bytes) -> bytes:
    assert data.count(b'"provider":"MEMO"') == 1
    return data.replace(b'"provider":"MEMO"', b'"provider":"MEMP"')


def _newer_format(data: bytes) -> bytes:
    assert data.count(b'"format":1,') == 1
    return data.replace(b'"format":1,', b'"format":2,').replace(b'"items":[', b'"shelves":{},"items":[', 1)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_truncate, "damaged or truncated"),
        (_edit_rating, "checksum mismatch"),
        (_edit_provider, "checksum mismatch"),
        (_newer_format, "capture format 2 is newer than this crosswatch reads (1): upgrade"),
    ],
    ids=["truncated", "rating-edited", "provider-edited", "future-format"],
)
@pytest.mark.anyio
async def test_damaged_or_edited_capture_is_refused_naming_the_file_and_left_unchanged(
    config_dir: Path, capsys: pytest.CaptureFixture[str], damage: Any, reason: str
) -> None:
    ratings = [movie(f"tt{n:07d}", title=f"Film {n}", rating=8) for n in range(30)]
    ratings[12] = movie("tt0000012", title="Film 12", rating=7)
    seed(config_dir, "MEMO", "ratings", [movie("tt0000001", rating=3)])
    seed(config_dir, "MEMP", "ratings", [movie("tt0000002", rating=4)])
    ref = CaptureStore(config_dir).write(capture("MEMO", "ratings", ratings), CREATED)
    ref.path.write_bytes(damage(ref.path.read_bytes()))
    on_disk = ref.path.read_bytes()
    accounts = account_bytes(config_dir, "MEMO"), account_bytes(config_dir, "MEMP")

    ctx = context(config_dir)
    with pytest.raises(CaptureError) as refused:
        await restore_capture(ctx, ref.rel, "merge", confirm=lambda _: True)
    assert str(refused.value).startswith(f"{ref.rel}: ")
    assert reason in str(refused.value)
    with pytest.raises(CaptureError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        await restore_capture(ctx, ref.rel, "clear", confirm=lambda _: True)

    for args in (
        ("capture", "restore", ref.rel, "--mode", "merge", "--dry-run"),
        ("capture", "restore", ref.path.name, "--mode", "clear", "--dry-run"),
        ("capture", "show", ref.rel, "--items"),
    ):
        code, out, err = await acli(config_dir, capsys, *args)
        assert code == 1, args
        assert f"crosswatch: {ref.rel}: " in err and reason in err, err
        assert "Traceback" not in err and "restore " not in out

    assert ref.path.read_bytes() == on_disk  # the file is kept as it was, for a person to look at
    assert (account_bytes(config_dir, "MEMO"), account_bytes(config_dir, "MEMP")) == accounts
    assert [p.name for p in snapshot_files(config_dir)] == [ref.path.name]  # no safety capture either


@pytest.mark.anyio
async def test_capture_of_another_provider_is_refused_and_nothing_is_written(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = CaptureStore(config_dir)
    ref = store.write(capture("MEMO", "ratings", [movie("tt0111161", rating=9)]), CREATED)
    foreign = store.write(capture("KODI", "ratings", [movie("tt0068646", rating=10)]), CREATED)
    seed(config_dir, "MEMP", "ratings", [movie("tt0000002", rating=4)])
    files = {p: p.read_bytes() for p in snapshot_files(config_dir)}
    accounts = account_bytes(config_dir, "MEMO"), account_bytes(config_dir, "MEMP")
    ctx = context(config_dir)

    for into in ("memp", "MEMP", "memp.default"):
        try:
            report = await restore_capture(ctx, ref.rel, "clear", provider=into, confirm=lambda _: True)
        except CaptureError as refused:
            assert str(refused) == f"{ref.rel} is a capture of MEMO; it cannot be restored into MEMP"
        else:
            pytest.fail(
                f"--provider {into}: the MEMO capture was not refused but {report.mode}-restored into "
                f"{report.provider} (applied={report.applied})"
            )

    code, out, err = await acli(
        config_dir, capsys, "capture", "restore", ref.rel, "--mode", "merge", "--provider", "memp", "--dry-run"
    )
    assert code == 1 and f"{ref.rel} is a capture of MEMO; it cannot be restored into MEMP" in err
    assert "restore " not in out

    # a capture of a provider that is not installed: refused, naming the file and the provider
    with pytest.raises(CaptureError) as missing:
        await restore_capture(ctx, foreign.rel, "merge", confirm=lambda _: True)
    assert str(missing.value).startswith(f"{foreign.rel}: no provider KODI")
    code, out, err = await acli(config_dir, capsys, "capture", "restore", foreign.rel, "--mode", "merge", "--dry-run")
    assert code == 1 and f"{foreign.rel}: no provider KODI" in err and "Traceback" not in err

    assert {p: p.read_bytes() for p in snapshot_files(config_dir)} == files
    assert (account_bytes(config_dir, "MEMO"), account_bytes(config_dir, "MEMP")) == accounts


@pytest.mark.anyio
async def test_restore_into_another_profile_named_in_provider_is_not_written_into_the_captures_profile(
    config_dir: Path,
) -> None:
    """``--provider memo.kids`` (the form every capture command takes) must not write into MEMO default."""
    (config_dir / "config.toml").write_text('[memo]\nnote = "grown-ups"\n[memo.profiles.kids]\nnote = "kids"\n')
    seed(config_dir, "MEMO", "watchlist", [movie("tt0111161", title="The Shawshank Redemption")])
    seed(config_dir, "MEMO", "watchlist", [], profile="kids")
    ref = CaptureStore(config_dir).write(capture("MEMO", "watchlist", [movie("tt0266543", title="Nemo")]), CREATED)
    ctx = context(config_dir)

    try:
        report = await restore_capture(ctx, ref.rel, "clear", provider="memo.kids", confirm=lambda _: True)
    except CaptureError:
        report = None  # refusing is fine too
    if report is not None:
        assert report.profile == "kids", f"asked for memo.kids, {report.mode}-restored into {report.profile}"
    assert [i.title for i in held(config_dir, "MEMO", "watchlist")] == ["The Shawshank Redemption"]


# -- two captures in one second ------------------------------------------------------------


def test_two_captures_in_the_same_second_are_both_kept_under_distinct_names(config_dir: Path) -> None:
    store = CaptureStore(config_dir)
    one = store.write(capture("MEMO", "ratings", [movie("tt0111161", rating=9)], label="x"), CREATED)
    two = store.write(capture("MEMO", "ratings", [movie("tt0068646", rating=10)], label="x"), CREATED)
    three = store.write(capture("MEMO", "ratings", [], label="x"), CREATED)

    assert one.rel == f"{DAY}/2026-01-27T19-12-45Z__MEMO__ratings__x.json"
    assert two.rel == f"{DAY}/2026-01-27T19-12-45Z-2__MEMO__ratings__x.json"
    assert three.rel == f"{DAY}/2026-01-27T19-12-45Z-3__MEMO__ratings__x.json"
    assert [i.ids["imdb"] for i in store.load(one.path).items] == ["tt0111161"]
    assert [i.ids["imdb"] for i in store.load(two.path).items] == ["tt0068646"]
    assert store.load(three.path).items == []
    assert {r.rel for r in store.refs()} == {one.rel, two.rel, three.rel}
    assert all(r.header is not None for r in store.refs())


def test_captures_of_one_second_are_listed_in_the_order_they_were_made(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = CaptureStore(config_dir)
    made = [store.write(capture("MEMO", "ratings", [movie(f"tt{n:07d}", rating=n)]), CREATED).rel for n in (1, 2)]
    assert [r.rel for r in store.refs()] == made, "list() is documented as oldest first"
    code, out, _ = cli(config_dir, capsys, "capture", "list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[:2]] == made[::-1], "capture list shows newest first"


@pytest.mark.anyio
async def test_two_bundles_created_in_the_same_second_each_keep_their_own_children(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(create_module, "now", lambda: CREATED)
    ctx = context(config_dir)
    seed(config_dir, "MEMO", "ratings", [movie("tt0111161", rating=9)])
    first = await create_capture(ctx, "memo", "all", label="nightly")
    seed(config_dir, "MEMO", "ratings", [movie("tt0111161", rating=4)])
    second = await create_capture(ctx, "memo", "all", label="nightly")

    names = [r.path.name for r in first + second]
    assert len(set(names)) == 8  # a bundle and three children, twice
    assert first[0].path.name == "2026-01-27T19-12-45Z__MEMO__all__nightly.json"
    assert second[0].path.name == "2026-01-27T19-12-45Z-2__MEMO__all__nightly.json"
    assert len(snapshot_files(config_dir)) == 8
    for bundle, rating in ((first[0], 9), (second[0], 4)):
        assert bundle.header is not None
        child = next(c for c in bundle.header.children if c.feature == "ratings")
        assert [i.rating for i in ctx.store.load(ctx.store.root / child.path).items] == [rating]
        plan = await restore_capture(ctx, bundle.rel, "merge", dry_run=True)
        assert [f.plan.feature for f in plan.features] == ["watchlist", "ratings", "history"]


def test_concurrent_writers_of_one_name_each_get_their_own_complete_file(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads of one process (the daemon writes through worker threads) write the same name at once."""
    store = CaptureStore(config_dir)
    captures = [
        capture("MEMO", "ratings", [movie(f"tt{n:07d}", rating=8) for n in range(200)], label="nightly"),
        capture("MEMO", "ratings", [movie("tt9999999", rating=1)], label="nightly"),
    ]
    meet, met = threading.Barrier(len(captures), timeout=3), threading.Event()
    fsync = os.fsync

    def fsync_together(fd: int) -> None:  # both writers reach their file's fsync before either goes on
        if not met.is_set():
            with contextlib.suppress(threading.BrokenBarrierError):  # writers that never overlap: no meeting
                meet.wait()
            met.set()
        fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_together)
    results: dict[int, Any] = {}

    def write(n: int) -> None:
        try:
            results[n] = store.write(captures[n], CREATED)
        except Exception as exc:  # reported by the assertion below
            results[n] = exc

    threads = [threading.Thread(target=write, args=(n,)) for n in range(len(captures))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    monkeypatch.undo()

    failures = {n: r for n, r in results.items() if isinstance(r, Exception)}
    assert not failures, f"a concurrent writer lost its capture: {failures}"
    paths = {n: results[n].path for n in results}
    assert len(set(paths.values())) == 2
    for n, path in paths.items():
        assert store.load(path).items == captures[n].items
    assert not [p for p in snapshot_files(config_dir) if p.name.endswith(".tmp")]


def test_concurrent_writers_of_different_captures_all_land(config_dir: Path) -> None:
    """Many threads, different providers' features at one second: every file complete, none lost."""
    store = CaptureStore(config_dir)
    wanted = [
        capture("MEMO", f, [movie(f"tt{n:07d}", rating=n % 10 + 1)], label=f"w{n}")
        for n, f in enumerate(["watchlist", "ratings", "history"] * 4)
    ]
    results: list[Any] = [None] * len(wanted)

    def write(n: int) -> None:
        try:
            results[n] = store.write(wanted[n], CREATED)
        except Exception as exc:
            results[n] = exc

    threads = [threading.Thread(target=write, args=(n,)) for n in range(len(wanted))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sorted(store.load(r.path).label for r in results) == sorted(c.label for c in wanted)
    assert len(snapshot_files(config_dir)) == len(wanted)


# -- a full disk -----------------------------------------------------------------------------


class _FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, fh: Any, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, data: bytes) -> int:
        self.fh.write(data[: self.room])
        self.fh.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()


def _enospc(*_: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["write", "fsync", "link"])
def test_disk_filling_during_a_write_says_so_and_leaves_no_file(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    store = CaptureStore(config_dir)
    kept = store.write(capture("MEMO", "watchlist", [movie("tt0068646")]), CREATED - timedelta(days=1))
    kept_bytes = kept.path.read_bytes()
    big = capture("MEMO", "ratings", [movie(f"tt{n:07d}", rating=7) for n in range(500)], label="before-cleanup")
    final = store.name_for(big, CREATED)

    if where == "write":
        real_open = open
        monkeypatch.setattr(store_module, "open", lambda *a, **k: _FullDisk(real_open(*a, **k), 4096), raising=False)
    elif where == "fsync":
        monkeypatch.setattr(os, "fsync", _enospc)
    else:
        monkeypatch.setattr(os, "link", _enospc)
    with pytest.raises(CaptureError) as failed:
        store.write(big, CREATED)
    monkeypatch.undo()

    message = str(failed.value)
    assert str(final) in message
    assert "No space left on device (the disk is full); nothing was written" in message
    assert not final.exists()
    assert snapshot_files(config_dir) == [kept.path]  # no temp file, the older capture untouched
    assert kept.path.read_bytes() == kept_bytes
    assert [r.rel for r in store.refs()] == [kept.rel]


def test_a_write_that_fails_after_the_file_is_in_place_does_not_leave_it_behind(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error says "nothing was written": then no capture may appear under the name."""
    store = CaptureStore(config_dir)
    doomed = capture("MEMO", "ratings", [movie("tt0111161", rating=9)])
    monkeypatch.setattr(store_module, "fsync_dir", _enospc)
    with pytest.raises(CaptureError, match="nothing was written"):
        store.write(doomed, CREATED)
    monkeypatch.undo()
    left = [r.rel for r in store.refs()]
    assert left == [], f"the error said nothing was written, yet {left} is listed"


@pytest.mark.anyio
async def test_disk_filling_while_writing_a_bundle_leaves_no_orphan_children(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(config_dir, "MEMO", "watchlist", [movie("tt0111161")])
    seed(config_dir, "MEMO", "ratings", [movie("tt0068646", rating=10)])
    seed(config_dir, "MEMO", "history", [movie("tt0068646", watched_at="2024-01-01T20:00:00Z")])
    ctx = context(config_dir)
    real_open, opened = open, []

    def open_until_full(*args: Any, **kwargs: Any) -> Any:
        opened.append(args[0])
        fh = real_open(*args, **kwargs)
        return _FullDisk(fh, 10) if len(opened) == 3 else fh

    monkeypatch.setattr(store_module, "open", open_until_full, raising=False)
    with pytest.raises(CaptureError, match=r"\(the disk is full\); nothing was written"):
        await create_capture(ctx, "memo", "all", label="before-cleanup")
    monkeypatch.undo()
    assert Path(opened[2]).name.startswith(".")  # the third file (history) hit the full disk
    assert snapshot_files(config_dir) == []
    assert held(config_dir, "MEMO", "ratings") == [movie("tt0068646", rating=10)]


# -- deleting while a restore reads -----------------------------------------------------------


@pytest.mark.anyio
async def test_capture_deleted_while_restore_reads_the_provider_restores_what_it_read(config_dir: Path) -> None:
    captured = [movie("tt0111161", rating=9), movie("tt0068646", rating=10)]
    seed(config_dir, "MEMO", "ratings", [movie("tt0111161", rating=2)])
    ref = CaptureStore(config_dir).write(capture("MEMO", "ratings", captured), CREATED)
    ctx = context(config_dir)
    deleted: list[Path] = []
    dropin(ctx).ON_READ.append(lambda provider, feature: deleted.extend(ctx.store.delete(ref.path)))

    report = await restore_capture(ctx, ref.rel, "merge", confirm=lambda _: True)

    assert deleted == [ref.path] and not ref.path.exists()
    assert report.applied and report.ok
    assert sorted((i.ids["imdb"], i.rating) for i in held(config_dir, "MEMO", "ratings")) == [
        ("tt0068646", 10),
        ("tt0111161", 9),
    ]


@pytest.mark.anyio
async def test_capture_deleted_between_finding_and_reading_it_fails_clearly(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(config_dir, "MEMO", "ratings", [movie("tt0111161", rating=2)])
    ref = CaptureStore(config_dir).write(capture("MEMO", "ratings", [movie("tt0111161", rating=9)]), CREATED)
    ctx = context(config_dir)
    before = account_bytes(config_dir, "MEMO")
    find = CaptureStore.find

    def find_then_lose(self: CaptureStore, name: str) -> Path:
        path = find(self, name)
        self.delete(path)  # another process deletes it just now
        return path

    monkeypatch.setattr(CaptureStore, "find", find_then_lose)
    with pytest.raises(CaptureError) as failed:
        await restore_capture(ctx, ref.rel, "merge", confirm=lambda _: True)
    assert str(failed.value) == f"{ref.rel}: cannot read (No such file or directory)"
    assert account_bytes(config_dir, "MEMO") == before


@pytest.mark.anyio
async def test_bundle_deleted_while_restore_loads_its_children_fails_clearly(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(config_dir, "MEMO", "ratings", [movie("tt0111161", rating=9)])
    ctx = context(config_dir)
    bundle, *children = await create_capture(ctx, "memo", "all")
    seed(config_dir, "MEMO", "ratings", [])
    before = account_bytes(config_dir, "MEMO")
    load = CaptureStore.load

    def load_then_lose(self: CaptureStore, name: str | Path) -> Capture:
        loaded = load(self, name)
        if loaded.feature == "all":
            self.delete(self.root / bundle.rel)  # the bundle goes, with its children
        return loaded

    monkeypatch.setattr(CaptureStore, "load", load_then_lose)
    with pytest.raises(CaptureError) as failed:
        await restore_capture(ctx, bundle.rel, "clear", confirm=lambda _: True)
    assert str(failed.value) == f"{bundle.rel}: its watchlist capture {children[0].rel} is missing"
    assert account_bytes(config_dir, "MEMO") == before
    assert snapshot_files(config_dir) == []  # and no safety capture was taken for nothing


# -- delete stays inside snapshots/ ---------------------------------------------------------


def test_delete_refuses_every_path_outside_snapshots(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = CaptureStore(config_dir)
    ref = store.write(capture("MEMO", "ratings", [movie("tt0111161", rating=9)]), CREATED)
    config = config_dir / "config.toml"
    config.write_text("# mine\n")
    outside = config_dir.parent / "elsewhere.json"
    outside.write_bytes(ref.path.read_bytes())  # even a real capture, when it is not under snapshots/
    link = ref.path.parent / "2026-01-27T19-12-46Z__MEMO__ratings.json"
    link.symlink_to(outside)

    for path in (config, outside, store.root / ".." / "config.toml", store.root, config_dir, link):
        with pytest.raises(CaptureError, match="crosswatch deletes only its own captures"):
            store.delete(path)
    code, _, err = cli(config_dir, capsys, "capture", "delete", str(config), "--yes")
    assert code == 1 and "crosswatch deletes only its own captures" in err
    code, _, err = cli(config_dir, capsys, "capture", "delete", str(outside), "--yes")
    assert code == 1 and "crosswatch deletes only its own captures" in err

    assert config.read_text() == "# mine\n"
    assert outside.read_bytes() == ref.path.read_bytes()
    assert ref.path.exists() and (config_dir / "plugins.d" / "memory.py").exists()
    assert store.delete(ref.path) == [ref.path]  # its own capture it does delete
    assert outside.exists()


# -- listing ------------------------------------------------------------------------------------


def test_a_thousand_captures_with_garbage_among_them_are_listed(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = CaptureStore(config_dir)
    made = []
    for n in range(1000):
        created = CREATED + timedelta(minutes=n)
        one = capture("MEMO", "ratings", [movie(f"tt{n:07d}", rating=n % 10 + 1)], label=f"n{n}")
        path = store.name_for(one, created)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode(msgspec.structs.replace(one, created=iso(created)))[0])
        made.append(store.rel(path))
    day = store.root / DAY
    (day / "garbage.json").write_bytes(b"\x00\xff not json at all")
    (day / "empty.json").write_bytes(b"")
    (day / "other.json").write_text(
        '{"kind": "something.else", "format": 1, "provider": "MEMO", "feature": "ratings", "created": "x"}\n'
    )
    (day / "gone.json").symlink_to(day / "no-such-target.json")
    (day / "folder.json").mkdir()
    bad = {f"{DAY}/{n}.json" for n in ("garbage", "empty", "other", "gone", "folder")}

    refs = store.refs()
    assert len(refs) == 1005
    assert {r.rel for r in refs if r.header is None} == bad
    assert all(r.error.startswith(r.rel + ": ") for r in refs if r.header is None)
    good = {r.rel: r.header for r in refs if r.header is not None}
    assert set(good) == set(made)
    assert good[made[637]].label == "n637" and good[made[637]].stats.count == 1  # type: ignore[union-attr]

    code, out, err = cli(config_dir, capsys, "capture", "list")
    assert code == 0, err
    unreadable = sorted(line.split()[0] for line in out.splitlines() if "  UNREADABLE: " in line)
    assert unreadable == sorted(bad)
    assert "not a crosswatch capture (kind 'something.else')" in out
    assert out.rstrip().endswith(f"1005 capture(s) in {store.root}")
    code, out, _ = cli(config_dir, capsys, "capture", "list", "--json")
    rows = msgspec.json.decode(out)
    assert code == 0 and len(rows) == 1005
    assert sorted(r["path"] for r in rows if "error" in r) == sorted(bad)


def test_listing_reads_only_the_first_line(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = CaptureStore(config_dir)
    items = [movie(f"tt{n:07d}", rating=7) for n in range(2000)]
    ref = store.write(capture("MEMO", "ratings", items, label="huge"), CREATED)
    first, _, rest = ref.path.read_bytes().partition(b"\n")
    ref.path.write_bytes(first + b"\n" + b"\x00" * len(rest))  # every item line now garbage

    def no_whole_reads(self: Path) -> bytes:
        raise AssertionError(f"listing read all of {self}")

    monkeypatch.setattr(Path, "read_bytes", no_whole_reads)
    [listed] = store.refs()
    monkeypatch.undo()
    assert listed.header is not None and listed.error == ""
    assert (listed.header.label, listed.header.stats.count) == ("huge", 2000)

    with pytest.raises(CaptureError, match=f"^{ref.rel}: damaged or truncated capture file"):
        store.load(ref.path)


# -- restore plans ----------------------------------------------------------------------------


def test_merge_adds_missing_updates_changed_rating_and_counts_unchanged() -> None:
    captured = [movie("tt0111161", rating=9), movie("tt0068646", rating=10), movie("tt0071562", rating=8)]
    current = [movie("tt0111161", rating=9), movie("tt0068646", rating=6), movie("tt0468569", rating=7)]
    plan = plan_restore("MEMO", "default", Feature.RATINGS, captured, current, "merge", FeatureSupport())
    assert plan.add == [movie("tt0071562", rating=8)]
    assert plan.update == [movie("tt0068646", rating=10)]
    assert plan.unchanged == 1
    assert plan.remove == []  # merge never removes what the capture lacks
    assert plan.to_json()["counts"] == {"remove": {}, "add": {"movie": 1}, "update": {"movie": 1}}


def test_clear_removes_everything_present_then_adds_everything_captured() -> None:
    captured = [movie("tt0111161"), episode("81189", 1, 1)]
    current = [movie("tt0111161"), movie("tt0468569")]
    plan = plan_restore("MEMO", "default", Feature.WATCHLIST, captured, current, "clear", FeatureSupport())
    assert plan.remove == current and plan.add == captured and plan.update == []
    assert plan.counts() == {"remove": {"movie": 2}, "add": {"episode": 1, "movie": 1}, "update": {}}


def test_history_that_keeps_watched_at_matches_plays_by_the_second_and_adds_only_missing_ones() -> None:
    captured = [
        movie("tt0111161", watched_at="2024-01-01T20:00:00.000Z"),
        movie("tt0111161", watched_at="2024-02-01T20:00:00.000Z"),
        episode("81189", 1, 1, watched_at="2024-03-01T21:30:15.000Z"),
        episode("81189", 1, 1, watched_at="2024-03-01T21:30:15.000Z"),  # watched twice in that second
    ]
    current = [
        movie("tt0111161", watched_at="2024-01-01T20:00:00Z"),
        episode("81189", 1, 1, watched_at="2024-03-01T21:30:15Z"),
        movie("tt0468569", watched_at="2023-05-05T10:00:00Z"),
    ]
    plan = plan_restore("MEMO", "default", Feature.HISTORY, captured, current, "merge", FeatureSupport())
    assert plan.add == [captured[1], captured[3]]
    assert plan.unchanged == 2 and plan.remove == [] and plan.notes == []

    again = plan_restore("MEMO", "default", Feature.HISTORY, captured, current + plan.add, "merge", FeatureSupport())
    assert again.empty and again.unchanged == 4  # a second restore adds no duplicate


def test_history_where_the_provider_records_now_adds_only_the_missing_play_count_and_says_so() -> None:
    plex = FeatureSupport(keeps_watched_at=False)
    captured = [
        movie("tt0111161", watched_at="2024-01-01T20:00:00Z"),
        movie("tt0111161", watched_at="2024-02-01T20:00:00Z"),
        movie("tt0111161", watched_at="2024-03-01T20:00:00Z"),
        movie("tt0068646", watched_at="2024-01-05T20:00:00Z"),
        movie("tt0071562", watched_at="2024-01-06T20:00:00Z"),
    ]
    current = [
        movie("tt0111161", watched_at="2026-01-27T10:00:00Z"),  # restored earlier: "now", not the captured time
        movie("tt0068646", watched_at="2026-01-27T10:00:00Z"),
        movie("tt0068646", watched_at="2026-01-27T10:05:00Z"),
    ]
    plan = plan_restore("MEMP", "default", Feature.HISTORY, captured, current, "merge", plex)
    assert sorted((i.ids["imdb"], i.watched_at) for i in plan.add) == [
        ("tt0071562", "2024-01-06T20:00:00Z"),
        ("tt0111161", "2024-02-01T20:00:00Z"),
        ("tt0111161", "2024-03-01T20:00:00Z"),
    ]
    assert plan.unchanged == 2
    assert plan.notes == [
        "MEMP records a written play at the time it is written: 3 restored plays get today's date instead of the captured one"
    ]
    assert plan_restore("MEMP", "default", Feature.HISTORY, captured[3:4], current, "merge", plex).empty


def test_titles_without_ids_are_told_apart_even_when_a_title_holds_an_at_sign() -> None:
    """Items without an id are keyed by title; ``Me@Work`` is not ``Me@Home``."""
    home = Item(type=MediaType.MOVIE, title="Me@Home", year=2020, rating=8)
    work = Item(type=MediaType.MOVIE, title="Me@Work", year=2021, rating=8)
    plan = plan_restore("MEMO", "default", Feature.RATINGS, [work], [home], "merge", FeatureSupport())
    assert plan.add == [work], "Me@Work was taken for Me@Home and would never be restored"


@pytest.mark.anyio
async def test_plex_like_restore_written_twice_does_not_duplicate_plays(config_dir: Path) -> None:
    plays = [
        movie("tt0111161", watched_at="2024-01-01T20:00:00Z"),
        movie("tt0111161", watched_at="2024-02-01T20:00:00Z"),
    ]
    ref = CaptureStore(config_dir).write(capture("MEMP", "history", plays), CREATED)
    ctx = context(config_dir)
    first = await restore_capture(ctx, ref.rel, "merge", confirm=lambda _: True)
    assert first.applied and first.features[0].added == {"movie": 2}
    assert "2 restored plays get today's date" in first.features[0].plan.notes[0]
    second = await restore_capture(ctx, ref.rel, "merge", confirm=lambda _: True)
    assert not second.applied and second.features[0].plan.empty
    assert [i.watched_at for i in held(config_dir, "MEMP", "history")] == ["2030-01-01T00:00:00Z"] * 2


# -- compare ------------------------------------------------------------------------------------


def _two(config_dir: Path, provider: str, feature: str, a: list[Item], b: list[Item]) -> tuple[str, str]:
    store = CaptureStore(config_dir)
    one = store.write(capture(provider, feature, a), CREATED)
    two = store.write(capture(provider, feature, b), CREATED + timedelta(hours=1))
    return one.rel, two.rel


def test_compare_history_per_title_as_sets_of_play_times(config_dir: Path) -> None:
    a = [
        movie("tt0111161", watched_at="2024-01-01T20:00:00.000Z"),
        movie("tt0068646", watched_at="2024-01-05T20:00:00Z"),
    ]
    b = [
        movie("tt0111161", watched_at="2024-01-01T20:00:00Z"),  # the same play, other precision
        movie("tt0111161", watched_at="2024-06-01T20:00:00Z"),
    ]
    one, two = _two(config_dir, "MEMO", "history", a, b)
    report = compare_captures(context(config_dir), one, two)
    [diff] = report.features
    assert diff.added == [b[1]] and diff.removed == [a[1]] and diff.updated == []
    assert not report.same


def test_compare_history_of_a_provider_that_records_now_compares_play_counts(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = [movie("tt0111161", watched_at="2024-01-01T20:00:00Z"), movie("tt0068646", watched_at="2024-01-05T20:00:00Z")]
    restored = [  # after a restore into MEMP: same plays, every one dated at the restore
        movie("tt0111161", watched_at="2026-01-27T10:00:00Z"),
        movie("tt0068646", watched_at="2026-01-27T10:00:00Z"),
    ]
    one, two = _two(config_dir, "MEMP", "history", a, restored)
    assert compare_captures(context(config_dir), one, two).same
    code, out, _ = cli(config_dir, capsys, "capture", "compare", one, two)
    assert code == 0 and "no differences" in out

    extra = [*restored, movie("tt0111161", watched_at="2026-01-28T09:00:00Z")]
    store = CaptureStore(config_dir)
    three = store.write(capture("MEMP", "history", extra), CREATED + timedelta(hours=2)).rel
    [diff] = compare_captures(context(config_dir), two, three).features
    assert diff.added == [extra[2]] and diff.removed == []
    [back] = compare_captures(context(config_dir), three, one).features
    assert back.removed == [extra[2]] and back.added == []

    # the same files as MEMO plays (watched_at kept) differ in every play
    memo_one, memo_two = _two(config_dir, "MEMO", "history", a, restored)
    [memo] = compare_captures(context(config_dir), memo_one, memo_two).features
    assert len(memo.added) == 2 and len(memo.removed) == 2


def test_compare_reports_a_changed_rating_with_the_field_change(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = [movie("tt0111161", title="The Shawshank Redemption", rating=7), movie("tt0068646", rating=10)]
    b = [movie("tt0111161", title="The Shawshank Redemption", rating=9), movie("tt0068646", rating=10)]
    one, two = _two(config_dir, "MEMO", "ratings", a, b)
    [diff] = compare_captures(context(config_dir), one, two).features
    assert diff.updated == [(b[0], {"rating": (7, 9)})] and diff.added == [] and diff.removed == []
    code, out, _ = cli(config_dir, capsys, "capture", "compare", one, two)
    assert code == 0
    assert "~ movie The Shawshank Redemption [movie:imdb:tt0111161] rating=9: rating: 7 -> 9" in out


def test_compare_refuses_captures_of_two_providers(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = CaptureStore(config_dir)
    one = store.write(capture("MEMO", "ratings", [movie("tt0111161", rating=9)]), CREATED).rel
    two = store.write(capture("MEMP", "ratings", [movie("tt0111161", rating=9)]), CREATED).rel
    with pytest.raises(CaptureError) as refused:
        compare_captures(context(config_dir), one, two)
    assert str(refused.value) == (
        f"{one} is a capture of MEMO and {two} of MEMP: only captures of one provider compare"
    )
    code, out, err = cli(config_dir, capsys, "capture", "compare", one, two)
    assert code == 1 and "only captures of one provider compare" in err and out == ""
