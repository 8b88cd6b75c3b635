"""State files of the wrong shape, as the commands that read them meet them.

A file under ``.cw_state`` that parses as JSON but is not what crosswatch wrote there (a list
for an object, ``null``, a string, an entry missing a field) is moved aside as
``<name>.corrupt-<time>`` with one message naming it, and the command goes on as it would
without the file: never a traceback, never a pair blocked for good. Each kind of file is
planted in a signed-in config directory and the real command that reads it is run against
the Plex and Trakt emulators (real HTTP on loopback).
"""

# ruff: noqa: F811  (the pytest fixtures imported from tests.sync_env are test arguments)
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.capture_env import Result
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401  (pytest fixtures)

#: JSON that parses but is the shape of no state file
WRONG = {"list": "[1, 2, 3]", "object": '{"a": 1}', "null": "null", "string": '"str"'}


def shapes(**bad_entries: str) -> list[Any]:
    """The wrong shapes every kind of file is tried with, and that kind's damaged entries."""
    return [pytest.param(text, id=name) for name, text in {**WRONG, **bad_entries}.items()]


def plant(env: SyncEnv, name: str, content: str) -> Path:
    path = env.cw.folder / ".cw_state" / name
    path.write_text(content)
    return path


def assert_set_aside(path: Path, content: str, result: Result) -> None:
    """Moved aside byte for byte as ``<name>.corrupt-<time>``, named in a message, no traceback."""
    moved = sorted(path.parent.glob(path.name + ".corrupt-*"))
    assert [m.read_text() for m in moved] == [content], f"{path.name} was not moved aside: {result.err}"
    assert str(path) in result.err, f"no message names {path}: {result.err!r}"
    assert "Traceback" not in result.err and "Error:" not in result.err, result.err


def frozen_entry(reason: str = "no match on Trakt") -> dict[str, Any]:
    """One entry of an unresolved file as crosswatch writes it."""
    item = {"type": "movie", "ids": {"imdb": "tt0000001"}, "title": "Some Film", "year": 1999}
    return {"item": item, "reason": reason, "since": "2024-01-01T00:00:00Z", "seen": 1}


NO_REASON = json.dumps({"movie:imdb:tt0000001": {k: v for k, v in frozen_entry().items() if k != "reason"}})


# -- frozen items (<provider>_<feature>.unresolved.json) ---------------------------------------


@pytest.mark.parametrize("content", shapes(missing_field=NO_REASON))
@pytest.mark.parametrize("side", ["plex", "trakt"])
def test_a_wrong_shaped_unresolved_file_does_not_block_the_pair(sync_env: SyncEnv, side: str, content: str) -> None:
    env = sync_env
    env.pairs(env.pair("p", features=["history"]))
    path = plant(env, f"{side}_history.unresolved.json", content)

    result = env.cli("sync", "run", "p", "--json")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["ok"] and report["summary"], report  # the run went on and wrote the plays
    assert_set_aside(path, content, result)


@pytest.mark.parametrize("content", shapes(missing_field=NO_REASON))
def test_unresolved_list_sets_a_wrong_shaped_file_aside_and_lists_the_rest(sync_env: SyncEnv, content: str) -> None:
    env = sync_env
    path = plant(env, "plex_history.unresolved.json", content)
    plant(env, "trakt_ratings.unresolved.json", json.dumps({"movie:imdb:tt0000001": frozen_entry()}))

    result = env.cli("unresolved", "list")

    assert result.code == 0, result.err
    assert "Some Film" in result.out and "no match on Trakt" in result.out
    assert "1 unresolved item(s)" in result.out
    assert_set_aside(path, content, result)
    again = env.cli("unresolved", "list", "--json")  # the file is gone: nothing more to say
    assert again.code == 0 and again.err == ""
    assert [row["key"] for row in json.loads(again.out)] == ["movie:imdb:tt0000001"]


@pytest.mark.parametrize("content", shapes(missing_field=NO_REASON))
def test_unresolved_clear_of_a_wrong_shaped_file_releases_nothing(sync_env: SyncEnv, content: str) -> None:
    env = sync_env
    path = plant(env, "plex_history.unresolved.json", content)

    result = env.cli("unresolved", "clear", "--provider", "plex", "--feature", "history", "--yes")

    assert result.code == 0, result.err
    assert "nothing to release" in result.out
    assert_set_aside(path, content, result)


# -- a settled run (sync_<pair>_<feature>.settled.json) ----------------------------------------


@pytest.mark.parametrize("content", shapes(missing_field='{"settled": "yes"}'))
def test_a_wrong_shaped_settled_file_is_a_run_that_settled_nothing(sync_env: SyncEnv, content: str) -> None:
    env = sync_env
    env.pairs(env.pair("p", features=["watchlist"]))
    path = plant(env, "sync_p_watchlist.settled.json", content)

    result = env.cli("sync", "run", "p", "--json")

    assert result.code == 0, result.err
    assert json.loads(result.out)["ok"]
    assert_set_aside(path, content, result)


# -- Plex: read caches, the fallback memo, the sign-in ------------------------------------------


def captured(env: SyncEnv, provider: str, feature: str) -> Result:
    return env.cli("capture", "create", "--provider", provider, "--feature", feature, "--json")


def count_of(result: Result) -> int:
    assert result.code == 0, result.err
    return json.loads(result.out)[0]["count"]


ENTRY_WITHOUT_FINGERPRINT = '{"version": 1, "settings": "x", "entries": {"k": {"read_at": 1.0}}}'


@pytest.mark.parametrize("content", shapes(missing_field=ENTRY_WITHOUT_FINGERPRINT))
def test_a_wrong_shaped_plex_read_cache_is_read_in_full(sync_env: SyncEnv, content: str) -> None:
    env = sync_env
    path = plant(env, "plex_ratings.index.json", content)

    result = captured(env, "plex", "ratings")

    assert_set_aside(path, content, result)
    assert count_of(result) == count_of(captured(env, "plex", "ratings")) > 0  # as a read with a good cache


@pytest.mark.parametrize("content", shapes(bad_entry='{"plex://movie/5d776b59ad5437001f79c6f8": "tt1"}'))
def test_a_wrong_shaped_plex_fallback_memo_is_looked_up_again(sync_env: SyncEnv, content: str) -> None:
    env = sync_env
    env.cw.configure({"plex": {"fallback_GUID": True}})
    path = plant(env, "plex_fallback_memo.json", content)

    result = captured(env, "plex", "history")

    assert_set_aside(path, content, result)
    assert count_of(result) > 0
    memo = json.loads(path.read_text())  # looked up afresh and memoised again
    assert memo and all(isinstance(ids, dict) for ids in memo.values())


@pytest.mark.parametrize("content", shapes(missing_field='{"client_id": "crosswatch-x"}'))
def test_a_wrong_shaped_plex_sign_in_is_not_signed_in(sync_env: SyncEnv, content: str) -> None:
    env = sync_env
    path = plant(env, "plex.tokens.json", content)

    result = captured(env, "plex", "watchlist")

    assert result.code == 1
    assert "not signed in to Plex" in result.err and "crosswatch auth plex" in result.err
    assert_set_aside(path, content, result)


@pytest.mark.parametrize("content", shapes(missing_field='{"id": "crosswatch-x"}'))
def test_a_wrong_shaped_plex_client_id_file_gets_a_new_id_at_sign_in(sync_env: SyncEnv, content: str) -> None:
    env = sync_env
    path = plant(env, "plex.client.json", content)

    result = env.cli("auth", "plex")

    assert result.code == 0, result.err
    assert_set_aside(path, content, result)
    assert json.loads(path.read_text())["client_id"].startswith("crosswatch-")
    assert count_of(captured(env, "plex", "watchlist")) > 0  # the new sign-in works


# -- Trakt: the watchlist shadow, index files, the sign-in --------------------------------------


@pytest.mark.parametrize(
    ("name", "feature", "content"),
    [
        *(pytest.param("trakt_watchlist.shadow.json", "watchlist", t, id=f"shadow-{k}") for k, t in WRONG.items()),
        pytest.param("trakt_watchlist.shadow.json", "watchlist", '{"read_at": 1, "items": []}', id="shadow-no-etag"),
        *(pytest.param("trakt_ratings.index.json", "ratings", t, id=f"index-{k}") for k, t in WRONG.items()),
        pytest.param("trakt_ratings.index.json", "ratings", '{"stamps": {}, "read_at": {}}', id="index-no-groups"),
    ],
)
def test_a_wrong_shaped_trakt_cache_is_read_afresh(sync_env: SyncEnv, name: str, feature: str, content: str) -> None:
    env = sync_env
    path = plant(env, name, content)

    result = captured(env, "trakt", feature)

    assert_set_aside(path, content, result)
    assert count_of(result) == count_of(captured(env, "trakt", feature)) > 0


NO_REFRESH_TOKEN = '{"access_token": "x", "expires_in": 1, "created_at": 1}'


@pytest.mark.parametrize("content", shapes(missing_field=NO_REFRESH_TOKEN))
def test_a_wrong_shaped_trakt_sign_in_is_not_signed_in(sync_env: SyncEnv, content: str) -> None:
    env = sync_env
    path = plant(env, "trakt.tokens.json", content)

    result = captured(env, "trakt", "watchlist")

    assert result.code == 1
    assert "not signed in to Trakt" in result.err and "crosswatch auth trakt" in result.err
    assert_set_aside(path, content, result)
