"""CI runs the core benchmark at a tiny size: it must work, not be fast."""

from __future__ import annotations

import pytest

from tests.bench import bench_captures, bench_core, bench_plex, bench_trakt

pytestmark = pytest.mark.slow


def test_core_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench_core.main(["--idle-seconds", "0.5", "--repeat", "1", "--backend", "asyncio"])
    figures = result["backends"]["asyncio"]
    assert figures["startup_to_ready_s"]["median"] > 0
    assert figures["idle_rss_mb"] > 0
    assert figures["reload_latency_s"]["median"] > 0
    assert result["help_s"]["median"] > 0
    assert '"benchmark": "core"' in capsys.readouterr().out


def test_trakt_benchmark_smoke() -> None:
    result = bench_trakt.main(
        ["--plays", "600", "--size", "200", "--write-plays", "12", "--batch", "5", "--latency-ms", "1"]
    )
    assert result["history_read"]["plays"] == 600
    assert result["history_write"]["writes"] == result["history_write"]["expected_writes"] == 3
    assert result["history_write"]["throttled"] == 0
    assert result["no_change_read"]["requests"] <= 4


def test_plex_benchmark_smoke() -> None:
    result = bench_plex.main(["--size", "40", "--plays", "300", "--rate", "20", "--latency-ms", "1"])
    assert result["read"]["plays"] > 0 and result["read"]["requests"] > 0
    assert result["rate"]["ok"] == result["rate"]["items"] == 20


def test_captures_benchmark_smoke() -> None:
    result = bench_captures.main(["--size", "2000", "--captures", "30", "--repeat", "1"])
    create = result["create"]
    assert create["items"] == 2000 and create["seconds"]["median"] > 0
    assert create["peak_rss_mb"] >= create["items_rss_mb"] > 0
    compare = result["compare"]
    assert (compare["history"]["added"], compare["history"]["removed"]) == (60, 40)
    assert (compare["ratings"]["added"], compare["ratings"]["removed"], compare["ratings"]["updated"]) == (60, 40, 60)
    listing = result["list"]
    assert listing["files"] == 30 and listing["store_list_s"]["median"] > 0
    assert listing["process_list_json_s"]["median"] > 0
