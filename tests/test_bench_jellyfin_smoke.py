"""CI runs the Jellyfin benchmark at a tiny size: it must work and count right, not be fast."""

from __future__ import annotations

import pytest

from tests.bench import bench_jellyfin

pytestmark = pytest.mark.slow


def test_jellyfin_benchmark_smoke() -> None:
    size = ["--size", "40", "--plays", "300", "--ratings", "30", "--watchlist", "8", "--progress", "5"]
    result = bench_jellyfin.main([*size, "--marks", "20", "--latency-ms", "1"])
    seeded = result["jellyfin_seeded"]
    assert seeded["plays"] == 300 and seeded["users"] == 5  # three made with POST /Users/New
    admin = seeded["administrator"]
    held = {
        "watchlist": admin["favourites"],
        "ratings": admin["ratings"],
        "history": admin["played"],
        "progress": admin["resume_positions"],
    }
    assert admin["ratings"] == 30 and admin["favourites"] == 8 and admin["resume_positions"] == 5
    # every feature read in full, first and later; an unchanged re-read is one request per library
    for read in ("cold", "warm"):
        assert result["read"][read]["items"] == held
    reread = result["read"]["reread"]
    assert reread["libraries"] == 2
    assert all(f["requests"] == reread["libraries"] for f in reread["features"].values())
    # every mark written once and held by the server
    marks = result["marks"]
    assert marks["marks"] == marks["ok"] == marks["landed"] == marks["writes"] == 20
    # Plex -> Jellyfin: the first run writes Jellyfin only; the second nothing, one listing per library
    # serving every feature (the engine tells the provider what the run reads: ReadAhead)
    first, second = result["pair"]["first_run"], result["pair"]["second_run"]
    assert first["ok"] and first["totals"]["added"] > 0 and first["totals"]["failed"] == 0
    assert first["plex"]["writes"] == 0 and first["jellyfin"]["writes"] > 0
    assert second["ok"] and second["summary"] == [] and second["jellyfin"]["writes"] == second["plex"]["writes"] == 0
    assert all(p["add"] == p["update"] == p["remove"] == 0 for p in second["plan"])
    assert second["jellyfin"]["requests"] == reread["libraries"]
    # the first run read back what it wrote, so the second is not planned again; progress is,
    # since the first run's history marks cleared resume positions on Jellyfin (the server's rule)
    assert {"watchlist", "ratings", "history"} <= set(second["settled"]), second["settled"]
    third = result["pair"]["third_run"]
    assert third["ok"] and third["summary"] == [] and third["jellyfin"]["writes"] == 0
    assert sorted(third["settled"]) == sorted(held)
