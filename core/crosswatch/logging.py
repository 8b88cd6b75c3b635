"""structlog set-up: console on a terminal, JSON lines otherwise; secrets redacted from every event."""

from __future__ import annotations

import logging as stdlib_logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_KEY = re.compile(r"token|secret|password|passwd|authorization|api[_-]?key|cookie|credential", re.I)
_PATTERNS = (
    re.compile(
        r"(?i)((?:X-Plex-Token|access_token|refresh_token|token|api_key|apikey|client_secret|secret)=)[^&\s\"',;]+"
    ),
    # JSON bodies and header dumps: "access_token": "...", X-Plex-Token: ...
    re.compile(
        r"""(?i)(["']?(?:X-Plex-Token|access_token|refresh_token|client_secret|api_key|apikey|password)["']?\s*:\s*["']?)[^"'\s,;}&]+"""
    ),
    re.compile(r"(?i)(Bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(/webhook/[a-z0-9_-]+/)[^/\s\"'?]+"),
)
MASK = "***"
_known: set[str] = set()


def register_secret(value: str | None) -> None:
    """Make every later log line mask ``value`` wherever it appears (tokens, client secrets)."""
    if value and len(value) >= 6:
        _known.add(value)


def redact(value: Any) -> Any:
    """Mask secrets in a log value: known secret strings, token-like URL parameters, bearer tokens."""
    if isinstance(value, str):
        for secret in _known:
            if secret in value:
                value = value.replace(secret, MASK)
        for pattern in _PATTERNS:
            value = pattern.sub(lambda m: m[1] + MASK, value)
        return value
    if isinstance(value, dict):
        return {k: (MASK if _is_secret_key(k, v) else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return type(value)(redact(v) for v in value) if not isinstance(value, set) else [redact(v) for v in value]
    return value


def _is_secret_key(key: Any, value: Any) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key)) and value not in (None, "", False)


def _redact_processor(logger: Any, method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    return {k: (MASK if _is_secret_key(k, v) and k != "event" else redact(v)) for k, v in event.items()}


class _ToStructlog(stdlib_logging.Handler):
    """Route stdlib logging (hypercorn, httpx, ...) through structlog, so it is redacted too."""

    def emit(self, record: stdlib_logging.LogRecord) -> None:
        log = structlog.get_logger(record.name)
        method = getattr(log, record.levelname.lower(), log.info)
        try:
            method(record.getMessage(), logger=record.name, exc_info=record.exc_info or False)
        except Exception:  # a broken log call must never break the daemon
            self.handleError(record)


def wants_console(fmt: str, stream: TextIO) -> bool:
    if fmt == "console":
        return True
    if fmt == "json":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def configure(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Set up logging for the CLI and the daemon (may be called again on reload)."""
    stream = stream or sys.stderr
    console = wants_console(fmt, stream)
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=console and stream.isatty())
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(stdlib_logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    root = stdlib_logging.getLogger()
    root.handlers[:] = [_ToStructlog()]
    root.setLevel(stdlib_logging.WARNING)
