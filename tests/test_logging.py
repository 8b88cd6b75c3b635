"""Log output: JSON lines or console, and no credential ever reaches it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

import crosswatch.logging as cwlog
from crosswatch.logging import MASK, configure, redact, register_secret

TOKEN = "pLeXt0k3n-9f8e7d6c5b4a"
CLIENT_SECRET = "c1i3ntS3cr3t-0123456789abcdef"


@pytest.fixture(autouse=True)
def isolated_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no registered secrets and leaves structlog and the root logger as found."""
    monkeypatch.setattr(cwlog, "_known", set())
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def out() -> io.StringIO:
    stream = io.StringIO()
    configure(fmt="json", stream=stream)
    return stream


def test_json_format_writes_one_json_object_per_event(out: io.StringIO) -> None:
    log = structlog.get_logger("test")
    log.info("sync.done", pair="plex-to-trakt", added=3)
    log.warning("sync.guard", ratio=0.5)

    first, second = json_lines(out)
    assert first["event"] == "sync.done" and first["pair"] == "plex-to-trakt" and first["added"] == 3
    assert first["level"] == "info" and "timestamp" in first
    assert second["event"] == "sync.guard" and second["level"] == "warning"


def test_level_filters_quieter_events() -> None:
    stream = io.StringIO()
    configure(fmt="json", level="warning", stream=stream)
    log = structlog.get_logger()

    log.info("chatty")
    log.debug("chattier")
    log.error("loud")

    assert [e["event"] for e in json_lines(stream)] == ["loud"]


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "access_token",
        "refresh_token",
        "client_secret",
        "Authorization",
        "password",
        "api_key",
        "X-Plex-Token",
        "cookie",
    ],
)
def test_secret_keys_are_masked(out: io.StringIO, key: str) -> None:
    structlog.get_logger().info("auth.saved", **{key: TOKEN, "user": "alice"})

    [event] = json_lines(out)
    assert event[key] == MASK
    assert event["user"] == "alice"
    assert TOKEN not in out.getvalue()


def test_secret_keys_nested_in_dicts_are_masked(out: io.StringIO) -> None:
    headers = {"X-Plex-Token": TOKEN, "Accept": "application/json", "inner": {"client_secret": CLIENT_SECRET}}

    structlog.get_logger().debug("http.request", headers=headers)
    structlog.get_logger().info("http.request", headers=headers)

    [event] = json_lines(out)
    assert event["headers"]["X-Plex-Token"] == MASK and event["headers"]["inner"]["client_secret"] == MASK
    assert event["headers"]["Accept"] == "application/json"
    assert TOKEN not in out.getvalue() and CLIENT_SECRET not in out.getvalue()


def test_a_registered_secret_is_masked_inside_any_string(out: io.StringIO) -> None:
    register_secret(TOKEN)
    log = structlog.get_logger()

    log.info(f"using {TOKEN} now", detail=f"prefix-{TOKEN}-suffix", items=["a", f"x{TOKEN}"], pair=("p", TOKEN))

    [event] = json_lines(out)
    assert TOKEN not in out.getvalue()
    assert event["event"] == f"using {MASK} now"
    assert event["detail"] == f"prefix-{MASK}-suffix"
    assert event["items"] == ["a", f"x{MASK}"]


def test_a_registered_secret_is_masked_in_exception_text(out: io.StringIO) -> None:
    register_secret(CLIENT_SECRET)
    log = structlog.get_logger()

    try:
        raise RuntimeError(f"token exchange failed for client_secret {CLIENT_SECRET}")
    except RuntimeError:
        log.exception("auth.failed")

    [event] = json_lines(out)
    assert "RuntimeError" in event["exception"] and MASK in event["exception"]
    assert CLIENT_SECRET not in out.getvalue()


def test_short_values_are_not_registered_as_secrets(out: io.StringIO) -> None:
    register_secret("ab")  # would mask every "ab" in every line
    register_secret("")
    register_secret(None)

    structlog.get_logger().info("tab about absent")

    assert json_lines(out)[0]["event"] == "tab about absent"


@pytest.mark.parametrize(
    "text",
    [
        f"GET http://pms:32400/library/sections?X-Plex-Token={TOKEN}&type=1",
        f"GET http://pms:32400/status?x-plex-token={TOKEN}",
        f"Authorization: Bearer {TOKEN}",
        f"POST /oauth/token client_secret={TOKEN}&grant_type=refresh_token",
        f'{{"access_token": "{TOKEN}", "token_type": "bearer", "expires_in": 7776000}}',
        f"X-Plex-Token: {TOKEN}",
    ],
)
def test_tokens_in_urls_headers_and_bodies_are_masked(out: io.StringIO, text: str) -> None:
    structlog.get_logger().info("http", detail=text)

    [event] = json_lines(out)
    assert TOKEN not in out.getvalue()
    assert MASK in event["detail"]


def test_the_rest_of_a_masked_url_stays_readable() -> None:
    url = f"http://pms:32400/library/sections?X-Plex-Token={TOKEN}&type=1"

    assert redact(url) == f"http://pms:32400/library/sections?X-Plex-Token={MASK}&type=1"
    assert redact("Bearer abc.DEF-123_x more words") == f"Bearer {MASK} more words"


def test_webhook_secret_in_the_path_is_masked(out: io.StringIO) -> None:
    secret = "whk-5up3r-s3cret"
    structlog.get_logger().info("web.request", path=f"/webhook/plex/{secret}", line=f"POST /webhook/plex/{secret} 204")

    [event] = json_lines(out)
    assert event["path"] == f"/webhook/plex/{MASK}"
    assert event["line"] == f"POST /webhook/plex/{MASK} 204"
    assert secret not in out.getvalue()


def test_console_format_is_readable_text_and_redacted() -> None:
    stream = io.StringIO()
    configure(fmt="console", stream=stream)

    structlog.get_logger().info("sync.done", pair="plex-to-trakt", token=TOKEN)

    text = stream.getvalue()
    assert "sync.done" in text and "pair=plex-to-trakt" in text and f"token={MASK}" in text
    assert TOKEN not in text
    assert "\x1b[" not in text  # no colour codes when the stream is not a terminal
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_auto_format_is_json_when_not_on_a_terminal() -> None:
    stream = io.StringIO()
    configure(fmt="auto", stream=stream)

    structlog.get_logger().info("hello")

    assert json_lines(stream)[0]["event"] == "hello"


def test_stdlib_logging_goes_through_the_same_redaction(out: io.StringIO) -> None:
    register_secret(TOKEN)

    logging.getLogger("httpx").warning("HTTP Request: GET http://pms:32400/?X-Plex-Token=%s failed", "abcdefgh")
    logging.getLogger("hypercorn.access").warning("POST /webhook/plex/hooksecret99 -> %s", TOKEN)
    logging.getLogger("x").info("below the root level: dropped")

    first, second = json_lines(out)
    assert first["level"] == "warning"
    assert first["event"] == f"HTTP Request: GET http://pms:32400/?X-Plex-Token={MASK} failed"
    assert "hooksecret99" not in second["event"] and TOKEN not in out.getvalue()


def test_stdlib_exception_keeps_its_traceback_redacted(out: io.StringIO) -> None:
    register_secret(TOKEN)

    try:
        raise ConnectionError(f"reset while sending {TOKEN}")
    except ConnectionError:
        logging.getLogger("hypercorn.error").exception("request failed")

    [event] = json_lines(out)
    assert event["event"] == "request failed" and event["level"] == "error"
    assert "ConnectionError" in event.get("exception", "")
    assert TOKEN not in out.getvalue()


def test_configure_again_replaces_the_output(out: io.StringIO) -> None:
    structlog.get_logger().info("first")
    other = io.StringIO()

    configure(fmt="json", stream=other)
    structlog.get_logger().info("second")
    logging.getLogger("lib").warning("third")

    assert [e["event"] for e in json_lines(out)] == ["first"]
    assert [e["event"] for e in json_lines(other)] == ["second", "third"]  # one handler, not two
