"""config.toml + schedules.toml: defaults, typed validation, faults named by file, line and key."""

from __future__ import annotations

import errno
import os
import re
import shutil
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from crosswatch.config import (
    CONFIG_FILE,
    SCHEDULES_FILE,
    Config,
    ConfigError,
    ConfigIssue,
    ConfigSection,
    load_config,
    write_schedules,
)
from crosswatch.config.locate import locate
from crosswatch.config.schema import (
    CORE_SECTIONS,
    CaptureSchedule,
    CapturesConfig,
    DaemonConfig,
    LogConfig,
    PairConfig,
    PluginsConfig,
    ScrobbleConfig,
    SyncConfig,
)
from crosswatch.plugins import PluginHost
from crosswatch_plex.config import PlexSettings
from crosswatch_trakt.config import TraktSettings

EXAMPLE = Path(__file__).resolve().parents[1] / "etc" / "crosswatch.toml"

PAIR = '[[pairs]]\nname = "p2t"\nsource = "plex"\ntarget = "trakt"\n'


@pytest.fixture(scope="module")
def sections(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ConfigSection]:
    host = PluginHost(tmp_path_factory.mktemp("plugins"))
    host.load()
    found = host.sections()
    assert {"plex", "trakt"} <= set(found)
    return found


def line_of(text: str, marker: str) -> int:
    """The 1-based number of the one line of ``text`` that contains ``marker``."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(hits) == 1, f"{marker!r} is on lines {hits}"
    return hits[0]


def load(
    folder: Path, sections: dict[str, ConfigSection], config: str | None = None, schedules: str | None = None
) -> Config:
    if config is not None:
        (folder / CONFIG_FILE).write_text(config, encoding="utf-8")
    if schedules is not None:
        (folder / SCHEDULES_FILE).write_text(schedules, encoding="utf-8")
    return load_config(folder, sections)


def faults(
    folder: Path, sections: dict[str, ConfigSection], config: str | None = None, schedules: str | None = None
) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load(folder, sections, config, schedules)
    assert caught.value.issues, "a ConfigError must say what is wrong"
    return caught.value.issues


def only(issues: list[ConfigIssue] | tuple[ConfigIssue, ...], key: str) -> ConfigIssue:
    hits = [i for i in issues if i.key == key]
    assert len(hits) == 1, f"expected one issue at {key}, got {[str(i) for i in issues]}"
    return hits[0]


# -- defaults and the example config ------------------------------------------------------


def test_missing_config_file_runs_on_defaults_with_a_warning(tmp_path: Path, sections: dict) -> None:
    cfg = load_config(tmp_path, sections)

    assert cfg.daemon == DaemonConfig() and cfg.sync == SyncConfig() and cfg.scrobble == ScrobbleConfig()
    assert cfg.daemon.listen.startswith("127.0.0.1:")  # loopback unless told otherwise
    assert cfg.pairs == () and cfg.captures.schedules == []
    assert cfg.sections["plex"].default == PlexSettings()
    assert cfg.sections["trakt"].default == TraktSettings()
    [warning] = cfg.warnings
    assert warning.file == tmp_path / CONFIG_FILE
    assert "not found" in warning.message and "defaults" in warning.message
    assert str(tmp_path / CONFIG_FILE) in str(warning)


def test_example_config_loads_without_warnings_and_holds_the_defaults(tmp_path: Path, sections: dict) -> None:
    shutil.copy(EXAMPLE, tmp_path / CONFIG_FILE)

    cfg = load_config(tmp_path, sections)

    assert [str(w) for w in cfg.warnings] == []
    # "every key, with its default": the example must not drift from the schema's defaults
    assert cfg.daemon == DaemonConfig()
    assert cfg.log == LogConfig()
    assert cfg.plugins == PluginsConfig()
    assert cfg.sync == SyncConfig()
    assert cfg.scrobble == ScrobbleConfig()
    assert cfg.captures == CapturesConfig()
    assert cfg.sections["plex"].default == PlexSettings()
    assert cfg.sections["trakt"].default == TraktSettings()


def uncomment_examples(text: str) -> str:
    """The example with its commented-out keys and tables (``# key = ...``, ``# [table]``) switched on."""
    return re.sub(r"(?m)^#[ ]?(?=\[|[A-Za-z_][\w-]*\s*=)", "", text)


def test_example_configs_commented_out_examples_are_valid_too(tmp_path: Path, sections: dict) -> None:
    text = uncomment_examples(EXAMPLE.read_text(encoding="utf-8"))

    cfg = load(tmp_path, sections, text)

    assert [str(w) for w in cfg.warnings] == []
    assert len(cfg.pairs) == 1 and len(cfg.captures.schedules) == 1
    assert "kids" in cfg.sections["plex"].profiles


def _holds_struct(tp: typing.Any) -> tuple[str, type[msgspec.Struct]] | None:
    """('struct' | 'list' | 'dict', the Struct) when a field's type holds a Struct."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return "struct", tp
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _holds_struct(args[0])
    if origin in (typing.Union, types.UnionType):
        return next((found for arg in args if (found := _holds_struct(arg))), None)
    if origin is list and args and (inner := _holds_struct(args[0])):
        return "list", inner[1]
    if origin is dict and len(args) == 2 and (inner := _holds_struct(args[1])):
        return "dict", inner[1]
    return None


def schema_keys(struct: type[msgspec.Struct], prefix: list) -> Iterator[tuple[str, list]]:
    """Every leaf key of ``struct`` as ('key', path), or ('dict', path) under a table of Structs."""
    for field in msgspec.structs.fields(struct):
        path = [*prefix, field.encode_name]
        inner = _holds_struct(field.type)
        if inner is None:
            yield "key", path
        elif inner[0] == "struct":
            yield from schema_keys(inner[1], path)
        elif inner[0] == "list":
            yield from schema_keys(inner[1], [*path, 0])
        else:
            for _, sub in schema_keys(inner[1], [*path, "<name>"]):
                yield "dict", sub


def documented_keys() -> list[tuple[str, list]]:
    keys = [k for name, schema in CORE_SECTIONS.items() for k in schema_keys(schema, [name])]
    keys += list(schema_keys(PairConfig, ["pairs", 0]))
    keys += list(schema_keys(PlexSettings, ["plex"]))
    keys += list(schema_keys(TraktSettings, ["trakt"]))
    return keys


def test_schema_walk_reaches_nested_keys() -> None:
    paths = [p for _, p in documented_keys()]
    assert ["plex", "history", "include_marked_watched"] in paths
    assert ["trakt", "history", "number_fallback"] in paths
    assert ["scrobble", "webhook", "secret"] in paths
    assert ["captures", "schedules", 0, "label_template"] in paths
    assert ["pairs", 0, "schedule"] in paths


@pytest.mark.parametrize(
    ("kind", "path"),
    [pytest.param(kind, path, id=".".join(map(str, path))) for kind, path in documented_keys()],
)
def test_example_config_documents_every_schema_key(kind: str, path: list) -> None:
    text = uncomment_examples(EXAMPLE.read_text(encoding="utf-8"))
    lines = text.splitlines()
    if kind == "dict":  # e.g. features = { watchlist = { remove = true } }: shown in a comment
        table, leaf = path[-3], path[-1]
        assert any(f"{table} = {{" in line and re.search(rf"\b{leaf}\s*=", line) for line in lines), path
        return
    line = locate(text, path)
    assert line is not None, f"{path} is not in the example config"
    key = re.match(r"\s*([\w-]+)\s*=", lines[line - 1])
    assert key and key[1] == path[-1], f"{path}: line {line} is {lines[line - 1]!r}"


# -- syntax and types -------------------------------------------------------------------------


def test_broken_toml_names_the_file_and_line(tmp_path: Path, sections: dict) -> None:
    text = '[plex]\nurl = "http://pms:32400"\nrating_workers =    # <here>\n\n[trakt]\n'

    [issue] = faults(tmp_path, sections, text)

    assert issue.file == tmp_path / CONFIG_FILE
    assert issue.line == line_of(text, "<here>")
    assert "invalid TOML" in issue.message
    assert f"{CONFIG_FILE}:{issue.line}" in str(issue)


def test_toml_broken_at_the_end_of_the_file_points_at_its_last_line(tmp_path: Path, sections: dict) -> None:
    text = '[plex]\nurl = "x"\nhistory_ignore_guid_prefixes = ["local://",   # <here>\n\n\n'

    [issue] = faults(tmp_path, sections, text)

    assert issue.file == tmp_path / CONFIG_FILE
    assert issue.line == line_of(text, "<here>")


def test_duplicate_toml_key_is_a_syntax_error_at_its_second_line(tmp_path: Path, sections: dict) -> None:
    text = '[plex]\nurl = "a"\nurl = "b"  # <here>\n'

    [issue] = faults(tmp_path, sections, text)

    assert issue.line == line_of(text, "<here>")


@pytest.mark.parametrize(
    ("value", "words"),
    [('"x"', "int"), ("100", "64"), ("0", "1"), ("2.5", "int")],
)
def test_wrong_type_or_range_names_file_line_and_key(tmp_path: Path, sections: dict, value: str, words: str) -> None:
    text = (
        f'[daemon]\nlisten = "127.0.0.1:8787"\n\n[plex]\nurl = "http://pms:32400"\nrating_workers = {value}  # <here>\n'
    )

    [issue] = faults(tmp_path, sections, text)

    assert issue.file == tmp_path / CONFIG_FILE
    assert issue.key == "plex.rating_workers"
    assert issue.line == line_of(text, "<here>")
    assert words in issue.message
    assert f"{CONFIG_FILE}:{issue.line}: plex.rating_workers:" in str(issue)


def test_wrong_type_in_a_nested_table_names_the_nested_key(tmp_path: Path, sections: dict) -> None:
    text = '[plex]\n[plex.history]\nlibraries = [1]\ninclude_marked_watched = "yes"  # <here>\n'

    issue = only(faults(tmp_path, sections, text), "plex.history.include_marked_watched")

    assert issue.line == line_of(text, "<here>")


def test_wrong_type_in_a_core_section(tmp_path: Path, sections: dict) -> None:
    text = '[daemon]\nevent_buffer = 3  # <here>\n[log]\nlevel = "loud"  # <level>\n'

    issues = faults(tmp_path, sections, text)

    assert only(issues, "daemon.event_buffer").line == line_of(text, "<here>")
    assert only(issues, "log.level").line == line_of(text, "<level>")


def test_every_fault_is_reported_at_once(tmp_path: Path, sections: dict) -> None:
    text = '[plex]\nrating_workers = "x"  # <plex>\n[trakt]\npage_size = 9999  # <trakt>\n'

    issues = faults(tmp_path, sections, text)

    assert only(issues, "plex.rating_workers").line == line_of(text, "<plex>")
    assert only(issues, "trakt.page_size").line == line_of(text, "<trakt>")


def test_a_bad_value_in_a_per_feature_switch_names_that_feature(tmp_path: Path, sections: dict) -> None:
    text = PAIR + '[pairs.features.watchlist]\nadd = true\n[pairs.features.history]\nadd = "yes"  # <here>\n'

    issue = only(faults(tmp_path, sections, text), "pairs[0].features.history.add")

    assert issue.line == line_of(text, "<here>")


def test_a_bad_value_in_the_second_pair_names_that_pair(tmp_path: Path, sections: dict) -> None:
    text = PAIR + '[[pairs]]\nname = "t2p"\nsource = "trakt"\ntarget = "plex"\nmode = "sideways"  # <here>\n'

    issue = only(faults(tmp_path, sections, text), "pairs[1].mode")

    assert issue.line == line_of(text, "<here>")


# -- unknown keys ----------------------------------------------------------------------------


def test_unknown_keys_warn_with_their_path_and_line_and_do_not_fail(tmp_path: Path, sections: dict) -> None:
    text = "\n".join(
        [
            "[daemon]",
            "listen = '127.0.0.1:9999'",
            "lisen = 1                # <daemon.lisen>",
            "[scrobble.webhook]",
            "secrett = 'x'            # <scrobble.webhook.secrett>",
            "[plex]",
            "rating_workers = 5",
            "ratings_workers = 6      # <plex.ratings_workers>",
            "[plex.history]",
            "include_watched = true   # <plex.history.include_watched>",
            "[plex.profiles.kids]",
            "user = 'Kids'",
            "usr = 'Kids'             # <plex.profiles.kids.usr>",
            "[kodi]                   # <kodi>",
            "url = 'x'",
            PAIR,
            "[pairs.features.watchlist]",
            "remove = true",
            "remov = true             # <pairs[0].features.watchlist.remov>",
            "[[captures.schedules]]",
            "provider = 'trakt'",
            "cron = '@daily'",
            "keep = 3                 # <captures.schedules[0].keep>",
        ]
    )

    cfg = load(tmp_path, sections, text)

    for key in [
        "daemon.lisen",
        "scrobble.webhook.secrett",
        "plex.ratings_workers",
        "plex.history.include_watched",
        "plex.profiles.kids.usr",
        "kodi",
        "pairs[0].features.watchlist.remov",
        "captures.schedules[0].keep",
    ]:
        warning = only(cfg.warnings, key)
        assert warning.file == tmp_path / CONFIG_FILE
        assert warning.line == line_of(text, f"<{key}>"), key
        assert "ignored" in warning.message
    assert len(cfg.warnings) == 8
    # the known keys beside them still apply
    assert cfg.daemon.listen == "127.0.0.1:9999"
    assert cfg.sections["plex"].default.rating_workers == 5
    assert cfg.sections["plex"].profiles["kids"].user == "Kids"


# -- schedules, time zones, references -------------------------------------------------------


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "61 * * * *", "* * *", "0 25 * * *", "@fortnightly"])
def test_impossible_pair_schedule_is_an_error_at_its_line(tmp_path: Path, sections: dict, cron: str) -> None:
    text = PAIR + f'schedule = "{cron}"   # <here>\n'

    issue = only(faults(tmp_path, sections, text), "pairs[0].schedule")

    assert issue.file == tmp_path / CONFIG_FILE
    assert issue.line == line_of(text, "<here>")
    assert cron in issue.message


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "61 * * * *"])
def test_impossible_capture_cron_is_an_error_at_its_line(tmp_path: Path, sections: dict, cron: str) -> None:
    text = f'[[captures.schedules]]\nprovider = "trakt"\ncron = "{cron}"   # <here>\n'

    issue = only(faults(tmp_path, sections, text), "captures.schedules[0].cron")

    assert issue.line == line_of(text, "<here>")


@pytest.mark.parametrize("cron", ["@daily", "@hourly", "0 */6 * * *", "30 3 * * 1-5"])
def test_valid_schedules_are_accepted(tmp_path: Path, sections: dict, cron: str) -> None:
    text = PAIR + f'schedule = "{cron}"\n[[captures.schedules]]\nprovider = "plex"\ncron = "{cron}"\n'

    cfg = load(tmp_path, sections, text)

    assert cfg.pairs[0].schedule == cron and cfg.captures.schedules[0].cron == cron
    assert cfg.warnings == ()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[daemon]\ntimezone = "Mars/Olympus_Mons"  # <here>\n', "daemon.timezone"),
        (PAIR + 'timezone = "Europe/Atlantis"  # <here>\n', "pairs[0].timezone"),
        (
            '[[captures.schedules]]\nprovider = "trakt"\ncron = "@daily"\ntimezone = "UTC+25"  # <here>\n',
            "captures.schedules[0].timezone",
        ),
    ],
)
def test_unknown_time_zone_is_an_error(tmp_path: Path, sections: dict, text: str, key: str) -> None:
    issue = only(faults(tmp_path, sections, text), key)

    assert issue.line == line_of(text, "<here>")
    assert "time zone" in issue.message


def test_known_time_zone_is_accepted(tmp_path: Path, sections: dict) -> None:
    cfg = load(tmp_path, sections, '[daemon]\ntimezone = "Europe/Berlin"\n' + PAIR + 'timezone = "America/New_York"\n')

    assert cfg.daemon.timezone == "Europe/Berlin" and cfg.pairs[0].timezone == "America/New_York"


def test_duplicate_pair_names_are_an_error_at_the_second(tmp_path: Path, sections: dict) -> None:
    text = PAIR + '[[pairs]]\nname = "p2t"   # <here>\nsource = "trakt"\ntarget = "plex"\n'

    issue = only(faults(tmp_path, sections, text), "pairs[1].name")

    assert issue.line == line_of(text, "<here>")
    assert "p2t" in issue.message


def test_pair_naming_a_section_no_plugin_provides_is_an_error(tmp_path: Path, sections: dict) -> None:
    text = '[[pairs]]\nname = "j2t"\nsource = "kodi"  # <here>\ntarget = "trakt"\n'

    issue = only(faults(tmp_path, sections, text), "pairs[0].source")

    assert issue.line == line_of(text, "<here>")
    assert "kodi" in issue.message


def test_pair_naming_a_provider_whose_plugin_is_not_loaded_is_an_error(tmp_path: Path, sections: dict) -> None:
    text = PAIR.replace('target = "trakt"', 'target = "trakt"  # <here>')
    without_trakt = {k: v for k, v in sections.items() if k != "trakt"}

    with pytest.raises(ConfigError) as caught:
        load(tmp_path, without_trakt, text)

    assert only(caught.value.issues, "pairs[0].target").line == line_of(text, "<here>")


def test_pair_with_a_profile_that_does_not_exist_is_an_error(tmp_path: Path, sections: dict) -> None:
    text = '[[pairs]]\nname = "k"\nsource = "plex.kids"  # <here>\ntarget = "trakt"\n'

    issue = only(faults(tmp_path, sections, text), "pairs[0].source")

    assert issue.line == line_of(text, "<here>")
    assert "kids" in issue.message


def test_pair_with_an_existing_profile_resolves_to_its_settings(tmp_path: Path, sections: dict) -> None:
    text = '[plex.profiles.kids]\nuser = "Kids"\n[[pairs]]\nname = "k"\nsource = "plex.kids"\ntarget = "trakt"\n'

    cfg = load(tmp_path, sections, text)

    section, profile, settings = cfg.resolve(cfg.pairs[0].source)
    assert (section, profile, settings.user) == ("plex", "kids", "Kids")


def test_capture_schedule_for_a_missing_profile_is_an_error(tmp_path: Path, sections: dict) -> None:
    text = '[[captures.schedules]]\nprovider = "trakt.work"  # <here>\ncron = "@daily"\n'

    issue = only(faults(tmp_path, sections, text), "captures.schedules[0].provider")

    assert issue.line == line_of(text, "<here>")


def test_webhook_enabled_without_a_secret_is_an_error(tmp_path: Path, sections: dict) -> None:
    text = "[scrobble.webhook]   # <here>\nenabled = true\n"

    issue = only(faults(tmp_path, sections, text), "scrobble.webhook.secret")

    assert issue.line == line_of(text, "<here>")
    cfg = load(tmp_path, sections, text + 'secret = "0123456789abcdef"\n')
    assert cfg.scrobble.webhook.enabled and cfg.scrobble.webhook.secret == "0123456789abcdef"


# -- profiles -----------------------------------------------------------------------------------


def test_profile_overrides_one_key_and_inherits_the_rest(tmp_path: Path, sections: dict) -> None:
    text = "\n".join(
        [
            "[plex]",
            'url = "http://pms:32400"',
            "rating_workers = 4",
            "[plex.history]",
            "libraries = [1, 2]",
            "[plex.profiles.kids]",
            'user = "Kids"',
            "[plex.profiles.kids.history]",
            "include_marked_watched = true",
        ]
    )

    cfg = load(tmp_path, sections, text)

    default, kids = cfg.sections["plex"].default, cfg.sections["plex"].profiles["kids"]
    assert (default.user, kids.user) == ("", "Kids")
    assert kids.url == default.url == "http://pms:32400"
    assert kids.rating_workers == default.rating_workers == 4
    # a nested table is merged key by key, not replaced
    assert kids.history.libraries == default.history.libraries == [1, 2]
    assert (default.history.include_marked_watched, kids.history.include_marked_watched) == (False, True)
    assert cfg.resolve("plex.kids")[2] == kids and cfg.resolve("plex")[2] == default


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            '[plex]\nrating_workers = 4\n[plex.profiles.kids]\nuser = "Kids"\nrating_workers = 0  # <here>\n',
            "plex.profiles.kids.rating_workers",
        ),
        (
            '[plex.profiles.kids]\nuser = "Kids"\n[plex.profiles.kids.history]\ninclude_marked_watched = "x"  # <here>\n',
            "plex.profiles.kids.history.include_marked_watched",
        ),
        ('[trakt.profiles.work]\npage_size = "lots"  # <here>\n', "trakt.profiles.work.page_size"),
    ],
)
def test_error_inside_a_profile_names_the_profile_key_and_line(
    tmp_path: Path, sections: dict, text: str, key: str
) -> None:
    [issue] = faults(tmp_path, sections, text)

    assert issue.key == key
    assert issue.line == line_of(text, "<here>")


def test_error_in_the_default_section_is_reported_once_not_again_per_profile(tmp_path: Path, sections: dict) -> None:
    text = '[plex]\nrating_workers = "x"  # <here>\n[plex.profiles.kids]\nuser = "Kids"\n[plex.profiles.teen]\nuser = "Teen"\n'

    [issue] = faults(tmp_path, sections, text)

    assert issue.key == "plex.rating_workers"
    assert issue.line == line_of(text, "<here>")


# -- schedules.toml --------------------------------------------------------------------------


def test_schedules_toml_entries_come_after_config_tomls(tmp_path: Path, sections: dict) -> None:
    config = '[[captures.schedules]]\nprovider = "plex"\ncron = "@daily"\n'
    schedules = '[[captures.schedules]]\nprovider = "trakt"\ncron = "0 3 * * *"\nkeep_days = 7\n'

    cfg = load(tmp_path, sections, config, schedules)

    assert [(s.provider, s.cron) for s in cfg.captures.schedules] == [("plex", "@daily"), ("trakt", "0 3 * * *")]
    assert cfg.captures.schedules[1].keep_days == 7


def test_error_in_schedules_toml_names_schedules_toml(tmp_path: Path, sections: dict) -> None:
    config = '[[captures.schedules]]\nprovider = "plex"\ncron = "@daily"\n'
    schedules = '[[captures.schedules]]\nprovider = "trakt"\ncron = "@daily"\n\n[[captures.schedules]]\nprovider = "trakt"\ncron = "0 0 31 2 *"  # <here>\n'

    issue = only(faults(tmp_path, sections, config, schedules), "captures.schedules[1].cron")

    assert issue.file == tmp_path / SCHEDULES_FILE
    assert issue.line == line_of(schedules, "<here>")
    assert f"{SCHEDULES_FILE}:{issue.line}" in str(issue)


def test_type_error_and_broken_toml_in_schedules_toml_name_it(tmp_path: Path, sections: dict) -> None:
    schedules = '[[captures.schedules]]\nprovider = "trakt"\ncron = "@daily"\nkeep_days = -1  # <here>\n'
    issue = only(faults(tmp_path, sections, "", schedules), "captures.schedules[0].keep_days")
    assert (issue.file, issue.line) == (tmp_path / SCHEDULES_FILE, line_of(schedules, "<here>"))

    [issue] = faults(tmp_path, sections, "", "[[captures.schedules]\n")
    assert (issue.file, issue.line) == (tmp_path / SCHEDULES_FILE, 1)


def test_schedule_name_used_in_both_files_is_an_error_in_schedules_toml(tmp_path: Path, sections: dict) -> None:
    config = '[[captures.schedules]]\nprovider = "trakt"\ncron = "@daily"\n'
    schedules = '[[captures.schedules]]\nprovider = "trakt"\ncron = "@weekly"\n'

    [issue] = faults(tmp_path, sections, config, schedules)

    assert issue.file == tmp_path / SCHEDULES_FILE
    assert "trakt-all" in issue.message


def test_write_schedules_round_trips_through_load_config(tmp_path: Path, sections: dict) -> None:
    config = '[[captures.schedules]]\nprovider = "plex"\ncron = "@daily"\n'
    (tmp_path / CONFIG_FILE).write_text(config, encoding="utf-8")
    wanted = [
        CaptureSchedule(provider="trakt", cron="0 3 * * *", keep_days=30, max_keep=10),
        CaptureSchedule(
            provider="plex",
            cron="@weekly",
            feature="ratings",
            name="weekly-ratings",
            timezone="Europe/Berlin",
            cleanup=False,
        ),
    ]

    path = write_schedules(tmp_path, wanted)

    assert path == tmp_path / SCHEDULES_FILE
    cfg = load_config(tmp_path, sections)
    assert cfg.captures.schedules[1:] == wanted
    assert cfg.captures.schedules[0].provider == "plex"
    assert (tmp_path / CONFIG_FILE).read_text(encoding="utf-8") == config  # never rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_FILE, SCHEDULES_FILE]

    write_schedules(tmp_path, wanted[:1])  # replaces, does not append
    assert load_config(tmp_path, sections).captures.schedules[1:] == wanted[:1]
    write_schedules(tmp_path, [])
    assert load_config(tmp_path, sections).captures.schedules == [CaptureSchedule(provider="plex", cron="@daily")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_FILE, SCHEDULES_FILE]


def test_write_schedules_that_fails_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, sections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_schedules(tmp_path, [CaptureSchedule(provider="trakt", cron="@daily")])
    before = (tmp_path / SCHEDULES_FILE).read_bytes()

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        write_schedules(tmp_path, [CaptureSchedule(provider="plex", cron="@hourly")])
    monkeypatch.undo()

    assert (tmp_path / SCHEDULES_FILE).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [SCHEDULES_FILE]
    assert [s.provider for s in load_config(tmp_path, sections).captures.schedules] == ["trakt"]


# -- the config directory -----------------------------------------------------------------------


def test_missing_config_dir_is_an_error_naming_it(tmp_path: Path, sections: dict) -> None:
    missing = tmp_path / "nope"

    with pytest.raises(ConfigError) as caught:
        load_config(missing, sections)

    [issue] = caught.value.issues
    assert issue.file == missing and str(missing) in str(caught.value)


def test_config_dir_that_is_a_file_is_an_error_naming_it(tmp_path: Path, sections: dict) -> None:
    a_file = tmp_path / "config.toml"
    a_file.write_text("[daemon]\n")

    with pytest.raises(ConfigError) as caught:
        load_config(a_file, sections)

    [issue] = caught.value.issues
    assert issue.file == a_file and "not a directory" in str(caught.value)


def test_config_toml_that_is_a_folder_is_an_error_naming_it(tmp_path: Path, sections: dict) -> None:
    (tmp_path / CONFIG_FILE).mkdir()

    [issue] = faults(tmp_path, sections)

    assert issue.file == tmp_path / CONFIG_FILE and "cannot read" in issue.message
