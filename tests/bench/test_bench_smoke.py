"""CI runs the core benchmark at a tiny size: it must work, not be fast."""

from __future__ import annotations

import pytest

from tests.bench import bench_captures, bench_core, bench_metrics, bench_plex, bench_runs, bench_sync, bench_trakt

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


def test_sync_benchmark_smoke() -> None:
    size = ["--size", "40", "--plays", "120", "--ratings", "30", "--watchlist", "8"]
    result = bench_sync.main([*size, "--trakt-keep", "0", "--latency-ms", "1"])
    first, second = result["first_run"], result["second_run"]
    assert first["ok"] and first["added_total"] > 0 and first["added"]["history episode"] > 0
    assert first["trakt_writes"] == first["expected_writes"] == 3 and first["trakt_throttled"] == 0
    assert result["trakt_after"]["history"] == {"held": first["plan"][2]["add"], "reported": first["plan"][2]["add"]}
    assert second["ok"] and second["summary"] == [] and second["trakt_writes"] == 0
    assert second["requests"] <= 12


def test_scrobble_benchmark_smoke() -> None:
    from tests.bench import bench_scrobble

    result = bench_scrobble.main(
        ["--concurrency", "2", "--requests", "100", "--warmup", "10", "--events", "2", "--gap-s", "0.3", "--size", "30"]
        + ["--timeout-s", "60"]  # a loaded machine is slow, not wrong
    )
    (run,) = result["webhook_load"]["runs"]
    assert run["concurrency"] == 2 and run["requests"] == 100 and run["statuses"] == {"200": 100}
    assert run["requests_per_s"] > 0 and run["latency_ms"]["p99"] >= run["latency_ms"]["p50"] > 0
    for path in ("watcher", "webhook"):
        figures = result["event_to_trakt"][path]
        # every event reached Trakt as its own action (a 429, retried, is counted in throttled)
        assert figures["arrived"] == figures["events"] == 2 and figures["wrong_action"] == 0
        assert figures["throttled"] >= 0
        assert 0 < figures["latency_ms"]["p50"] <= figures["latency_ms"]["max"]


def test_runs_benchmark_smoke() -> None:
    result = bench_runs.main(["--runs", "300", "--repeat", "1"])
    assert result["runs_recorded"] >= 300 and result["record_run_ms"]["median"] > 0
    assert result["status_exit"] == 1  # the filled history holds a failed run: status says so


def test_metrics_benchmark_smoke() -> None:
    result = bench_metrics.main(["--runs", "200", "--captures", "20", "--repeat", "5", "--backend", "asyncio"])
    assert result


def test_web_benchmark_smoke() -> None:
    from tests.bench import bench_web

    result = bench_web.main(
        ["--captures", "30", "--runs", "300", "--size", "2000", "--repeat", "1", "--idle-seconds", "0.2"]
    )
    assert result["store"]["files"] == 30 and result["store"]["runs"] >= 300
    assert result["overview_ms"]["median"] > 0 and result["capture_first_page_ms"]["median"] > 0
    assert result["compare_vs_cli"] > 0 and result["idle_rss_mb"] > 0
