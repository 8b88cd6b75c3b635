"""Config edges: cron is 5 fields or an @ alias; pair names that share state files; an emptied config.

The daemon side of the emptied/deleted config.toml is in tests/test_daemon_config_edges.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswatch.cli import main
from crosswatch.config import (
    CONFIG_FILE,
    SCHEDULES_FILE,
    ConfigError,
    ConfigIssue,
    ConfigSection,
    load_config,
    pair_slug,
)
from crosswatch.cron import ALIASES, CronError, parse_cron
from crosswatch.plugins import PluginHost
from crosswatch.sync.baseline import file_name

TRAKT = '[trakt]\nclient_id = "abc"\n'
SIX_FIELDS = ["* * * * * *", "0 0 3 * * *", "*/10 * * * * *", "0 30 4 * * 1-5"]


@pytest.fixture(scope="module")
def sections(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ConfigSection]:
    host = PluginHost(tmp_path_factory.mktemp("plugins"))
    host.load()
    return host.sections()


def line_of(text: str, marker: str) -> int:
    hits = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(hits) == 1, f"{marker!r} is on lines {hits}"
    return hits[0]


def faults(folder: Path, sections: dict, config: str, schedules: str | None = None) -> list[ConfigIssue]:
    (folder / CONFIG_FILE).write_text(config)
    if schedules is not None:
        (folder / SCHEDULES_FILE).write_text(schedules)
    with pytest.raises(ConfigError) as caught:
        load_config(folder, sections)
    return caught.value.issues


def only(issues: list[ConfigIssue], key: str) -> ConfigIssue:
    hits = [i for i in issues if i.key == key]
    assert len(hits) == 1, f"expected one issue at {key}, got {[str(i) for i in issues]}"
    return hits[0]


def cli(capsys: pytest.CaptureFixture[str], folder: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config-dir", str(folder), *args])
    out, err = capsys.readouterr()
    return code, out, err


def pairs(*names: str) -> str:
    """A config.toml with one pair per name, each name on a line marked ``<name N>``."""
    text = TRAKT
    for i, name in enumerate(names):
        text += f"\n[[pairs]]\nname = {name!r}  # <name {i}>\nsource = 'plex'\ntarget = 'trakt'\n"
    return text


# -- cron: 5 fields or an @ alias, everywhere a cron is accepted ------------------------------


@pytest.mark.parametrize("expr", SIX_FIELDS)
def test_parse_cron_refuses_a_seconds_field(expr: str) -> None:
    with pytest.raises(CronError, match="5 fields"):
        parse_cron(expr)


@pytest.mark.parametrize("expr", SIX_FIELDS)
def test_six_field_pair_schedule_is_an_error_at_its_line(tmp_path: Path, sections: dict, expr: str) -> None:
    text = TRAKT + f'[[pairs]]\nname = "p"\nsource = "plex"\ntarget = "trakt"\nschedule = "{expr}"  # <here>\n'

    issue = only(faults(tmp_path, sections, text), "pairs[0].schedule")

    assert issue.file == tmp_path / CONFIG_FILE and issue.line == line_of(text, "<here>")
    assert expr in issue.message and "5 fields" in issue.message


@pytest.mark.parametrize("expr", SIX_FIELDS)
def test_six_field_capture_cron_is_an_error_in_either_file(tmp_path: Path, sections: dict, expr: str) -> None:
    text = TRAKT + f'[[captures.schedules]]\nprovider = "trakt"\ncron = "{expr}"  # <here>\n'
    issue = only(faults(tmp_path, sections, text), "captures.schedules[0].cron")
    assert issue.file == tmp_path / CONFIG_FILE and issue.line == line_of(text, "<here>")
    assert "5 fields" in issue.message

    sched = f'[[captures.schedules]]\nprovider = "trakt"\nname = "s"\ncron = "{expr}"  # <here>\n'
    issue = only(faults(tmp_path, sections, TRAKT, sched), "captures.schedules[0].cron")
    assert issue.file == tmp_path / SCHEDULES_FILE and issue.line == line_of(sched, "<here>")


@pytest.mark.parametrize("expr", ["@reboot", "@every 5m", "@", "0 0 * * * 2026"])
def test_other_field_counts_and_unknown_aliases_are_errors(tmp_path: Path, sections: dict, expr: str) -> None:
    text = TRAKT + f'[[captures.schedules]]\nprovider = "trakt"\ncron = "{expr}"\n'
    issue = only(faults(tmp_path, sections, text), "captures.schedules[0].cron")
    assert expr in issue.message


@pytest.mark.parametrize("expr", [*ALIASES, "@Daily", " @hourly ", "0 3 * * *", "*/5 * * * 1-5"])
def test_five_fields_and_every_alias_are_accepted(tmp_path: Path, sections: dict, expr: str) -> None:
    (tmp_path / CONFIG_FILE).write_text(TRAKT + f'[[captures.schedules]]\nprovider = "trakt"\ncron = "{expr}"\n')
    assert load_config(tmp_path, sections).captures.schedules[0].cron == expr
    assert len(parse_cron(expr).split()) == 5


def test_config_check_and_schedule_add_refuse_a_seconds_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = TRAKT + '[[pairs]]\nname = "p"\nsource = "plex"\ntarget = "trakt"\nschedule = "* * * * * *"\n'
    (tmp_path / CONFIG_FILE).write_text(text)
    code, _, err = cli(capsys, tmp_path, "config", "check")
    assert code == 1
    assert f"{tmp_path / CONFIG_FILE}:{line_of(text, 'schedule')}: pairs[0].schedule" in err

    (tmp_path / CONFIG_FILE).write_text(TRAKT)
    add = ("capture", "schedule", "add", "--provider", "trakt", "--feature", "watchlist", "--name", "s")
    code, _, err = cli(capsys, tmp_path, *add, "--cron", "* * * * * *")
    assert code == 1
    assert f"{tmp_path / SCHEDULES_FILE}:" in err and "captures.schedules[0].cron" in err and "5 fields" in err
    assert not (tmp_path / SCHEDULES_FILE).exists()  # nothing left behind that a daemon could pick up
    code, _, err = cli(capsys, tmp_path, *add, "--cron", "@hourly")
    assert code == 0, err


# -- pair names that map to the same state files -----------------------------------------------


NAMES = ["p2t", "plex/trakt", "plex trakt", "Plex-Trakt", "  x  ", "a..b", ".hidden.", "-x-", "///", "", "ü", "a/../b"]


@pytest.mark.parametrize("name", NAMES)
def test_pair_slug_is_what_the_baseline_files_are_named_after(name: str) -> None:
    assert file_name(name, "watchlist") == f"sync_{pair_slug(name)}_watchlist.baseline.json"


@pytest.mark.parametrize(
    ("first", "second"),
    [("plex/trakt", "plex-trakt"), ("p2t", "P2T"), ("a b", "a/b"), ("x", "x."), ("///", "pair"), ("///", "???")],
)
def test_pair_names_sharing_state_files_are_an_error_naming_both(
    tmp_path: Path, sections: dict, first: str, second: str
) -> None:
    text = pairs(first, second)

    issue = only(faults(tmp_path, sections, text), "pairs[1].name")

    assert issue.file == tmp_path / CONFIG_FILE and issue.line == line_of(text, "<name 1>")
    assert repr(first) in issue.message and repr(second) in issue.message
    assert f"line {line_of(text, '<name 0>')}" in issue.message
    assert "rename" in issue.message


def test_every_colliding_pair_is_reported_against_the_first(tmp_path: Path, sections: dict) -> None:
    text = pairs("plex/trakt", "other", "plex-trakt", "PLEX trakt")

    issues = faults(tmp_path, sections, text)

    assert sorted(i.key for i in issues) == ["pairs[2].name", "pairs[3].name"]
    assert all("'plex/trakt'" in i.message for i in issues)


def test_distinct_slugs_and_a_lone_name_without_safe_characters_are_accepted(tmp_path: Path, sections: dict) -> None:
    (tmp_path / CONFIG_FILE).write_text(pairs("plex/trakt", "plex--trakt", "plex_trakt", "///"))
    assert [p.name for p in load_config(tmp_path, sections).pairs] == ["plex/trakt", "plex--trakt", "plex_trakt", "///"]


def test_exact_duplicate_names_are_reported_once_as_duplicates(tmp_path: Path, sections: dict) -> None:
    issue = only(faults(tmp_path, sections, pairs("p2t", "p2t")), "pairs[1].name")
    assert "duplicate pair name" in issue.message


def test_config_check_refuses_colliding_pair_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = pairs("plex/trakt", "plex-trakt")
    (tmp_path / CONFIG_FILE).write_text(text)

    code, _, err = cli(capsys, tmp_path, "config", "check")

    assert code == 1
    assert f"{tmp_path / CONFIG_FILE}:{line_of(text, '<name 1>')}: pairs[1].name" in err
    assert "'plex/trakt'" in err and "'plex-trakt'" in err


# -- an emptied or deleted config.toml on a reload ------------------------------------------------

PAIR_CONFIG = pairs("p2t")


@pytest.mark.parametrize("empty", ["", "  \n\n\t\n", "# all commented out\n# [[pairs]]\n  # name = 'p2t'\n"])
def test_reload_refuses_an_empty_config_toml(tmp_path: Path, sections: dict, empty: str) -> None:
    (tmp_path / CONFIG_FILE).write_text(PAIR_CONFIG)
    in_force = load_config(tmp_path, sections)
    (tmp_path / CONFIG_FILE).write_text(empty)

    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, sections, in_force)

    [issue] = caught.value.issues
    assert issue.file == tmp_path / CONFIG_FILE and "empty" in issue.message
    assert "previous config stays" in issue.message
    # a start (or `config check`) still reads it as defaults
    assert load_config(tmp_path, sections).pairs == ()


def test_reload_refuses_a_deleted_config_toml(tmp_path: Path, sections: dict) -> None:
    (tmp_path / CONFIG_FILE).write_text(PAIR_CONFIG)
    in_force = load_config(tmp_path, sections)
    (tmp_path / CONFIG_FILE).unlink()

    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, sections, in_force)

    [issue] = caught.value.issues
    assert issue.file == tmp_path / CONFIG_FILE and "missing" in issue.message
    assert "previous config stays" in issue.message
    assert load_config(tmp_path, sections).pairs == ()


def test_reload_of_a_daemon_started_on_defaults_still_applies(tmp_path: Path, sections: dict) -> None:
    """No config.toml at start: a schedules.toml change (or an empty file) is not a loss of settings."""
    in_force = load_config(tmp_path, sections)
    (tmp_path / SCHEDULES_FILE).write_text('[[captures.schedules]]\nprovider = "plex"\ncron = "@daily"\n')

    assert len(load_config(tmp_path, sections, in_force).captures.schedules) == 1
    (tmp_path / CONFIG_FILE).write_text("# nothing yet\n")
    assert len(load_config(tmp_path, sections, in_force).captures.schedules) == 1


def test_reload_accepts_a_config_toml_with_any_setting_left(tmp_path: Path, sections: dict) -> None:
    (tmp_path / CONFIG_FILE).write_text(PAIR_CONFIG)
    in_force = load_config(tmp_path, sections)
    (tmp_path / CONFIG_FILE).write_text("[daemon]\n")

    assert load_config(tmp_path, sections, in_force).pairs == ()


def test_a_config_nested_too_deeply_is_an_error_naming_the_file(tmp_path: Path, sections: dict) -> None:
    (tmp_path / "config.toml").write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, sections)
    [issue] = caught.value.issues
    assert "nested too deeply" in str(issue) and "config.toml" in str(issue)
