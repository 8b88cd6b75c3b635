"""CI runs the core benchmark at a tiny size: it must work, not be fast."""

from __future__ import annotations

import pytest

from tests.bench import bench_core

pytestmark = pytest.mark.slow


def test_core_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench_core.main(["--idle-seconds", "0.5", "--repeat", "1", "--backend", "asyncio"])
    figures = result["backends"]["asyncio"]
    assert figures["startup_to_ready_s"]["median"] > 0
    assert figures["idle_rss_mb"] > 0
    assert figures["reload_latency_s"]["median"] > 0
    assert result["help_s"]["median"] > 0
    assert '"benchmark": "core"' in capsys.readouterr().out
