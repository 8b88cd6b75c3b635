"""Waiting for a condition in async tests (never for an amount of time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest


async def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll ``condition`` until it holds; fail the test naming ``what`` after ``timeout`` seconds."""
    with anyio.move_on_after(timeout):
        while not condition():
            await anyio.sleep(0.02)
        return
    pytest.fail(f"waited {timeout}s for {what}")
