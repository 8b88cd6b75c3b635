"""Notifications reach a real local receiver once per change of a job's state, and never fail a job.

The receiver is a Starlette app on loopback (hypercorn, both anyio backends) recording every
POST; webhook targets post to it with httpx, Apprise targets through Apprise's ``json://``.
"""

# ruff: noqa: F811  (the pytest fixtures imported from tests.sync_env are test arguments)

from __future__ import annotations

import io
import json
import logging
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crosswatch.config import load_config
from crosswatch.config.types import Config
from crosswatch.emulation.server import serve_app, serve_in_thread
from crosswatch.logging import configure as configure_logging
from crosswatch.notify import notify_guard, notify_run, run_events
from crosswatch.runs import RunHistory
from crosswatch.state import StateDir
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401  (pytest fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")  # Apprise's import

SECRETS = ("hunter2pass", "s3cretT0kenInPath", "qu3ryT0kenValue", "AAprSecret", "apprisePassw0rd", "AppT0kenGotify")


class Receiver:
    """Records each POST (path, JSON body, Authorization header); ``/status/N`` answers N."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.fast_arrived: anyio.Event | None = None

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        body = json.loads(await request.body() or b"null")
        self.posts.append({"path": path, "body": body, "auth": request.headers.get("authorization")})
        if path.startswith("/status/"):
            return Response("no", status_code=int(path.rsplit("/", 1)[1]))
        if path == "/slow":  # answers only once the other target's post has arrived
            assert self.fast_arrived is not None
            await self.fast_arrived.wait()
        if path == "/fast" and self.fast_arrived is not None:
            self.fast_arrived.set()
        return JSONResponse({"ok": True})

    def at(self, path: str) -> list[dict[str, Any]]:
        return [p["body"] for p in self.posts if p["path"] == path]


def _app(receiver: Receiver) -> Starlette:
    return Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])


@asynccontextmanager
async def receiving() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    async with serve_app(_app(receiver)) as url:
        yield receiver, url


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configured(folder: Path, targets: list[dict[str, Any]], timeout_s: float = 10.0) -> Config:
    """A config directory whose config.toml holds these ``[[notify.targets]]`` (read as crosswatch reads it)."""
    import tomli_w

    folder.mkdir(exist_ok=True)
    notify = {"timeout_s": timeout_s, "targets": targets}
    (folder / "config.toml").write_text(tomli_w.dumps({"daemon": {"listen": ""}, "notify": notify}))
    return load_config(folder)


async def run_job(config: Config, result: str, job: str = "sync:p", error: str | None = None) -> None:
    """One finished run of ``job`` in the real run history, then told as core tells it."""
    runs = RunHistory(StateDir(config.config_dir))
    run = runs.start(job, "sync", "schedule", pair="p")
    if result != "ok" and error is None:
        error = "TRAKT: cannot connect to 127.0.0.1:9 (connection refused)"
    previous = runs.finish(run, result, counts={"added": 3, "removed": 1}, error=error, requests=7)
    await notify_run(config, run, previous)


def warnings_of(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["log_level"] in ("warning", "error")]


# -- the rules ----------------------------------------------------------------------------------


def test_the_rules_one_event_per_change_of_state() -> None:
    assert run_events("failed", None) == {"failure"}
    assert run_events("failed", "ok") == {"failure"}
    for bad in ("failed", "refused", "interrupted"):
        assert run_events(bad, "failed") == set()
        assert run_events(bad, "interrupted") == set()
        assert run_events("ok", bad) == {"recovered", "success"}
    assert run_events("ok", "ok") == run_events("ok", None) == {"success"}
    assert run_events("running", None) == set()


@pytest.mark.anyio
async def test_a_job_that_keeps_failing_is_told_once_and_its_recovery_once(tmp_path: Path) -> None:
    async with receiving() as (receiver, url):
        config = configured(tmp_path / "cfg", [{"url": url + "/hook"}])
        for result in ("ok", "failed", "failed", "failed", "ok", "ok"):
            await run_job(config, result)
    events = [b["event"] for b in receiver.at("/hook")]
    assert events == ["failure", "recovered"]
    failure, recovered = receiver.at("/hook")
    assert failure["job"] == "sync:p" and failure["kind"] == "sync" and failure["result"] == "failed"
    assert failure["error"] == "TRAKT: cannot connect to 127.0.0.1:9 (connection refused)"
    assert failure["counts"] == {"added": 3, "removed": 1} and failure["trigger"] == "schedule"
    assert failure["previous"] == "ok" and failure["ended"] >= failure["started"] > 0
    assert "sync:p failed" in failure["text"] and "TRAKT: cannot connect" in failure["text"]
    assert "added 3" in failure["text"]
    assert recovered["result"] == "ok" and recovered["previous"] == "failed"
    assert "sync:p recovered" in recovered["text"]


@pytest.mark.anyio
async def test_each_job_has_its_own_state(tmp_path: Path) -> None:
    async with receiving() as (receiver, url):
        config = configured(tmp_path / "cfg", [{"url": url + "/hook"}])
        await run_job(config, "failed", job="sync:a")
        await run_job(config, "refused", job="sync:b")  # a first run that is refused: a failure
        await run_job(config, "interrupted", job="sync:a")  # still not ok: nothing new
        await run_job(config, "ok", job="sync:b")
    told = [(b["job"], b["event"], b["result"]) for b in receiver.at("/hook")]
    assert told == [("sync:a", "failure", "failed"), ("sync:b", "failure", "refused"), ("sync:b", "recovered", "ok")]


@pytest.mark.anyio
async def test_success_is_sent_for_every_ok_run_when_asked(tmp_path: Path) -> None:
    async with receiving() as (receiver, url):
        targets = [
            {"url": url + "/only-success", "on": ["success"]},
            {"url": url + "/everything", "on": ["failure", "recovered", "success"]},
        ]
        config = configured(tmp_path / "cfg", targets)
        for result in ("ok", "failed", "ok", "ok"):
            await run_job(config, result)
    assert [b["event"] for b in receiver.at("/only-success")] == ["success", "success", "success"]
    # one message per run and target: the recovery is told as such, not twice
    assert [b["event"] for b in receiver.at("/everything")] == ["success", "failure", "recovered", "success"]


@pytest.mark.anyio
async def test_targets_are_told_at_once(tmp_path: Path) -> None:
    async with receiving() as (receiver, url):
        receiver.fast_arrived = anyio.Event()
        # told one after the other, /slow would wait for /fast forever (and time out)
        targets = [{"url": url + "/slow"}, {"url": url + "/fast"}]
        config = configured(tmp_path / "cfg", targets, timeout_s=20)
        with anyio.fail_after(30):
            await run_job(config, "failed")
    assert len(receiver.at("/slow")) == len(receiver.at("/fast")) == 1


@pytest.mark.anyio
async def test_an_unreachable_target_and_one_answering_500_are_one_warning_each(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    async with receiving() as (receiver, url):
        targets = [
            {"url": f"http://127.0.0.1:{closed_port()}/hook"},
            {"url": url + "/status/500", "name": "uptime-kuma"},
            {"url": url + "/hook"},
        ]
        config = configured(tmp_path / "cfg", targets)
        await run_job(config, "ok")
        await run_job(config, "failed")  # must not raise
    assert len(receiver.at("/hook")) == 1  # the good target is told all the same
    warned = warnings_of(logs)
    assert [w["event"] for w in warned] == ["notify.failed", "notify.failed"]
    by_target = {w["target"]: w for w in warned}
    port = targets[0]["url"].split(":")[2].split("/")[0]
    assert set(by_target) == {f"http://127.0.0.1:{port}", "uptime-kuma"}
    assert "Connect" in by_target[f"http://127.0.0.1:{port}"]["error"]
    assert by_target["uptime-kuma"]["error"] == "HTTP 500 Internal Server Error"
    assert all(w["about"] == "sync:p" and w["notify_event"] == "failure" for w in warned)


@pytest.mark.anyio
async def test_a_target_that_does_not_answer_is_given_up_after_timeout_s(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    async with receiving() as (receiver, url):
        receiver.fast_arrived = anyio.Event()  # never set: /slow never answers
        config = configured(tmp_path / "cfg", [{"url": url + "/slow"}], timeout_s=0.5)
        with anyio.fail_after(20):
            await run_job(config, "failed")
        receiver.fast_arrived.set()
    (warned,) = warnings_of(logs)
    assert warned["event"] == "notify.failed" and warned["error"] == "no answer within 0.5 s"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What crosswatch's own logging set-up writes: JSON lines, stdlib loggers (httpx, Apprise) included."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=out)
    try:
        yield out
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.anyio
async def test_secrets_in_target_urls_never_reach_the_log(tmp_path: Path, log_output: io.StringIO) -> None:
    port = closed_port()
    async with receiving() as (receiver, url):
        host = url.removeprefix("http://")
        targets = [
            # told: basic auth from the URL, a token in the path and in the query
            {"url": f"http://alice:hunter2pass@{host}/hook/s3cretT0kenInPath?token=qu3ryT0kenValue"},
            # failing, each with secrets in its URL
            {"url": f"http://alice:hunter2pass@127.0.0.1:{port}/s3cretT0kenInPath?key=qu3ryT0kenValue"},
            {"url": f"https://alice:hunter2pass@{host}/s3cretT0kenInPath"},  # TLS to a plain-HTTP server
            {"url": f"json://bob:apprisePassw0rd@127.0.0.1:{port}/s3cretT0kenInPath"},
            {"url": f"gotify://127.0.0.1:{port}/AppT0kenGotify"},
            {"url": "nosuch://bot8812:AAprSecret@x/"},  # a scheme Apprise does not know
        ]
        config = configured(tmp_path / "cfg", targets, timeout_s=5)
        await run_job(config, "failed")
    (told,) = receiver.posts
    assert told["path"] == "/hook/s3cretT0kenInPath" and told["auth"].startswith("Basic ")
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    failed = {line["target"] for line in lines if line["event"] == "notify.failed"}
    labels = [f"http://127.0.0.1:{port}", f"https://{host}", "json:// (target 4)", "gotify:// (target 5)"]
    assert failed == {*labels, "nosuch:// (target 6)"}
    assert sum(line["event"] == "notify.failed" for line in lines) == 5
    text = log_output.getvalue()
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.anyio
async def test_an_apprise_target_delivers_through_apprise(tmp_path: Path) -> None:
    pytest.importorskip("apprise", reason="the [notify] extra (apprise) is not installed")
    async with receiving() as (receiver, url):
        host = url.removeprefix("http://")
        config = configured(tmp_path / "cfg", [{"url": f"json://{host}/apprise", "on": ["failure", "recovered"]}])
        await run_job(config, "failed")
        await run_job(config, "failed")
        await run_job(config, "ok")
    failure, recovered = receiver.at("/apprise")
    assert failure["type"] == "failure" and failure["title"] == "crosswatch: sync:p failed"
    assert "error: TRAKT: cannot connect to 127.0.0.1:9" in failure["message"]
    assert "counts: added 3, removed 1" in failure["message"]
    assert recovered["type"] == "success" and recovered["title"] == "crosswatch: sync:p recovered"


@pytest.mark.anyio
async def test_without_apprise_installed_an_apprise_target_is_one_line_naming_the_extra(
    tmp_path: Path, logs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # as if the extra were not installed
    async with receiving() as (receiver, url):
        config = configured(tmp_path / "cfg", [{"url": "ntfy://ntfy.example/crosswatch"}, {"url": url + "/hook"}])
        await run_job(config, "failed")
    assert len(receiver.at("/hook")) == 1
    (line,) = warnings_of(logs)
    assert line["event"] == "notify.apprise_missing" and line["log_level"] == "error"
    assert "pip install 'crosswatchd[notify]'" in line["error"]


@pytest.mark.anyio
async def test_guard_problems_go_to_the_targets_that_ask_for_them(tmp_path: Path) -> None:
    async with receiving() as (receiver, url):
        targets = [{"url": url + "/guard", "on": ["guard"]}, {"url": url + "/jobs"}]
        config = configured(tmp_path / "cfg", targets)
        await notify_guard(
            config,
            "a listener pause expired without its writer saying finished",
            lease="tool:trakt/ratings",
            cause="ToolStarting",
            paused=["trakt:ratings"],
        )
    assert receiver.at("/jobs") == []
    (told,) = receiver.at("/guard")
    assert told["event"] == "guard"
    assert told["text"] == "crosswatch: guard: a listener pause expired without its writer saying finished"
    assert told["detail"] == {"lease": "tool:trakt/ratings", "cause": "ToolStarting", "paused": ["trakt:ratings"]}


# -- end to end: a real `crosswatch sync run` -------------------------------------------------------


@pytest.fixture
def hook() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    with serve_in_thread(_app(receiver)) as url:
        yield receiver, url + "/hook"


def test_a_sync_run_that_fails_then_succeeds_notifies_once_each(sync_env: SyncEnv, hook: tuple[Receiver, str]) -> None:
    env = sync_env
    receiver, url = hook
    pair = env.pair("p", features=["watchlist"])
    down = {"trakt": {"api_url": f"http://127.0.0.1:{closed_port()}", "max_retries": 0}}
    env.cw.configure({"pairs": [pair], "notify": {"targets": [{"url": url}]}, **down})

    for _ in range(2):
        result = env.cli("sync", "run", "p")
        assert result.code == 1 and "ConnectError" in result.err, result.err
    (failure,) = receiver.at("/hook")
    assert failure["event"] == "failure" and failure["job"] == "sync:p" and failure["result"] == "failed"
    assert failure["trigger"] == "command" and failure["pair"] == "p"
    assert f"crosswatch: {failure['error']}" in result.err  # the line the command printed

    env.cw.configure({"pairs": [pair], "notify": {"targets": [{"url": url}]}})
    for _ in range(2):
        env.run("p")
    assert [b["event"] for b in receiver.at("/hook")] == ["failure", "recovered"]
    recovered = receiver.at("/hook")[1]
    assert recovered["result"] == "ok" and recovered["previous"] == "failed"
