"""The example plugin ``examples/crosswatch-csvlog`` as a third party ships it, and as a person uses it.

Installed with pip into a fresh virtualenv beside crosswatch (one per module), it is found
through its entry point and syncs with the Trakt emulator and between its own profiles; its
one module file copied into ``plugins.d/`` works without an install; a malformed CSV line is
told in one line naming the file and the line. Every command runs as a subprocess.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from crosswatch.emulation.server import serve_in_thread
from crosswatch_trakt.emulator import EmulatorSettings as TraktSettings
from crosswatch_trakt.emulator import TraktEmulator

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "crosswatch-csvlog"
PLUGIN_FILE = EXAMPLE / "crosswatch_csvlog" / "__init__.py"  # the one file a person copies
CONTRACT_TESTS = EXAMPLE / "tests" / "test_contract.py"
FEATURES = ["watchlist", "ratings", "history"]
ID_COLUMNS = ["imdb", "tmdb", "tvdb", "trakt"]
TITLE_COLUMNS = ["type", "title", "year", *ID_COLUMNS, "show_title", *(f"show_{i}" for i in ID_COLUMNS)]
TITLE_COLUMNS += ["season", "episode"]
HEADERS = {
    "watchlist": ["listed_at", *TITLE_COLUMNS],
    "ratings": ["rating", "rated_at", *TITLE_COLUMNS],
    "history": ["watched_at", *TITLE_COLUMNS],
}


# -- running crosswatch ---------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """This process's environment without what would point a command at another crosswatch or config."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CROSSWATCH_CONFIG_DIR")
    return {k: v for k, v in os.environ.items() if k not in drop}


@dataclass
class Cli:
    """A crosswatch command line (``[".../bin/crosswatch"]`` or ``[python, "-m", "crosswatch"]``) and a config dir."""

    command: list[str]
    folder: Path

    def run(self, *args: str, code: int | None = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.command, "--config-dir", str(self.folder), "--no-progress", *args],
            capture_output=True,
            text=True,
            env=clean_env(),
            cwd=self.folder.parent,  # a relative path that escaped the config dir would land here, not in the checkout
            timeout=300,
        )
        if code is not None:
            assert result.returncode == code, f"crosswatch {' '.join(args)} exited {result.returncode}: {result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def configure(self, config: dict[str, Any]) -> None:
        (self.folder / "config.toml").write_text(tomli_w.dumps(config))


def listed(cli: Cli, name: str = "csvlog") -> dict[str, Any]:
    rows = [row for row in cli.json("plugins", "list") if row["name"] == name]
    assert len(rows) == 1, rows
    return rows[0]


# -- the CSV files, read here on their own (not with the plugin's code) -----------------------------


def write_csv(path: Path, feature: str, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, HEADERS[feature], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path, feature: str) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == HEADERS[feature], f"{path}: header {reader.fieldnames}"
        return list(reader)


def epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def csv_view(folder: Path, feature: str) -> Any:
    """What a CSVLOG folder holds of ``feature`` by (type, trakt id), in the shapes of :func:`trakt_view`."""
    rows = read_csv(folder / f"{feature}.csv", feature)
    if feature == "watchlist":
        return Counter((r["type"], int(r["trakt"])) for r in rows)
    if feature == "ratings":
        return {(r["type"], int(r["trakt"])): int(r["rating"]) for r in rows}
    return Counter((r["type"], int(r["trakt"]), epoch(r["watched_at"])) for r in rows)


def trakt_view(emu: TraktEmulator, feature: str) -> Any:
    state = emu.state_json()
    if feature == "watchlist":
        return Counter((e["type"], e["trakt"]) for e in state["watchlist"])
    if feature == "ratings":
        return {(e["type"], e["trakt"]): e["rating"] for e in state["ratings"]}
    return Counter((e["type"], e["trakt"], epoch(e["watched_at"])) for e in state["history"])


def files_of(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in ``folder`` with its bytes and mtime: what a write, even of the same bytes, changes."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def captures(folder: Path) -> list[Path]:
    return sorted((folder / "snapshots").rglob("*.json")) if (folder / "snapshots").is_dir() else []


# A person's hand-written CSVLOG folder: two titles to watch, one rating, three plays.
MATRIX = {"type": "movie", "title": "The Matrix", "year": "1999", "imdb": "tt0133093", "tmdb": "603"}
ARRIVAL = {"type": "movie", "title": "Arrival", "year": "2016", "imdb": "tt2543164"}
PILOT = {"type": "episode", "show_title": "Severance", "show_tvdb": "371980", "season": "1", "episode": "1"}
BY_HAND = {
    "watchlist": [{"listed_at": "2024-03-01T10:00:00Z", **MATRIX}, {"listed_at": "2024-03-02T10:00:00Z", **ARRIVAL}],
    "ratings": [{"rating": "9", "rated_at": "2024-03-05T21:00:00Z", **MATRIX}],
    "history": [
        {"watched_at": "2024-03-05T20:00:00Z", **MATRIX},
        {"watched_at": "2024-04-01T20:00:00Z", **MATRIX},
        {"watched_at": "2024-03-10T21:00:00Z", **PILOT},
    ],
}


def fill_by_hand(folder: Path) -> None:
    for feature, rows in BY_HAND.items():
        write_csv(folder / f"{feature}.csv", feature, rows)


# -- 1. installed with pip into a fresh virtualenv --------------------------------------------------


def pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=900,
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv holding crosswatch (installed from this checkout) and the example, with its test extra."""
    where = tmp_path_factory.mktemp("fresh") / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", str(where)], capture_output=True, text=True, timeout=300)
    if made.returncode != 0:
        said = (made.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"cannot create a virtualenv here (python -m venv: {said})")
    core = pip(where, str(ROOT))
    if core.returncode != 0:
        if "No matching distribution" in core.stderr or "Could not find a version" in core.stderr:
            pytest.skip(f"crosswatch's dependencies cannot be installed here: {core.stderr.strip()[-500:]}")
        pytest.fail(f"pip install crosswatch failed:\n{core.stdout[-2000:]}\n{core.stderr[-3000:]}")
    plugin = pip(where, f"{EXAMPLE}[test]")  # crosswatch is in place: any failure is the example's
    assert plugin.returncode == 0, f"pip install the example failed:\n{plugin.stdout[-2000:]}\n{plugin.stderr[-3000:]}"
    return where


def pair(name: str, source: str, target: str, mode: str) -> dict[str, Any]:
    return {"name": name, "source": source, "target": target, "mode": mode, "features": FEATURES}


@pytest.fixture(scope="module")
def trakt() -> Iterator[tuple[TraktEmulator, str]]:
    emu = TraktEmulator(
        seed=5, size=60, settings=TraktSettings(interval=0, approve_after_polls=0, post_limit=0, get_limit=0)
    )
    with serve_in_thread(emu) as url:
        yield emu, url


@pytest.mark.slow
def test_installed_plugin_is_found_through_its_entry_point(venv: Path, tmp_path: Path) -> None:
    python = str(venv / "bin" / "python")
    where = subprocess.run(
        [python, "-c", "import crosswatch, crosswatch_csvlog; print(crosswatch.__file__, crosswatch_csvlog.__file__)"],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where  # both installed, neither from the checkout
    cli = Cli([str(venv / "bin" / "crosswatch")], tmp_path / "config")
    cli.folder.mkdir()
    row = listed(cli)
    assert row["source"] == "entrypoint" and row["status"] == "loaded", row
    assert row["origin"] == "crosswatch-csvlog: crosswatch_csvlog" and row["version"] == "0.1.0"
    assert row["providers"] == ["CSVLOG"] and row["sections"] == ["csvlog"]
    assert sorted(row["provider_features"]["CSVLOG"]) == sorted(FEATURES)


@pytest.mark.slow
def test_installed_plugin_syncs_with_trakt_and_between_its_profiles(
    venv: Path, trakt: tuple[TraktEmulator, str], tmp_path: Path
) -> None:
    emu, url = trakt
    emu.reset_state()
    cli = Cli([str(venv / "bin" / "crosswatch")], tmp_path / "config")
    cli.folder.mkdir()
    backup = tmp_path / "elsewhere" / "backup"  # an absolute folder, outside the config dir
    block = tomllib.loads(emu.config_toml(url))
    block["trakt"]["write_interval_s"] = 0
    cli.configure(
        {
            "daemon": {"listen": ""},
            **block,
            "csvlog": {"folder": "csv", "profiles": {"backup": {"folder": str(backup)}}},
            "pairs": [
                pair("trakt-to-csv", "trakt", "csvlog", "one-way"),
                pair("csv-backup", "csvlog", "csvlog.backup", "two-way"),
            ],
        }
    )
    cli.run("auth", "trakt")
    trakt_before = emu.state_json()
    main = cli.folder / "csv"

    first = cli.json("sync", "run", "trakt-to-csv")
    assert first["ok"], first
    for feature in FEATURES:
        assert csv_view(main, feature) == trakt_view(emu, feature), feature
        assert csv_view(main, feature), f"the emulator holds no {feature}: the test proves nothing"
    added: Counter[str] = Counter()
    for row in first["summary"]:
        added[row["feature"]] += row["added"]
        assert (row["failed"], row["unresolved"]) == (0, 0), row
    assert added == {f: len(read_csv(main / f"{f}.csv", f)) for f in FEATURES}
    assert sorted(p.name for p in main.iterdir()) == [f"{f}.csv" for f in ("history", "ratings", "watchlist")]

    written = files_of(main)
    again = cli.json("sync", "run", "trakt-to-csv")
    assert again["ok"] and again["plan"] == [] and again["summary"] == [], again
    assert files_of(main) == written  # not even rewritten with the same bytes
    assert emu.state_json()["history"] == trakt_before["history"]  # one-way: Trakt is only read

    both = cli.json("sync", "run", "csv-backup")
    assert both["ok"], both
    for feature in FEATURES:
        assert csv_view(backup, feature) == csv_view(main, feature), feature
    assert files_of(main) == written  # the backup lacked everything, the main folder nothing
    held = files_of(backup)
    quiet = cli.json("sync", "run", "csv-backup")
    assert quiet["plan"] == [] and quiet["summary"] == [], quiet
    assert (files_of(main), files_of(backup)) == (written, held)

    before = set(captures(cli.folder))
    made = cli.json("capture", "create", "--provider", "csvlog.backup", "--feature", "all")
    counts = {row["feature"]: row["count"] for row in made}
    assert counts == {
        "all": sum(counts[f] for f in FEATURES),
        **{f: len(read_csv(backup / f"{f}.csv", f)) for f in FEATURES},
    }
    new = set(captures(cli.folder)) - before
    assert len(new) == 4 and all("CSVLOG.backup" in p.name for p in new), new


@pytest.mark.slow
def test_contract_suite_passes_inside_the_fresh_virtualenv(venv: Path, tmp_path: Path) -> None:
    """The example's own tests (crosswatch's provider contract suite, both anyio backends) run where it is installed."""
    has_suite = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import crosswatch.testing"], capture_output=True, env=clean_env()
    )
    if has_suite.returncode != 0 or not CONTRACT_TESTS.exists():
        pytest.skip("this crosswatch has no crosswatch.testing (the provider contract suite) yet")
    copy = tmp_path / "tests"
    shutil.copytree(CONTRACT_TESTS.parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-v", "-rs", str(copy)],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,  # away from the checkout: crosswatch and the plugin come from the virtualenv
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout, result.stdout[-3000:]
    for check in (
        "test_adding_twice_is_adding_once[history-trio]",
        "test_unknown_title_is_unresolved_then_frozen[ratings-asyncio]",
    ):
        assert f"{check} PASSED" in result.stdout, result.stdout[-3000:]  # every feature, both backends


# -- 2. the one file dropped into plugins.d, in this checkout's virtualenv --------------------------


@pytest.fixture
def dropin(tmp_path: Path) -> Cli:
    """A config dir with the plugin file copied to ``plugins.d/csvlog.py`` and a hand-filled CSVLOG folder."""
    cli = Cli([sys.executable, "-m", "crosswatch"], tmp_path / "config")
    (cli.folder / "plugins.d").mkdir(parents=True)
    shutil.copy(PLUGIN_FILE, cli.folder / "plugins.d" / "csvlog.py")
    cli.configure({"daemon": {"listen": ""}, "csvlog": {"folder": "watched"}})
    fill_by_hand(cli.folder / "watched")
    return cli


def test_the_module_file_alone_in_plugins_d_is_a_dropin_plugin_that_captures(dropin: Cli) -> None:
    row = listed(dropin)
    assert row["source"] == "dropin" and row["status"] == "loaded", row
    assert row["origin"] == str(dropin.folder / "plugins.d" / "csvlog.py")
    assert row["providers"] == ["CSVLOG"] and row["sections"] == ["csvlog"]

    made = dropin.json("capture", "create", "--provider", "csvlog", "--feature", "all", "--label", "by-hand")
    counts = {row["feature"]: row["count"] for row in made}
    assert counts == {"all": 6, "watchlist": 2, "ratings": 1, "history": 3}
    (history,) = [p for p in captures(dropin.folder) if p.name.endswith("__CSVLOG__history__by-hand.json")]
    items = json.loads(history.read_text())["items"]
    plays = sorted((i["type"], i["watched_at"]) for i in items)
    assert plays == [
        ("episode", "2024-03-10T21:00:00Z"),
        ("movie", "2024-03-05T20:00:00Z"),
        ("movie", "2024-04-01T20:00:00Z"),
    ]
    (pilot,) = [i for i in items if i["type"] == "episode"]
    assert (pilot["show_ids"], pilot["season"], pilot["episode"]) == ({"tvdb": "371980"}, 1, 1)


# -- 3. a malformed line --------------------------------------------------------------------------

HEADER = {f: ",".join(h) for f, h in HEADERS.items()}
BLANK_TITLE = "," * (len(TITLE_COLUMNS) - 1)

#: (file, its content, the line at fault, what the message says about it)
MALFORMED = {
    "rating-out-of-range": (
        "ratings",
        f"{HEADER['ratings']}\n8,2024-01-01T00:00:00Z,movie,A,2001,tt1,,,,,,,,,,\n11,,movie,B,2002,tt2,,,,,,,,,,\n",
        3,
        "rating: not a whole number from 1 to 10: '11'",
    ),
    "not-a-time": (
        "history",
        f"{HEADER['history']}\nyesterday,movie,A,2001,tt1,,,,,,,,,,\n",
        2,
        "watched_at: not an ISO 8601 time: 'yesterday'",
    ),
    "too-few-fields": (
        "watchlist",
        f"{HEADER['watchlist']}\n,movie,A,2001,tt1,,,,,,,,,,\n\n,movie,B,2002\n",
        4,  # the blank line 3 is skipped, and counted
        "4 fields, 15 expected",
    ),
    "unknown-type": ("watchlist", f"{HEADER['watchlist']}\n,film,A,2001,tt1,,,,,,,,,,\n", 2, "type: 'film' is none of"),
    "open-quote": (
        "watchlist",
        f'{HEADER["watchlist"]}\n,movie,A,2001,tt1,,,,,,,,,,\n,movie,"B,2002,tt2{BLANK_TITLE}\n',
        3,
        "unexpected end of data",
    ),
    "wrong-header": ("ratings", "rating,type,title\n8,movie,A\n", 1, "the header must be rating,rated_at,type,"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_line_is_told_in_one_line_with_file_and_line_and_nothing_is_written(dropin: Cli, case: str) -> None:
    feature, content, line, says = MALFORMED[case]
    folder = dropin.folder / "watched"
    bad = folder / f"{feature}.csv"
    bad.write_text(content, encoding="utf-8")
    kept = files_of(folder)

    result = dropin.run("capture", "create", "--provider", "csvlog", "--feature", "all", code=1)
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    naming = [text for text in lines if str(bad) in text]
    assert naming == [lines[-1]], result.stderr  # one line names the file: the last, the fault
    assert lines[-1].startswith(f"crosswatch: {bad}:{line}: "), lines[-1]
    assert says in lines[-1], lines[-1]
    assert result.stdout == ""
    assert files_of(folder) == kept  # the person's files as they were
    assert captures(dropin.folder) == []  # and no capture of half the state
