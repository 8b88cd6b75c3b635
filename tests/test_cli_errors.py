"""Every failure a person can cause or meet ends in one line on stderr and exit 1.

A network or server fault, a file that is not what it should be, a refusal: ``crosswatch: ...``
and exit 1, the traceback only with ``-v``. A bug (an exception crosswatch does not expect,
here a third-party plugin's) is one ``internal error`` line naming its type, asking for
``-v``. The daemon's scheduled jobs log such a fault as one error line and carry on.
"""

# ruff: noqa: F811  (the pytest fixtures imported from tests.capture_env are test arguments)
from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crosswatch.captures.scheduled import ScheduledCaptures
from crosswatch.commands.common import plugin_host
from crosswatch.config import Config, load_config
from crosswatch.errors import fault_lines, fault_message
from crosswatch.events import ScheduleFired
from crosswatch.plugins import PluginHost
from crosswatch.sync.pairs import PairError
from crosswatch.sync.scheduled import ScheduledSyncs
from tests.capture_env import CwEnv, Result, cw_env, emulators  # noqa: F401  (pytest fixtures)
from tests.dropins import forget_dropins

HISTORY = ("capture", "create", "--provider", "trakt", "--feature", "history")
PAGE_TWO = "GET /sync/history/movies page 2: Trakt answered HTTP 500"
DEEP = 5_000  # levels of nesting: far past what a JSON decoder recurses into


def one_line(result: Result) -> str:
    """The single ``crosswatch: ...`` line of a failed command (exit 1, no traceback).

    Commands that read say what they are reading on stderr too; the failure is the last line.
    """
    assert result.code == 1, result
    assert "Traceback" not in result.err, result.err
    said = [line for line in result.err.splitlines() if line.startswith("crosswatch:")]
    assert len(said) == 1, result.err
    assert result.err.rstrip().splitlines()[-1] == said[0], result.err
    return said[0]


def fail_second_page(env: CwEnv) -> None:
    """Trakt's movie history: page 1 says there are two pages, page 2 fails beyond the retry.

    Scripted faults match a path, not a page, so page 1 is scripted too (an empty page that
    announces a second one); page 2 then answers 500 on the first try and on the retry.
    The pages after the first are read concurrently, so the failure leaves a task group.
    """
    env.configure({"trakt": {"max_retries": 1}})
    page_one = {"x-pagination-page-count": "2", "x-pagination-item-count": "1"}
    env.trakt.faults.add(
        [
            {"method": "GET", "path": "/sync/history/movies", "status": 200, "body": [], "headers": page_one},
            {"method": "GET", "path": "/sync/history/movies", "status": 500, "times": 2},
        ]
    )


# -- network and server faults ------------------------------------------------------------


def test_a_trakt_page_after_the_first_failing_for_good_is_one_line(cw_env: CwEnv) -> None:
    fail_second_page(cw_env)
    assert one_line(cw_env.cli(*HISTORY)) == f"crosswatch: {PAGE_TWO}"
    assert cw_env.trakt.faults.pending == []
    assert cw_env.captures() == set(), "nothing is captured from a partial read"


def test_with_verbose_the_same_failure_shows_its_traceback(cw_env: CwEnv) -> None:
    fail_second_page(cw_env)
    result = cw_env.cli("-v", *HISTORY)
    assert result.code == 1
    assert "Traceback" in result.err
    assert result.err.rstrip().splitlines()[-1] == f"crosswatch: {PAGE_TWO}"


def test_a_sync_run_whose_trakt_read_fails_on_page_two_is_one_line(cw_env: CwEnv) -> None:
    fail_second_page(cw_env)
    pair = {"name": "p", "source": "plex", "target": "trakt", "mode": "one-way", "features": ["history"]}
    cw_env.configure({"trakt": {"max_retries": 1}, "pairs": [pair]})
    result = cw_env.cli("sync", "run", "p")
    assert result.code == 1, result
    assert "Traceback" not in result.err, result.err
    assert PAGE_TWO in result.err + result.out


# -- bad files ----------------------------------------------------------------------------


def test_a_capture_file_nested_too_deeply_is_one_line_naming_it(cw_env: CwEnv) -> None:
    """A hand-edited capture whose item holds a value nested thousands deep: not a capture."""
    folder = cw_env.folder / "snapshots" / "2024-01-01"
    folder.mkdir(parents=True)
    deep = "[" * DEEP + "]" * DEEP
    item = f'{{"type":"movie","ids":{{"imdb":"tt0000001"}},"extra":{{"x":{deep}}}}}'
    header = (
        '{"kind":"crosswatch.capture","format":1,"provider":"TRAKT","profile":"default","feature":"watchlist",'
        '"created":"2024-01-01T00:00:00Z","sha256":"0"'
    )
    (folder / "hand-made.json").write_text(f'{header},"items":[{item}]}}\n')
    line = one_line(cw_env.cli("capture", "show", "2024-01-01/hand-made.json"))
    assert line.startswith("crosswatch: 2024-01-01/hand-made.json: not a capture crosswatch can read"), line


def test_a_state_file_nested_too_deeply_is_one_line_and_moved_aside(cw_env: CwEnv) -> None:
    """Whether the command goes on without the file is its own policy; it says so in one line."""
    path = cw_env.folder / ".cw_state" / "trakt_history.unresolved.json"
    path.write_text("[" * DEEP + "]" * DEEP)
    result = cw_env.cli("unresolved", "list")
    assert "Traceback" not in result.err, result.err
    said = [line for line in result.err.splitlines() if line.startswith("crosswatch:")]
    assert len(said) == 1 and said[0].startswith(f"crosswatch: {path}: corrupt state file"), result.err
    assert not path.exists()
    assert cw_env.cli("unresolved", "list").code == 0, "the next run starts afresh"


def test_a_capture_file_that_is_not_a_capture_is_one_line(cw_env: CwEnv) -> None:
    folder = cw_env.folder / "snapshots" / "2024-01-01"
    folder.mkdir(parents=True)
    (folder / "notes.json").write_text('{"shopping": ["milk"]}\n')
    line = one_line(cw_env.cli("capture", "restore", "2024-01-01/notes.json", "--mode", "merge", "--dry-run"))
    assert line.startswith("crosswatch: 2024-01-01/notes.json: not a capture crosswatch can read"), line


# -- a bug: an exception crosswatch does not expect ---------------------------------------

BUGGY_PLUGIN = textwrap.dedent(
    '''
    """A third party's drop-in whose reader has a bug: it looks up a key the server never sends."""

    import msgspec

    from crosswatch import hookimpl
    from crosswatch.config import ConfigSection
    from crosswatch.model import Feature
    from crosswatch.provider import FeatureSupport, ProviderSpec


    class Settings(msgspec.Struct, kw_only=True, frozen=True):
        url: str = "http://127.0.0.1:1"


    class Buggy:
        def __init__(self, ctx):
            self.id, self.profile = ctx.provider_id, ctx.profile

        async def read(self, feature):
            answer = {"items": []}
            return answer["MediaContainer"]

        async def aclose(self):
            pass


    @hookimpl
    def crosswatch_register_providers(register):
        register(ProviderSpec("BUGGY", Buggy, {Feature.WATCHLIST: FeatureSupport()}, title="Buggy"))


    @hookimpl
    def crosswatch_config_sections():
        return [ConfigSection("buggy", Settings)]
    '''
)

#: the line of the drop-in that raises
BUG_LINE = next(n for n, text in enumerate(BUGGY_PLUGIN.splitlines(), 1) if 'answer["MediaContainer"]' in text)


@pytest.fixture
def buggy(cw_env: CwEnv) -> Iterator[CwEnv]:
    (cw_env.folder / "plugins.d").mkdir()
    (cw_env.folder / "plugins.d" / "buggy.py").write_text(BUGGY_PLUGIN)
    cw_env.configure({"buggy": {"url": "http://127.0.0.1:1"}})
    yield cw_env
    forget_dropins()


def test_a_plugins_bug_is_one_internal_error_line_asking_for_verbose(buggy: CwEnv) -> None:
    result = buggy.cli("capture", "create", "--provider", "buggy", "--feature", "watchlist")
    line = one_line(result)
    # the line names where it was raised: the plugin's own file, so the person knows whom to ask
    assert (
        line
        == f"crosswatch: internal error: KeyError: 'MediaContainer' (buggy.py:{BUG_LINE}) (run with -v to see the traceback)"
    )


def test_with_verbose_a_bug_shows_its_traceback(buggy: CwEnv) -> None:
    result = buggy.cli("-v", "capture", "create", "--provider", "buggy", "--feature", "watchlist")
    assert result.code == 1
    assert "Traceback" in result.err and 'answer["MediaContainer"]' in result.err
    assert (
        result.err.rstrip().splitlines()[-1]
        == f"crosswatch: internal error: KeyError: 'MediaContainer' (buggy.py:{BUG_LINE})"
    )


# -- the daemon's scheduled jobs ----------------------------------------------------------


def daemon_parts(env: CwEnv) -> tuple[PluginHost, Config]:
    host = plugin_host(env.folder)
    return host, load_config(env.folder, host.sections())


def errors(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["log_level"] in ("error", "critical")]


@pytest.mark.anyio
async def test_a_scheduled_capture_whose_trakt_page_two_fails_logs_one_error_line(
    cw_env: CwEnv, logs: list[dict[str, Any]]
) -> None:
    fail_second_page(cw_env)
    schedule = {"name": "nightly", "provider": "trakt", "feature": "history", "cron": "0 3 1 1 *"}
    cw_env.configure({"trakt": {"max_retries": 1}, "captures": {"schedules": [schedule]}})
    host, config = daemon_parts(cw_env)
    job = ScheduledCaptures(host, lambda: config, None)
    await job.on_fired(ScheduleFired("capture:nightly", "capture", "nightly", "", {"schedule": "nightly"}))
    assert [(e["event"], e["error"]) for e in errors(logs)] == [("capture.scheduled_failed", PAGE_TWO)]
    assert cw_env.captures() == set()


@pytest.mark.anyio
async def test_a_scheduled_sync_whose_trakt_page_two_fails_logs_one_error_line(
    cw_env: CwEnv, logs: list[dict[str, Any]]
) -> None:
    fail_second_page(cw_env)
    pair = {"name": "p", "source": "plex", "target": "trakt", "mode": "one-way", "features": ["history"]}
    cw_env.configure({"trakt": {"max_retries": 1}, "pairs": [pair]})
    host, config = daemon_parts(cw_env)
    job = ScheduledSyncs(host, lambda: config, None)
    await job.on_fired(ScheduleFired("sync:p", "sync", "p", "", {"pair": "p"}))
    assert [(e["event"], e["error"]) for e in errors(logs)] == [("sync.failed", PAGE_TWO)]


# -- what counts as a fault ---------------------------------------------------------------


def test_a_group_of_faults_is_each_distinct_message_once_and_a_bug_in_it_is_not_a_fault() -> None:
    page = PairError  # any of crosswatch's errors
    two = ExceptionGroup("pages", [page("page 2 failed"), ExceptionGroup("inner", [page("page 2 failed")])])
    grouped = ExceptionGroup("reads", [two, OSError(28, "No space left on device")])
    assert fault_lines(grouped) == ["page 2 failed", "[Errno 28] No space left on device"]
    assert fault_message(grouped) == "page 2 failed; [Errno 28] No space left on device"
    assert fault_lines(ExceptionGroup("reads", [page("x"), KeyError("id")])) is None  # a bug among them


def test_a_raw_network_error_names_the_request_it_was_for() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:9/sync/history")
    assert fault_lines(httpx.ConnectError("[Errno 111] Connection refused", request=request)) == [
        "GET http://127.0.0.1:9/sync/history: [Errno 111] Connection refused"
    ]
