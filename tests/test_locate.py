"""Finding the line of a key in TOML source, so every config message can point at it."""

from __future__ import annotations

import pytest

from crosswatch.config.locate import format_path, locate, parse_msgspec_path, split_key


def line_of(text: str, marker: str) -> int:
    """The 1-based number of the one line of ``text`` that contains ``marker``."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(hits) == 1, f"{marker!r} is on lines {hits}"
    return hits[0]


CONFIG = """\
# rating_workers = 99   (a comment, not a key)
# [plex.history]
[daemon]  # the daemon
listen = "127.0.0.1:8787"     # <daemon.listen>

[plexx]
url = "not plex"
[plex]
url_x = "prefix of url, not url"
url = "http://pms:32400"      # <plex.url>
history.libraries = [1, 2]    # <plex.history.libraries (dotted)>
timeout_s = 30                # <plex.timeout_s>

[ plex . ratings ]            # <plex.ratings>
libraries = [3]

[plex.history]                # <plex.history>
include_marked_watched = true # <plex.history.include_marked_watched>

[plex.profiles."kids"]        # <plex.profiles.kids>
"rating_workers" = 3          # <plex.profiles.kids.rating_workers>
'user' = "Kids"
"a.b" = 1                     # <quoted dotted key>

[trakt]
timeout_s = 15                # <trakt.timeout_s>

[[pairs]]                     # <pairs[0]>
name = "one"                  # <pairs[0].name>

[[captures.schedules]]        # <captures.schedules[0]>
provider = "trakt"
cron = "@daily"               # <captures.schedules[0].cron>

[[pairs]]                     # <pairs[1]>
name = "two"                  # <pairs[1].name>
[pairs.features]              # <pairs[1].features>
watchlist = { remove = true } # <pairs[1].features.watchlist>

[[pairs]]                     # <pairs[2]>
name = "three"                # <pairs[2].name>
schedule = "0 * * * *"        # <pairs[2].schedule>
"""


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        (["daemon", "listen"], "<daemon.listen>"),
        (["plex", "url"], "<plex.url>"),
        (["plex", "timeout_s"], "<plex.timeout_s>"),
        (["trakt", "timeout_s"], "<trakt.timeout_s>"),
        (["plex", "history", "include_marked_watched"], "<plex.history.include_marked_watched>"),
        (["plex", "ratings"], "<plex.ratings>"),
        (["plex", "profiles", "kids", "rating_workers"], "<plex.profiles.kids.rating_workers>"),
        (["plex", "profiles", "kids", "a.b"], "<quoted dotted key>"),
        (["pairs", 0, "name"], "<pairs[0].name>"),
        (["pairs", 1, "name"], "<pairs[1].name>"),
        (["pairs", 2, "name"], "<pairs[2].name>"),
        (["pairs", 2, "schedule"], "<pairs[2].schedule>"),
        (["pairs", 1, "features"], "<pairs[1].features>"),
        (["pairs", 1, "features", "watchlist"], "<pairs[1].features.watchlist>"),
        (["captures", "schedules", 0, "cron"], "<captures.schedules[0].cron>"),
    ],
)
def test_locate_finds_the_line_that_sets_the_key(path: list, marker: str) -> None:
    assert locate(CONFIG, path) == line_of(CONFIG, marker)


def test_dotted_key_inside_a_table_is_found_under_its_full_path() -> None:
    assert locate(CONFIG, ["plex", "history", "libraries"]) == line_of(CONFIG, "<plex.history.libraries (dotted)>")


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        # a key the file does not set: the table it would go in
        (["plex", "history", "libraries", 0], "<plex.history.libraries (dotted)>"),
        (["pairs", 0, "source"], "<pairs[0]>"),
        (["pairs", 2, "features"], "<pairs[2]>"),
        (["captures", "schedules", 0, "keep_days"], "<captures.schedules[0]>"),
        (["plex", "profiles", "kids", "history", "include_marked_watched"], "<plex.profiles.kids>"),
        # inline tables: the line of the key that holds them
        (["pairs", 1, "features", "watchlist", "remove"], "<pairs[1].features.watchlist>"),
    ],
)
def test_locate_falls_back_to_the_nearest_enclosing_table(path: list, marker: str) -> None:
    assert locate(CONFIG, path) == line_of(CONFIG, marker)


def test_commented_keys_and_headers_are_not_keys() -> None:
    # the commented "# [plex.history]" on line 2 is not the table
    assert locate(CONFIG, ["plex", "history"]) == line_of(CONFIG, "<plex.history>")
    text = "# [plex]\n# rating_workers = 3\n[plex]\n#rating_workers = 4\nrating_workers = 5  # = 6\n"
    assert locate(text, ["plex", "rating_workers"]) == line_of(text, "= 5")


def test_a_quoted_dotted_key_is_one_key_not_two() -> None:
    assert locate(CONFIG, ["plex", "profiles", "kids", "a", "b"]) == line_of(CONFIG, "<plex.profiles.kids>")


def test_unknown_path_has_no_line() -> None:
    assert locate(CONFIG, ["jellyfin", "url"]) is None
    assert locate(CONFIG, ["pairs", 3, "name"]) is None
    assert locate("", ["plex"]) is None


def test_arrays_of_tables_are_counted_per_array_and_per_parent_item() -> None:
    text = "\n".join(
        [
            "[[a]]",
            "x = 0         # a[0].x",
            "[[a.b]]",
            "y = 0         # a[0].b[0].y",
            "[[a.b]]",
            "y = 1         # a[0].b[1].y",
            "[[c]]",
            "[[a]]",
            "x = 1         # a[1].x",
            "[[a.b]]",
            "y = 2         # a[1].b[0].y",
            "[a.d]",
            "z = 3         # a[1].d.z",
        ]
    )
    for path, marker in [
        (["a", 0, "x"], "# a[0].x"),
        (["a", 0, "b", 0, "y"], "# a[0].b[0].y"),
        (["a", 0, "b", 1, "y"], "# a[0].b[1].y"),
        (["a", 1, "x"], "# a[1].x"),
        (["a", 1, "b", 0, "y"], "# a[1].b[0].y"),
        (["a", 1, "d", "z"], "# a[1].d.z"),
    ]:
        assert locate(text, path) == line_of(text, marker), path


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("plex", ["plex"]),
        ("plex.history.libraries", ["plex", "history", "libraries"]),
        ("plex . history", ["plex", "history"]),
        ('plex.profiles."kids"', ["plex", "profiles", "kids"]),
        ('site."google.com".x', ["site", "google.com", "x"]),
        ("a.'b c'.d", ["a", "b c", "d"]),
        ('""', [""]),
    ],
)
def test_split_key(key: str, parts: list[str]) -> None:
    assert split_key(key) == parts


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("$", []),
        ("$.plex.rating_workers", ["plex", "rating_workers"]),
        ("$.pairs[0].mode", ["pairs", 0, "mode"]),
        ("$[12].schedule", [12, "schedule"]),
        ("$.history.include_marked_watched", ["history", "include_marked_watched"]),
        ("$[0].features[...].add", [0, "features", "add"]),
    ],
)
def test_parse_msgspec_path(path: str, parts: list) -> None:
    assert parse_msgspec_path(path) == parts


def test_format_path_is_what_messages_show() -> None:
    assert format_path(["pairs", 0, "schedule"]) == "pairs[0].schedule"
    assert format_path(["plex", "profiles", "kids", "rating_workers"]) == "plex.profiles.kids.rating_workers"
    assert format_path([]) == ""
