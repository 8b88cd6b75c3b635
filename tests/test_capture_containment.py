"""Capture files never reach outside ``snapshots/``: not to delete, not to read.

Real captures are made with the CLI against the emulators (and the store's own writer for
backdated scheduled ones), then their headers are edited by hand the way an attacker or a
damaged disk would: children named ``../config.toml``, an absolute path, ``day/../../x``, a
symbolic link out, a child with another checksum, and a top-level capture that is a symbolic
link to a file outside. ``capture delete``, ``capture prune`` and a scheduled capture's cleanup
must leave every outside file alone, say what they refused and why, and still delete the
legitimate captures.
"""

# ruff: noqa: F811  (the pytest fixtures imported from tests.capture_env are test arguments)
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from crosswatch import crashpoints
from crosswatch.captures.create import create_capture
from crosswatch.captures.format import ALL, Capture, ChildRef, encode, stats_of
from crosswatch.captures.scheduled import ScheduledCaptures
from crosswatch.captures.store import CaptureStore, iso, now
from crosswatch.commands.common import plugin_host
from crosswatch.config import load_config
from crosswatch.jobs import JobContext
from tests.capture_env import CwEnv, cw_env, emulators  # noqa: F401  (pytest fixtures)

ITEMS_OPEN = b',"items":['
SCHEDULE = {"name": "nightly", "provider": "trakt", "feature": "all", "cron": "0 3 1 1 *", "max_keep": 1}


# -- helpers ------------------------------------------------------------------------------


@dataclass
class Scene:
    """A config directory with captures, and files outside ``snapshots/`` that must survive."""

    env: CwEnv
    config: bytes  # config.toml as written
    outside: Path  # a genuine capture file copied outside snapshots/ (so reading it would "work")
    sibling: Path  # ``<config dir>/x``: where ``<day>/../../x`` lands
    copied: bytes  # what ``outside`` holds

    @property
    def store(self) -> CaptureStore:
        return self.env.store

    def untouched(self) -> None:
        """config.toml and every outside file are as they were."""
        assert (self.env.folder / "config.toml").read_bytes() == self.config
        assert self.outside.is_file() and self.outside.read_bytes() == self.copied
        assert self.sibling.read_text() == "mine\n"


def create(env: CwEnv, provider: str, feature: str = "all", label: str = "") -> list[str]:
    """``capture create --json``: the written captures' names (a bundle first, then its children)."""
    args = ["capture", "create", "--provider", provider, "--feature", feature, "--json"]
    return [row["path"] for row in env.json(*args, *(["--label", label] if label else []))]


def read_header(path: Path) -> dict[str, Any]:
    first = path.read_bytes().partition(b"\n")[0]
    return json.loads(first[: -len(ITEMS_OPEN)] + b"}")


def edit_header(path: Path, **changes: Any) -> None:
    """Rewrite a capture's first line by hand (its checksum is left as it was: now wrong)."""
    first, sep, rest = path.read_bytes().partition(b"\n")
    header = json.loads(first[: -len(ITEMS_OPEN)] + b"}")
    header.update(changes)
    path.write_bytes(json.dumps(header, separators=(",", ":")).encode()[:-1] + ITEMS_OPEN + sep + rest)


def resign(path: Path) -> None:
    """Give a hand-edited capture a valid checksum again, as someone who read format.py can."""
    path.write_bytes(encode(msgspec.json.decode(path.read_bytes(), type=Capture))[0])


def edit_child(bundle: Path, index: int, **changes: Any) -> None:
    """Change one child entry of a bundle's header (by hand: the checksum is not redone)."""
    children = read_header(bundle)["children"]
    children[index].update(changes)
    edit_header(bundle, children=children)


def scene(env: CwEnv, copy_of: str) -> Scene:
    """Files beside ``snapshots/`` in the config directory: a copy of capture ``copy_of``, and ``x``."""
    outside = env.folder / "copy.json"
    shutil.copyfile(env.store.root / copy_of, outside)
    sibling = env.folder / "x"
    sibling.write_text("mine\n")
    return Scene(env, (env.folder / "config.toml").read_bytes(), outside, sibling, outside.read_bytes())


def poison(s: Scene, bundle: str, how: str) -> str:
    """Point the bundle's second child somewhere it must not go; returns the child's new path."""
    path = s.store.root / bundle
    day = bundle.split("/")[0]
    if how == "dotdot":
        target = "../config.toml"
    elif how == "absolute":
        target = str(s.outside)
    elif how == "climb":
        target = f"{day}/../../x"
    elif how == "symlink":
        link = s.store.root / day / "2020-01-01T00-00-00Z__TRAKT__ratings__evil.json"
        link.symlink_to(s.outside)
        target = s.store.rel(link)
    else:
        raise AssertionError(how)
    edit_child(path, 1, path=target)
    return target


REASONS = {
    "dotdot": "climbs out of snapshots/",
    "absolute": "an absolute path",
    "climb": "climbs out of snapshots/",
    "symlink": "symbolic link",
}


def files_on_disk(env: CwEnv) -> set[str]:
    """Every file under snapshots/ (links included, not followed)."""
    root = env.store.root
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_symlink() or not p.is_dir()}


# -- capture delete -----------------------------------------------------------------------


@pytest.mark.parametrize("how", sorted(REASONS))
def test_delete_refuses_a_bundle_whose_child_points_outside_and_deletes_nothing(cw_env: CwEnv, how: str) -> None:
    env = cw_env
    bundle, *children = create(env, "trakt", "all", label="poisoned")
    other, *other_children = create(env, "plex", "all", label="fine")
    s = scene(env, children[1])
    target = poison(s, bundle, how)
    before = files_on_disk(env)

    refused = env.cli("capture", "delete", bundle, "--yes")

    assert refused.code == 1
    assert bundle in refused.err and target in refused.err and REASONS[how] in refused.err
    assert "nothing was deleted" in refused.err and "Traceback" not in refused.err
    assert "deleted" not in refused.out
    assert files_on_disk(env) == before
    s.untouched()
    if how == "symlink":
        assert (env.store.root / target).is_symlink()

    deleted = env.cli("capture", "delete", other, "--yes")  # a legitimate bundle still goes
    assert deleted.code == 0, deleted.err
    assert "deleted 5 file(s)" in deleted.out
    assert files_on_disk(env) == before - {other, *other_children}
    s.untouched()


def test_delete_refuses_a_bundle_whose_child_is_another_capture(cw_env: CwEnv) -> None:
    """A child path inside snapshots/ whose file does not carry the checksum the bundle recorded."""
    env = cw_env
    bundle, *children = create(env, "trakt", "all", label="damaged")
    (single,) = create(env, "plex", "watchlist", label="precious")
    s = scene(env, children[0])
    edit_child(env.store.root / bundle, 1, path=single)  # the recorded sha256 is the old child's
    before = files_on_disk(env)

    refused = env.cli("capture", "delete", bundle, "--yes")

    assert refused.code == 1
    assert bundle in refused.err and single in refused.err
    assert "is not the one it was made with" in refused.err and "nothing was deleted" in refused.err
    assert files_on_disk(env) == before
    s.untouched()
    # the way out the message names: the bundle file alone, by hand; the children stay captures
    assert str(env.store.root / bundle) in refused.err


def test_a_top_level_symlink_to_a_bundle_outside_is_neither_read_nor_deleted(cw_env: CwEnv) -> None:
    env = cw_env
    bundle, *_ = create(env, "trakt", "all", label="real")
    s = scene(env, bundle)
    edit_header(s.outside, children=[{"feature": "ratings", "path": "../config.toml", "sha256": "0" * 64}])
    resign(s.outside)  # a checksum that holds: reading it would succeed
    s.copied = s.outside.read_bytes()
    link = env.store.root / bundle.split("/")[0] / "2020-01-01T00-00-00Z__TRAKT__all__link.json"
    link.symlink_to(s.outside)
    name = env.store.rel(link)
    before = files_on_disk(env)

    shown = env.cli("capture", "show", name)
    assert shown.code == 1 and "symbolic link" in shown.err and name in shown.err
    listed = {row["path"]: row for row in env.json("capture", "list", "--json")}
    assert "symbolic link" in listed[name]["error"]
    refused = env.cli("capture", "delete", name, "--yes")
    assert refused.code == 1 and "symbolic link" in refused.err and name in refused.err

    assert files_on_disk(env) == before and link.is_symlink()
    s.untouched()


# -- restore / compare read only inside snapshots/ ------------------------------------------


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_restore_and_compare_never_read_a_child_outside_snapshots(cw_env: CwEnv, how: str) -> None:
    env = cw_env
    bundle, *children = create(env, "trakt", "all", label="poisoned")
    s = scene(env, children[1])  # a genuine copy of the child, with the checksum the bundle recorded
    if how == "dotdot":
        edit_child(env.store.root / bundle, 1, path="../copy.json")
        target = "../copy.json"
    else:
        target = poison(s, bundle, how)
    resign(env.store.root / bundle)
    trakt = env.trakt_state()

    restored = env.cli("capture", "restore", bundle, "--mode", "merge", "--dry-run")
    assert restored.code == 1, restored.out
    assert bundle in restored.err and target in restored.err
    assert REASONS[how] in restored.err
    compared = env.cli("capture", "compare", bundle, bundle)
    assert compared.code == 1 and target in compared.err
    assert env.trakt_state() == trakt
    s.untouched()


# -- retention ----------------------------------------------------------------------------


def auto_bundle(store: CaptureStore, parts: list[Capture], days: float, label: str) -> list[str]:
    """A bundle of schedule ``nightly`` made ``days`` ago from ``parts`` (valid checksums)."""
    when = now() - timedelta(days=days)
    made = iso(when)
    written = [
        store.write(msgspec.structs.replace(p, created=made, type="auto", schedule="nightly", label=label), when)
        for p in parts
    ]
    refs = [ChildRef(feature=r.header.feature, path=r.rel, sha256=r.header.sha256) for r in written if r.header]
    bundle = Capture(
        provider=parts[0].provider,
        profile=parts[0].profile,
        feature=ALL,
        created=made,
        label=label,
        type="auto",
        schedule="nightly",
        stats=stats_of([]),
        children=refs,
    )
    return [store.write(bundle, when).rel, *(r.rel for r in written)]


@dataclass
class Seeded:
    scene: Scene
    newest: list[str]  # kept by max_keep 1
    climbing: list[str]  # a child named ../config.toml: refused
    old: list[str]  # legitimate and old: deleted
    absolute: list[str]  # a child with an absolute path: refused
    link: str  # a top-level symlink to a hand-made bundle outside: never read, never deleted
    orphans: list[str]  # the children the two refused bundles no longer name: captures of their own


def seed(env: CwEnv, manual: list[str]) -> Seeded:
    """Backdated captures of schedule ``nightly``, made from the ``manual`` bundle's children."""
    _, *children = manual
    parts = [env.store.load(c) for c in children]
    s = scene(env, children[0])
    newest = auto_bundle(env.store, parts, 1, "newest")
    climbing = auto_bundle(env.store, parts, 2, "climbing")
    edit_child(env.store.root / climbing[0], 1, path="../config.toml")
    old = auto_bundle(env.store, parts, 3, "old")
    absolute = auto_bundle(env.store, parts, 4, "absolute")
    edit_child(env.store.root / absolute[0], 0, path=str(s.outside))
    orphans = [climbing.pop(2), absolute.pop(1)]
    # a hand-made auto bundle outside snapshots/, linked in: its children are config.toml and copy.json
    fake = env.folder.parent / "fake-bundle.json"
    shutil.copyfile(env.store.root / newest[0], fake)
    edit_header(
        fake,
        created=iso(now() - timedelta(days=5)),
        children=[
            {"feature": "ratings", "path": "../config.toml", "sha256": "0" * 64},
            {"feature": "history", "path": str(s.outside), "sha256": "0" * 64},
        ],
    )
    link = env.store.root / newest[0].split("/")[0] / "2020-01-01T00-00-00Z__TRAKT__all__link.json"
    link.symlink_to(fake)
    return Seeded(s, newest, climbing, old, absolute, env.store.rel(link), orphans)


def test_prune_deletes_its_own_old_captures_and_reports_what_it_refused(cw_env: CwEnv) -> None:
    env = cw_env
    env.configure({"captures": {"schedules": [SCHEDULE]}})
    seeded = seed(env, create(env, "trakt", "all", label="manual"))
    fake = (env.store.root / seeded.link).readlink()
    fake_bytes = fake.read_bytes()
    before = files_on_disk(env)

    dry = env.cli("capture", "prune", "--dry-run")
    assert dry.code == 1, dry.err
    assert files_on_disk(env) == before
    assert f"refused {seeded.climbing[0]}" in dry.out and "../config.toml" in dry.out

    pruned = env.cli("capture", "prune")

    assert pruned.code == 1, pruned.err
    assert "nightly: kept 1, deleted 3, refused 2" in pruned.out
    assert all(f"  {name}" in pruned.out for name in [seeded.old[0], *seeded.orphans])
    assert f"refused {seeded.climbing[0]}: " in pruned.out and "climbs out of snapshots/" in pruned.out
    assert f"refused {seeded.absolute[0]}: " in pruned.out and "an absolute path" in pruned.out
    assert files_on_disk(env) == before - set(seeded.old) - set(seeded.orphans)
    seeded.scene.untouched()
    assert fake.read_bytes() == fake_bytes and (env.store.root / seeded.link).is_symlink()

    again = env.cli("capture", "prune", "--json")  # nothing left to delete; the refusals stay reported
    assert again.code == 1
    rows = json.loads(again.out)
    assert rows[0]["deleted"] == [] and {r["path"] for r in rows[0]["refused"]} == {
        seeded.climbing[0],
        seeded.absolute[0],
    }


@pytest.mark.anyio
async def test_scheduled_cleanup_prunes_its_own_and_logs_what_it_refused(
    cw_env: CwEnv, logs: list[dict[str, Any]]
) -> None:
    env = cw_env
    env.configure({"captures": {"schedules": [SCHEDULE]}})
    host = plugin_host(env.folder)
    config = load_config(env.folder, host.sections())
    manual = await create_capture(JobContext(config, host), "trakt", "all", label="manual")
    seeded = seed(env, [r.rel for r in manual])
    before = files_on_disk(env)
    schedule = config.captures.schedules[0]

    assert await ScheduledCaptures(host, lambda: config, None).run(config, schedule)

    made = files_on_disk(env) - before
    assert len(made) == 5  # the new bundle and its four children
    gone = before - files_on_disk(env)
    assert gone == {*seeded.newest, *seeded.old, *seeded.orphans}  # max_keep 1: only the new one stays
    seeded.scene.untouched()
    assert all((env.store.root / name).exists() for name in seeded.climbing + seeded.absolute)
    refused = {e["path"]: e["reason"] for e in logs if e["event"] == "capture.prune_refused"}
    assert set(refused) == {seeded.climbing[0], seeded.absolute[0]}
    assert "../config.toml" in refused[seeded.climbing[0]] and str(seeded.scene.outside) in refused[seeded.absolute[0]]
    assert not [e for e in logs if e["log_level"] == "error"]


# -- crash points -------------------------------------------------------------------------


def test_each_file_a_delete_removes_crosses_a_crash_point_before_and_after_and_a_refusal_none(
    cw_env: CwEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = cw_env
    doomed = create(env, "plex", "all", label="doomed")
    poisoned, *_ = create(env, "trakt", "all", label="poisoned")
    edit_child(env.store.root / poisoned, 1, path="../config.toml")
    crossings = tmp_path / "crossings.log"
    monkeypatch.setenv(crashpoints.LOG, str(crossings))
    crashpoints.reset()
    try:
        assert env.cli("capture", "delete", poisoned, "--yes").code == 1
        assert not crossings.exists() or "capture.delete" not in crossings.read_text()
        assert env.cli("capture", "delete", doomed[0], "--yes").code == 0
    finally:
        monkeypatch.delenv(crashpoints.LOG)
        crashpoints.reset()
    lines = [line for line in crossings.read_text().splitlines() if line.startswith("capture.delete.")]
    bundle, *children = doomed
    assert lines == [f"capture.delete.{when}\t{name}" for name in [*children, bundle] for when in ("before", "after")]
