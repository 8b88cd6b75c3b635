"""Shared fixtures: every async test runs on both anyio backends; ``logs`` captures structlog events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event at any level, whatever logging set-up an earlier test or command left."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(0))
    try:
        with capture_logs() as captured:
            yield captured
    finally:
        structlog.configure(**saved)
