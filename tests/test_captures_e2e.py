"""Captures end to end, as a person runs them: the ``capture`` and ``tools`` commands against the
Plex and Trakt emulators (real HTTP on loopback), and against a throwaway third-party plugin.

The round trip for every feature of both providers: capture all, clear the feature on the
provider, restore (merge, then clear mode), capture again, compare: no difference except what
the provider cannot reproduce (Plex records a restored play at "now").
"""

# ruff: noqa: F811  (the pytest fixtures imported from tests.capture_env are test arguments)
from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.capture_env import OWNER, CwEnv, cw_env, emulators  # noqa: F401  (pytest fixtures)

FEATURES = ("watchlist", "ratings", "history", "progress")
PROVIDERS = ("plex", "trakt")
EVERY = [(p, f) for p in PROVIDERS for f in FEATURES]
CLEARABLE = [(p, f) for p, f in EVERY if (p, f) != ("plex", "progress")]


# -- helpers ------------------------------------------------------------------------------


def create(env: CwEnv, provider: str, feature: str = "all", label: str = "") -> list[dict[str, Any]]:
    """``capture create --json``: the written captures (a bundle first, then its children)."""
    args = ["capture", "create", "--provider", provider, "--feature", feature, "--json"]
    return env.json(*args, *(["--label", label] if label else []))


def by_feature(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["feature"]: row for row in rows}


def plan_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A restore report's outcomes by feature."""
    return {f["plan"]["feature"]: f for f in report["features"]}


def counts(by_type: dict[str, int]) -> str:
    """Per-media-type counts as restore plans and tools print them: ``movie 4, show 3``."""
    return ", ".join(f"{kind} {n:,}" for kind, n in sorted(by_type.items()))


def view(env: CwEnv, provider: str, feature: str) -> Any:
    """What the provider holds of ``feature``, read straight from its emulator."""
    if provider == "plex":
        user = env.plex_user()
        if feature == "watchlist":
            return sorted(e["discover"] for e in user["watchlist"])
        if feature == "ratings":
            return {e["ratingKey"]: e["rating"] for e in user["ratings"]}
        if feature == "history":
            return Counter(e["ratingKey"] for e in user["plays"])  # plays per title
        return {e["ratingKey"]: e["viewOffset"] for e in user["progress"]}
    state = env.trakt_state()
    if feature == "watchlist":
        return sorted((e["type"], e["trakt"]) for e in state["watchlist"])
    if feature == "ratings":
        return {(e["type"], e["trakt"]): e["rating"] for e in state["ratings"]}
    if feature == "history":
        return Counter((e["type"], e["trakt"], e["watched_at"][:19]) for e in state["history"])
    return {(e["type"], e["trakt"]): e["progress"] for e in state["playback"]}


def held(env: CwEnv, provider: str, feature: str) -> int:
    """How many entries of ``feature`` the provider holds (plays for history)."""
    current = view(env, provider, feature)
    return sum(current.values()) if isinstance(current, Counter) else len(current)


def assert_no_difference(env: CwEnv, a: str, b: str) -> dict[str, Any]:
    diff = env.json("capture", "compare", a, b, "--json")
    assert diff["same"], json.dumps(diff, indent=1)[:3000]
    for feature in diff["features"]:
        assert feature["counts"] == {"added": {}, "removed": {}, "updated": {}}, feature
        assert "only_in" not in feature, feature
    return diff


def post_trakt_state(env: CwEnv, state: dict[str, Any]) -> None:
    reply = httpx.post(env.emu.trakt_url + "/_emulator/state", json=state, timeout=10)
    assert reply.status_code == 200, reply.text


def rate_on_plex(env: CwEnv, rating_key: str, rating: float) -> None:
    reply = httpx.post(
        env.emu.plex_url + "/_emulator/rate", json={"ratingKey": rating_key, "rating": rating}, timeout=10
    )
    assert reply.status_code == 200, reply.text


def full_state(env: CwEnv, provider: str) -> dict[str, Any]:
    return env.plex.state_json() if provider == "plex" else env.trakt_state()


# -- the round trip, every feature of both providers ---------------------------------------


@pytest.mark.parametrize(("provider", "feature"), EVERY)
def test_clear_then_merge_restore_brings_the_feature_back(cw_env: CwEnv, provider: str, feature: str) -> None:
    env = cw_env
    started = int(time.time())
    refs = create(env, provider, "all", label="before-clear")
    bundle, child = refs[0], by_feature(refs[1:])[feature]
    assert bundle["feature"] == "all" and set(bundle["children"]) == {r["path"] for r in refs[1:]}
    before = view(env, provider, feature)
    assert before and child["count"] > 0, "the seeded emulator holds some of this feature"

    plex_progress = (provider, feature) == ("plex", "progress")
    if plex_progress:
        refused = env.cli("tools", "clear", "--provider", "plex", "--feature", "progress", "--yes")
        assert refused.code == 1
        assert "Clear progress is disabled for PLEX" in refused.err
        assert "Plex cannot clear a resume position" in refused.err
        assert view(env, "plex", "progress") == before
        # resume positions change by playing on: two lost, one moved back
        state = env.plex.state_json()
        progress = state["users"][OWNER]["progress"]
        moved = progress[2]
        assert moved["viewOffset"] // 2 < moved["viewOffset"] - 1000
        moved["viewOffset"] //= 2
        state["users"][OWNER]["progress"] = progress[2:]
        env.plex.load_state(state)
        assert len(view(env, "plex", "progress")) == len(before) - 2
    else:
        cleared = env.cli("tools", "clear", "--provider", provider, "--feature", feature, "--yes")
        assert cleared.code == 0, cleared.err
        assert f"{feature:<10} removed {counts(child['by_type'])}" in cleared.out
        assert "safety capture" in cleared.out and cleared.out.rstrip().endswith("cleared")
        # only the captured plays go (on Plex, plays without external ids were never read)
        left = sum(before.values()) - child["count"] if feature == "history" else 0
        assert held(env, provider, feature) == left

    report = env.json("capture", "restore", bundle["path"], "--mode", "merge", "--yes", "--json")
    assert report["applied"] and report["mode"] == "merge" and report["safety_captures"] == []
    outcomes = plan_of(report)
    assert set(outcomes) == set(FEATURES)
    for outcome in outcomes.values():
        assert outcome["failed"] == [] and outcome["unresolved"] == [], outcome
    mine = outcomes[feature]
    if plex_progress:
        assert sum(mine["plan"]["counts"]["add"].values()) == 2
        assert sum(mine["plan"]["counts"]["update"].values()) == 1
    else:
        assert mine["added"] == child["by_type"]
    assert view(env, provider, feature) == before

    if (provider, feature) == ("plex", "history"):
        # Plex records a restored play at "now": the restore says so, compare does not report it
        assert any("today's date" in note for note in mine["plan"]["notes"])
        restored = [p for p in env.plex_user()["plays"] if p["viewedAt"] >= started]
        assert len(restored) == child["count"]

    after = create(env, provider, "all", label="after-restore")
    assert by_feature(after[1:])[feature]["count"] == child["count"]
    assert_no_difference(env, bundle["path"], after[0]["path"])


@pytest.mark.parametrize(("provider", "feature"), CLEARABLE)
def test_clear_then_clear_mode_restore_takes_a_safety_capture_first(cw_env: CwEnv, provider: str, feature: str) -> None:
    env = cw_env
    refs = create(env, provider, "all")
    child = by_feature(refs[1:])[feature]
    before = view(env, provider, feature)
    assert env.cli("tools", "clear", "--provider", provider, "--feature", feature, "--yes").code == 0
    files = env.captures()

    report = env.json("capture", "restore", child["path"], "--mode", "clear", "--yes", "--json")
    assert report["applied"] and report["mode"] == "clear"
    assert len(report["safety_captures"]) == 1
    safety = report["safety_captures"][0]
    assert safety not in files and env.captures() == files | {safety}
    shown = env.json("capture", "show", safety, "--json")
    assert (shown["type"], shown["provider"], shown["feature"]) == ("safety", provider.upper(), feature)
    assert shown["count"] == 0  # what was there just before: nothing, after the clear
    assert safety in {r["path"] for r in env.json("capture", "list", "--type", "safety", "--json")}
    (outcome,) = report["features"]
    assert outcome["failed"] == [] and outcome["unresolved"] == [] and outcome["added"] == child["by_type"]
    assert view(env, provider, feature) == before

    again = create(env, provider, feature)
    assert_no_difference(env, child["path"], again[0]["path"])


def test_clear_mode_restore_removes_what_the_capture_did_not_hold_trakt(cw_env: CwEnv) -> None:
    env = cw_env
    refs = create(env, "trakt", "all")
    bundle, children = refs[0], by_feature(refs[1:])
    before = {f: view(env, "trakt", f) for f in FEATURES}
    # a title listed and one rated after the capture
    state = env.trakt_state()
    listed = {(e["type"], e["trakt"]) for e in state["watchlist"]}
    rated = {(e["type"], e["trakt"]) for e in state["ratings"]}
    movies = [e["trakt"] for e in state["history"] if e["type"] == "movie"]
    stray_listed = next(m for m in movies if ("movie", m) not in listed)
    stray_rated = next(m for m in movies if ("movie", m) not in rated)
    state["watchlist"].append({"type": "movie", "trakt": stray_listed})
    state["ratings"].append({"type": "movie", "trakt": stray_rated, "rating": 3})
    post_trakt_state(env, state)
    assert ("movie", stray_listed) in view(env, "trakt", "watchlist")

    report = env.json("capture", "restore", bundle["path"], "--mode", "clear", "--yes", "--json")
    assert report["applied"]
    # the safety capture is a bundle of what was there before the clear, strays included
    safety = by_feature([env.json("capture", "show", s, "--json") for s in report["safety_captures"]])
    assert set(safety) == {"all", *FEATURES} and all(s["type"] == "safety" for s in safety.values())
    assert safety["watchlist"]["count"] == children["watchlist"]["count"] + 1
    assert safety["ratings"]["count"] == children["ratings"]["count"] + 1
    items = env.json("capture", "show", safety["watchlist"]["path"], "--items", "--json")["items"]
    assert str(stray_listed) in {i["ids"].get("trakt") for i in items}
    for outcome in report["features"]:
        assert outcome["failed"] == [] and outcome["unresolved"] == [], outcome
    assert {f: view(env, "trakt", f) for f in FEATURES} == before
    assert_no_difference(env, bundle["path"], create(env, "trakt", "all")[0]["path"])


def test_clear_mode_restore_of_a_plex_bundle_merges_progress(cw_env: CwEnv) -> None:
    env = cw_env
    refs = create(env, "plex", "all")
    bundle, children = refs[0], by_feature(refs[1:])
    before = {f: view(env, "plex", f) for f in FEATURES}
    # a title rated after the capture, and a resume position lost
    stray = next(p["ratingKey"] for p in env.plex_user()["plays"] if p["ratingKey"] not in before["ratings"])
    rate_on_plex(env, stray, 4)
    state = env.plex.state_json()
    lost = state["users"][OWNER]["progress"].pop(0)
    env.plex.load_state(state)
    assert view(env, "plex", "ratings")[stray] == 4 and lost["ratingKey"] not in view(env, "plex", "progress")

    report = env.json("capture", "restore", bundle["path"], "--mode", "clear", "--yes", "--json")
    assert report["applied"]
    plans = plan_of(report)
    # Plex cannot clear a resume position: the bundle merges progress and says so
    progress = plans["progress"]["plan"]
    assert "PLEX cannot clear progress (Plex cannot clear a resume position): merged instead" in progress["notes"]
    assert progress["counts"]["remove"] == {} and sum(progress["counts"]["add"].values()) == 1
    ratings = plans["ratings"]["plan"]["counts"]
    assert sum(ratings["remove"].values()) == children["ratings"]["count"] + 1
    assert ratings["add"] == children["ratings"]["by_type"]
    for outcome in report["features"]:
        assert outcome["failed"] == [] and outcome["unresolved"] == [], outcome
    # the safety capture is a bundle of what was there before the clear, the stray rating included
    safety = by_feature([env.json("capture", "show", s, "--json") for s in report["safety_captures"]])
    assert set(safety) == {"all", *FEATURES} and all(s["type"] == "safety" for s in safety.values())
    assert safety["ratings"]["count"] == children["ratings"]["count"] + 1
    items = env.json("capture", "show", safety["ratings"]["path"], "--items", "--json")["items"]
    assert stray in {i["extra"].get("ratingKey") for i in items}
    assert {f: view(env, "plex", f) for f in FEATURES} == before
    assert_no_difference(env, bundle["path"], create(env, "plex", "all")[0]["path"])


def test_plex_refuses_a_clear_mode_restore_of_a_progress_capture(cw_env: CwEnv) -> None:
    env = cw_env
    (progress,) = create(env, "plex", "progress")
    state, files = env.plex.state_json(), env.captures()
    refused = env.cli("capture", "restore", progress["path"], "--mode", "clear", "--yes")
    assert refused.code == 1
    assert "PLEX cannot clear progress (Plex cannot clear a resume position); use --mode merge" in refused.err
    assert env.plex.state_json() == state
    assert env.captures() == files  # no safety capture either


# -- restore: dry run, refusals, fixing a changed value -------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_dry_run_restore_prints_the_plan_and_writes_nothing(cw_env: CwEnv, provider: str) -> None:
    env = cw_env
    refs = create(env, provider, "all")
    bundle, children = refs[0]["path"], by_feature(refs[1:])
    for feature in ("watchlist", "ratings"):
        assert env.cli("tools", "clear", "--provider", provider, "--feature", feature, "--yes").code == 0
    state, files = full_state(env, provider), env.captures()

    for mode in ("merge", "clear"):
        shown = env.cli("capture", "restore", bundle, "--mode", mode, "--dry-run")
        assert shown.code == 0, shown.err
        lines = shown.out.splitlines()
        assert lines[0].startswith(f"restore {bundle} into {provider.upper()}") and f"mode {mode}" in lines[0]
        for feature in ("watchlist", "ratings"):
            (line,) = [row for row in lines if row.startswith(f"  {feature} ")]
            assert f"add {counts(children[feature]['by_type'])}" in line
        assert lines[-1] == "dry run: nothing written"
        assert full_state(env, provider) == state
        assert env.captures() == files

    report = env.json("capture", "restore", bundle, "--mode", "merge", "--dry-run", "--json")
    assert report["dry_run"] and not report["applied"] and report["safety_captures"] == []
    plans = plan_of(report)
    for feature in ("watchlist", "ratings"):
        assert plans[feature]["plan"]["counts"]["add"] == children[feature]["by_type"]
        assert plans[feature]["added"] == {}
    assert plans["history"]["plan"]["counts"]["add"] == {}
    assert full_state(env, provider) == state and env.captures() == files


def test_restore_into_the_other_provider_is_refused(cw_env: CwEnv) -> None:
    env = cw_env
    plex_bundle = create(env, "plex", "all")[0]["path"]
    trakt_bundle = create(env, "trakt", "all")[0]["path"]
    for provider in PROVIDERS:  # a restore that went anywhere would show here
        assert env.cli("tools", "clear", "--provider", provider, "--feature", "watchlist", "--yes").code == 0
    plex, trakt, files = env.plex.state_json(), env.trakt_state(), env.captures()

    for capture, source, wrong in ((plex_bundle, "PLEX", "trakt"), (trakt_bundle, "TRAKT", "plex")):
        refused = env.cli("capture", "restore", capture, "--mode", "merge", "--provider", wrong, "--yes")
        said = f"is a capture of {source}; it cannot be restored into {wrong}".upper() in refused.err.upper()
        assert (refused.code, said) == (1, True), (
            f"--provider {wrong} on a {source} capture: exit {refused.code}\n{refused.out}{refused.err}"
        )
    assert env.plex.state_json() == plex and env.trakt_state() == trakt
    assert env.captures() == files


def test_a_hand_edited_capture_is_refused(cw_env: CwEnv) -> None:
    env = cw_env
    refs = create(env, "trakt", "all")
    ratings = by_feature(refs[1:])["ratings"]["path"]
    assert env.cli("tools", "clear", "--provider", "trakt", "--feature", "ratings", "--yes").code == 0
    path = env.store.root / ratings
    edited, n = re.subn(r'"rating":(\d+)', lambda m: f'"rating":{int(m[1]) % 10 + 1}', path.read_text(), count=1)
    assert n == 1
    path.write_text(edited)
    for capture in (refs[0]["path"], ratings):
        refused = env.cli("capture", "restore", capture, "--mode", "merge", "--yes")
        assert refused.code == 1 and "checksum mismatch" in refused.err, refused.err
    assert view(env, "trakt", "ratings") == {}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_changed_rating_is_set_back_by_a_merge_restore(cw_env: CwEnv, provider: str) -> None:
    env = cw_env
    (capture,) = create(env, provider, "ratings")
    before = view(env, provider, "ratings")
    # the person re-rates a movie: 3 points lower
    if provider == "plex":
        entry = next(e for e in env.plex_user()["ratings"] if e["type"] == "movie" and e["rating"] >= 4)
        key = entry["ratingKey"]
        rate_on_plex(env, key, entry["rating"] - 3)
    else:
        state = env.trakt_state()
        entry = next(e for e in state["ratings"] if e["type"] == "movie" and e["rating"] >= 4)
        key = (entry["type"], entry["trakt"])
        entry["rating"] -= 3
        post_trakt_state(env, state)
    changed = view(env, provider, "ratings")
    assert changed[key] == before[key] - 3 and len(changed) == len(before)

    report = env.json("capture", "restore", capture["path"], "--mode", "merge", "--yes", "--json")
    (outcome,) = report["features"]
    counts_ = outcome["plan"]["counts"]
    assert (counts_["add"], counts_["remove"], counts_["update"]) == ({}, {}, {"movie": 1})
    assert outcome["plan"]["unchanged"] == capture["count"] - 1
    assert outcome["updated"] == counts_["update"] and outcome["failed"] == []
    assert view(env, provider, "ratings") == before


# -- compare --------------------------------------------------------------------------------


def test_compare_reports_a_changed_trakt_resume_position(cw_env: CwEnv) -> None:
    env = cw_env
    (first,) = create(env, "trakt", "progress")
    state = env.trakt_state()
    entry = next(e for e in state["playback"] if e["type"] == "movie")
    was = entry["progress"]
    entry["progress"] = 12.5
    post_trakt_state(env, state)
    (second,) = create(env, "trakt", "progress")

    # a merge restore of the first capture would change it back ...
    plan = env.json("capture", "restore", first["path"], "--mode", "merge", "--dry-run", "--json")
    assert plan["features"][0]["plan"]["counts"]["update"] == {"movie": 1}
    # ... so compare must see the change too
    diff = env.json("capture", "compare", first["path"], second["path"], "--json")
    (progress,) = diff["features"]
    assert not diff["same"] and progress["counts"]["updated"] == {"movie": 1}, (
        f"compare saw no change of a resume position moved from {was}% to 12.5%: {json.dumps(progress['counts'])}"
    )
    (updated,) = progress["updated"]
    assert [was, 12.5] in updated["changes"].values()


# -- delete, list, show ----------------------------------------------------------------------


def test_deleting_a_bundle_takes_its_children_and_nothing_else(cw_env: CwEnv) -> None:
    env = cw_env
    doomed = create(env, "plex", "all", label="doomed")
    kept_bundle = create(env, "trakt", "all", label="kept")
    kept_single = create(env, "plex", "watchlist", label="single")
    plex, trakt, files = env.plex.state_json(), env.trakt_state(), env.captures()
    doomed_files = {r["path"] for r in doomed}
    assert len(doomed_files) == 5 and doomed_files <= files

    asked = env.cli("capture", "delete", doomed[0]["path"])  # no --yes and no terminal to ask on
    assert asked.code == 1 and "refusing to write without --yes" in asked.err
    assert env.captures() == files

    deleted = env.cli("capture", "delete", doomed[0]["path"], "--yes")
    assert deleted.code == 0, deleted.err
    assert all(f"  {name}" in deleted.out for name in doomed_files)
    assert "deleted 5 file(s)" in deleted.out
    assert env.captures() == files - doomed_files
    assert not any((env.store.root / name).exists() for name in doomed_files)
    rows = env.json("capture", "list", "--json")
    assert {r["path"]: len(r.get("children", [])) for r in rows} == {
        kept_single[0]["path"]: 0,
        kept_bundle[0]["path"]: 4,
    }
    assert env.plex.state_json() == plex and env.trakt_state() == trakt  # provider data untouched


def test_list_groups_children_under_their_bundle_and_filters(cw_env: CwEnv) -> None:
    env = cw_env
    alpha = create(env, "plex", "all", label="alpha")
    beta = create(env, "trakt", "all", label="beta")
    (gamma,) = create(env, "trakt", "ratings", label="gamma")
    cleared = env.json("tools", "clear", "--provider", "trakt", "--feature", "watchlist", "--yes", "--json")
    (safety,) = cleared["safety_captures"]

    rows = env.json("capture", "list", "--json")
    tops = {r["path"]: r for r in rows}
    assert set(tops) == {alpha[0]["path"], beta[0]["path"], gamma["path"], safety}  # children are not top level
    for bundle in (alpha, beta):
        row = tops[bundle[0]["path"]]
        assert [c["path"] for c in row["children"]] == [r["path"] for r in bundle[1:]]
        assert [c["feature"] for c in row["children"]] == list(FEATURES)
        assert row["count"] == sum(c["count"] for c in row["children"])
    assert tops[safety]["type"] == "safety" and tops[safety]["feature"] == "watchlist"

    def listed(*args: str) -> set[str]:
        return {r["path"] for r in env.json("capture", "list", "--json", *args)}

    assert listed("--provider", "plex") == {alpha[0]["path"]}
    assert listed("--provider", "TRAKT") == {beta[0]["path"], gamma["path"], safety}
    assert listed("--type", "safety") == {safety}
    assert listed("--type", "manual") == {alpha[0]["path"], beta[0]["path"], gamma["path"]}
    assert listed("--search", "gamma") == {gamma["path"]}
    assert listed("--search", "BETA") == {beta[0]["path"]}
    assert listed("--search", "__PLEX__") == {alpha[0]["path"]}
    assert listed("--search", "nothing-like-this") == set()
    # a feature filter keeps the captures of that feature (bundles holding one, with it)
    by_ratings = env.json("capture", "list", "--json", "--feature", "ratings")
    assert gamma["path"] in {r["path"] for r in by_ratings} and safety not in {r["path"] for r in by_ratings}
    for row in by_ratings:
        assert row["feature"] == "ratings" or "ratings" in {c["feature"] for c in row.get("children", [])}
    assert listed("--feature", "all", "--provider", "plex") == {alpha[0]["path"]}

    text = env.cli("capture", "list")
    assert text.code == 0
    for child in alpha[1:]:
        assert f"  └ {child['path']}  PLEX {child['feature']} manual" in text.out
    assert text.out.rstrip().endswith(f"4 capture(s) in {env.store.root}")


def test_show_has_stats_with_per_media_type_counts(cw_env: CwEnv) -> None:
    env = cw_env
    trakt = create(env, "trakt", "all")
    plex = create(env, "plex", "all")
    state, user = env.trakt_state(), env.plex_user()
    expected = {
        ("trakt", "watchlist"): Counter(e["type"] for e in state["watchlist"]),
        ("trakt", "ratings"): Counter(e["type"] for e in state["ratings"]),
        ("trakt", "progress"): Counter(e["type"] for e in state["playback"]),
        ("plex", "ratings"): Counter(e["type"] for e in user["ratings"]),
        ("plex", "progress"): Counter(e["type"] for e in user["progress"]),
    }
    refs = {"trakt": by_feature(trakt), "plex": by_feature(plex)}
    for (provider, feature), types in expected.items():
        shown = env.json("capture", "show", refs[provider][feature]["path"], "--json")
        assert shown["by_type"] == dict(types), (provider, feature)
        assert shown["count"] == sum(types.values()) and shown["without_date"] == 0
        assert shown["provider"] == provider.upper() and shown["type"] == "manual" and shown["sha256"]
    bundle = env.json("capture", "show", trakt[0]["path"], "--items", "--json")
    assert bundle["feature"] == "all" and bundle["children"] == [r["path"] for r in trakt[1:]]
    assert bundle["count"] == sum(r["count"] for r in trakt[1:]) and bundle["items"] == []
    totals: Counter[str] = Counter()
    for row in trakt[1:]:
        totals.update(row["by_type"])
    assert bundle["by_type"] == dict(totals)
    history = env.json("capture", "show", refs["trakt"]["history"]["path"], "--items", "--json")
    assert len(history["items"]) == history["count"] == len(state["history"])
    assert all(i["watched_at"] for i in history["items"])
    shown = env.json("capture", "show", refs["plex"]["ratings"]["path"], "--json")
    text = env.cli("capture", "show", refs["plex"]["ratings"]["path"])
    printed = ", ".join(f"{kind} {n}" for kind, n in shown["by_type"].items())
    assert f"items     {shown['count']} ({printed})" in text.out


# -- history without a date ------------------------------------------------------------------


def test_plex_marked_watched_without_a_date_is_left_out_and_counted(cw_env: CwEnv) -> None:
    env = cw_env
    env.configure({"plex": {"history": {"include_marked_watched": True}}})
    undated = [w for w in env.plex_user()["marked_watched"] if w["lastViewedAt"] is None]
    dated = [w for w in env.plex_user()["marked_watched"] if w["lastViewedAt"] is not None]
    assert undated and dated, "the seeded Plex owner has marked-watched items with and without a date"

    created = env.cli("capture", "create", "--provider", "plex", "--feature", "history")
    assert created.code == 0, created.err
    (name,) = re.findall(r"created (\S+)", created.out)
    shown = env.json("capture", "show", name, "--items", "--json")
    keys = {i["extra"].get("ratingKey") for i in shown["items"]}
    assert {w["ratingKey"] for w in dated} <= keys  # marked watched with a date: captured as plays
    assert not {w["ratingKey"] for w in undated} & keys  # without one: left out ...
    assert shown["without_date"] == len(undated), "... and counted"
    assert f"{len(undated)} items without a date were not captured" in created.out


def test_plex_clear_history_with_marked_watched_leaves_nothing_to_read(cw_env: CwEnv) -> None:
    env = cw_env
    env.configure({"plex": {"history": {"include_marked_watched": True}}})
    undated = {w["ratingKey"] for w in env.plex_user()["marked_watched"] if w["lastViewedAt"] is None}
    cleared = env.cli("tools", "clear", "--provider", "plex", "--feature", "history", "--yes")
    assert cleared.code == 0 and cleared.out.rstrip().endswith("cleared"), cleared.err

    again = env.json("tools", "clear", "--provider", "plex", "--feature", "history", "--dry-run", "--json")
    assert again["found"] == {"history": {}}, "history still reads after it was cleared"
    # "History items without a date won't be included in a capture, but the process can still clear them"
    still = {w["ratingKey"] for w in env.plex_user()["watched"]}
    assert not undated & still


# -- a third party's provider -----------------------------------------------------------------

JSONBOX_PLUGIN = '''
"""Throwaway drop-in plugin: provider JSONBOX keeps its items in one JSON file (``[jsonbox] path``)."""

import json
from pathlib import Path

import msgspec

from crosswatch import hookimpl
from crosswatch.config import ConfigSection
from crosswatch.model import Feature, Item, item_key
from crosswatch.provider import FeatureSupport, ProviderSpec, WriteResult


class JsonBoxSettings(msgspec.Struct, kw_only=True, frozen=True):
    path: str = ""


def key(feature, item):
    """A play is its title and time; anything else is its title."""
    return item_key(item) if feature == Feature.HISTORY else item_key(item).split("@", 1)[0]


class JsonBox:
    id = "JSONBOX"

    def __init__(self, ctx):
        self.profile = ctx.profile
        self.path = Path(ctx.settings.path)

    def _load(self):
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        return {f: msgspec.convert(data.get(f.value, []), list[Item]) for f in Feature}

    def _save(self, held):
        data = {f.value: msgspec.to_builtins(items) for f, items in held.items()}
        self.path.write_text(json.dumps(data, indent=1))

    async def read(self, feature):
        return self._load()[Feature(feature)]

    async def add(self, feature, items):
        feature, held = Feature(feature), self._load()
        for item in items:
            held[feature] = [h for h in held[feature] if key(feature, h) != key(feature, item)] + [item]
        self._save(held)
        return WriteResult(ok=list(items))

    async def remove(self, feature, items):
        feature, held = Feature(feature), self._load()
        present = {key(feature, h) for h in held[feature]}
        gone = {key(feature, i) for i in items}
        held[feature] = [h for h in held[feature] if key(feature, h) not in gone]
        self._save(held)
        return WriteResult(
            ok=[i for i in items if key(feature, i) in present],
            failed=[(i, "not held") for i in items if key(feature, i) not in present],
        )

    async def aclose(self):
        pass


@hookimpl
def crosswatch_register_providers(register):
    register(ProviderSpec("JSONBOX", JsonBox, {f: FeatureSupport() for f in Feature}, title="JSON box"))


@hookimpl
def crosswatch_config_sections():
    return [ConfigSection("jsonbox", JsonBoxSettings)]
'''

MOVIE_A = {"type": "movie", "ids": {"imdb": "tt0000101"}, "title": "Alpha", "year": 1999}
MOVIE_B = {"type": "movie", "ids": {"imdb": "tt0000102"}, "title": "Beta", "year": 2004}
MOVIE_C = {"type": "movie", "ids": {"tmdb": "9003"}, "title": "Gamma", "year": 2012}
SHOW = {"type": "show", "ids": {"tvdb": "70001"}, "title": "Delta"}


def episode(number: int, **fields: Any) -> dict[str, Any]:
    return {"type": "episode", "show_ids": {"tvdb": "70001"}, "show_title": "Delta", "season": 1, "episode": number} | (
        fields
    )


JSONBOX_DATA = {
    "watchlist": [MOVIE_A | {"listed_at": "2024-03-01T10:00:00Z"}, SHOW | {"listed_at": "2024-03-02T10:00:00Z"}],
    "ratings": [MOVIE_A | {"rating": 8}, MOVIE_B | {"rating": 6}, SHOW | {"rating": 9}],
    "history": [
        MOVIE_A | {"watched_at": "2024-01-01T20:00:00Z"},
        MOVIE_A | {"watched_at": "2024-02-01T20:00:00Z"},
        episode(1, watched_at="2024-01-05T21:00:00Z"),
        episode(2, watched_at="2024-01-06T21:00:00Z"),
        MOVIE_B,  # marked watched, no date
        episode(3),  # likewise
    ],
    "progress": [MOVIE_C | {"progress_ms": 600_000, "duration_ms": 6_000_000, "paused_at": "2024-04-01T18:00:00Z"}],
}
DATED = {
    **JSONBOX_DATA,
    "history": [p for p in JSONBOX_DATA["history"] if "watched_at" in p],
}


def jsonbox(env: CwEnv) -> Path:
    """The JSONBOX drop-in plugin in the config dir, with its data file seeded; returns that file."""
    (env.folder / "plugins.d").mkdir()
    (env.folder / "plugins.d" / "jsonbox.py").write_text(JSONBOX_PLUGIN)
    data = env.folder.parent / "jsonbox.json"
    data.write_text(json.dumps(JSONBOX_DATA))
    env.configure({"jsonbox": {"path": str(data)}})
    return data


def contents(data: Path) -> dict[str, list[str]]:
    """The JSON file's items per feature, order-insensitive."""
    held = json.loads(data.read_text())
    return {f: sorted(json.dumps(i, sort_keys=True) for i in held.get(f, [])) for f in FEATURES}


def test_history_items_without_a_date_are_left_out_and_counted(cw_env: CwEnv) -> None:
    env = cw_env
    jsonbox(env)
    created = env.cli("capture", "create", "--provider", "jsonbox", "--feature", "history", "--label", "plays")
    assert created.code == 0, created.err
    assert re.search(r"\(history: 4 items; (movie 2, episode 2|episode 2, movie 2)\)", created.out), created.out
    assert "2 items without a date were not captured" in created.out
    (name,) = re.findall(r"created (\S+)", created.out)
    assert name.endswith("__JSONBOX__history__plays.json") and (env.store.root / name).is_file()
    shown = env.json("capture", "show", name, "--items", "--json")
    assert (shown["count"], shown["without_date"]) == (4, 2)
    assert all(i["watched_at"] for i in shown["items"])
    assert "2 items without a date were not captured" in env.cli("capture", "show", name).out


def test_a_third_party_provider_round_trips(cw_env: CwEnv) -> None:
    env = cw_env
    data = jsonbox(env)
    listed = env.json("plugins", "list", "--json")
    assert any(p["name"] == "jsonbox" and p["status"] == "loaded" and p["providers"] == ["JSONBOX"] for p in listed)

    refs = create(env, "jsonbox", "all", label="box")
    bundle, children = refs[0], by_feature(refs[1:])
    assert {f: children[f]["count"] for f in FEATURES} == {"watchlist": 2, "ratings": 3, "history": 4, "progress": 1}
    assert children["history"]["without_date"] == 2 and bundle["without_date"] == 2

    cleared = env.json("tools", "clear", "--provider", "jsonbox", "--feature", "all", "--yes", "--json")
    assert cleared["removed"]["history"] == {"episode": 3, "movie": 3}  # the undated plays are cleared too
    assert len(cleared["safety_captures"]) == 5 and cleared["failed"] == []
    assert contents(data) == {f: [] for f in FEATURES}

    report = env.json("capture", "restore", bundle["path"], "--mode", "merge", "--yes", "--json")
    assert report["applied"] and all(f["failed"] == [] for f in report["features"])
    assert contents(data) == contents_of(DATED)  # everything captured is back; undated plays were never captured
    again = create(env, "jsonbox", "all")
    assert_no_difference(env, bundle["path"], again[0]["path"])

    # clear mode: a stray title is removed, after a safety capture that holds it
    held = json.loads(data.read_text())
    held["watchlist"].append(MOVIE_B | {"listed_at": "2024-05-01T10:00:00Z"})
    data.write_text(json.dumps(held))
    report = env.json("capture", "restore", bundle["path"], "--mode", "clear", "--yes", "--json")
    assert report["applied"] and len(report["safety_captures"]) == 5
    safety = by_feature([env.json("capture", "show", s, "--json") for s in report["safety_captures"]])
    assert safety["watchlist"]["count"] == 3 and safety["all"]["type"] == "safety"
    assert contents(data) == contents_of(DATED)
    assert_no_difference(env, bundle["path"], create(env, "jsonbox", "all")[0]["path"])


def contents_of(raw: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    return {f: sorted(json.dumps(i, sort_keys=True) for i in raw.get(f, [])) for f in FEATURES}
