"""The plugin host: third-party providers from a drop-in file and from an entry point,
failures reported per plugin, blocking by config and at runtime, name clashes, built-ins.

The third-party plugins are real files under ``tests/thirdparty/``: ``mediabox.py`` is
copied into ``<config dir>/plugins.d/``, and the ``crosswatch_simkl`` package is laid out
next to a ``.dist-info`` folder so ``importlib.metadata`` finds its entry point, exactly as
after ``pip install``. The command line is the installed ``crosswatch`` console script.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import crosswatch
from crosswatch.config import ConfigError, load_config
from crosswatch.model import Feature, Item, MediaType
from crosswatch.plugins import PluginHost, peek_disabled
from crosswatch.provider import Provider, WriteResult
from crosswatch.state import StateDir

CROSSWATCH = Path(sys.executable).with_name("crosswatch")
THIRDPARTY = Path(__file__).parent / "thirdparty"
SIMKL_DIST = "crosswatch-simkl"
SIMKL_VERSION = "0.3.1"

BROKEN_DROPIN = textwrap.dedent(
    '''\
    """A drop-in whose import fails."""
    import os
    raise RuntimeError("mediabox-client is not installed")
    '''
)
TYPO_DROPIN = textwrap.dedent(
    '''\
    """A drop-in with a syntax error."""
    from crosswatch import hookimpl

    def crosswatch_config_sections(:
        return []
    '''
)


# -- helpers ---------------------------------------------------------------------------


def make_site(root: Path) -> Path:
    """An installed-distribution layout: the package plus its ``.dist-info`` with an entry point."""
    site = root / "site"
    shutil.copytree(
        THIRDPARTY / "crosswatch_simkl", site / "crosswatch_simkl", ignore=shutil.ignore_patterns("__pycache__")
    )
    info = site / f"crosswatch_simkl-{SIMKL_VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {SIMKL_DIST}\nVersion: {SIMKL_VERSION}\nSummary: SIMKL provider for crosswatch\n",
        encoding="utf-8",
    )
    (info / "entry_points.txt").write_text("[crosswatch]\nsimkl = crosswatch_simkl\n", encoding="utf-8")
    (info / "top_level.txt").write_text("crosswatch_simkl\n", encoding="utf-8")
    return site


def dropin(config_dir: Path, name: str, text: str) -> Path:
    folder = config_dir / "plugins.d"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def run_cli(config_dir: Path, *args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CROSSWATCH_CONFIG_DIR", "PYTHONPATH")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [str(CROSSWATCH), "--config-dir", str(config_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def listing(config_dir: Path, site: Path | None = None) -> list[dict[str, Any]]:
    proc = run_cli(config_dir, "plugins", "list", "--json", site=site)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def row(rows: list[dict[str, Any]], name: str, source: str | None = None) -> dict[str, Any]:
    found = [r for r in rows if r["name"] == name and (source is None or r["source"] == source)]
    assert len(found) == 1, f"{name}/{source}: {found}"
    return found[0]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A config dir with the Mediabox drop-in in ``plugins.d/``."""
    folder = tmp_path / "config"
    folder.mkdir()
    dropin(folder, "mediabox", (THIRDPARTY / "mediabox.py").read_text(encoding="utf-8"))
    return folder


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path)


@pytest.fixture
def installed(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Put the SIMKL distribution on this process's path; forget the plugin modules afterwards."""
    monkeypatch.syspath_prepend(str(site))
    before = set(sys.modules)
    yield site
    for name in set(sys.modules) - before:
        if name.startswith(("crosswatch_simkl", "crosswatch_dropin_")):
            del sys.modules[name]


def loaded_host(config_dir: Path) -> PluginHost:
    host = PluginHost(config_dir)
    host.load(peek_disabled(config_dir))
    return host


# -- third-party providers: listed ------------------------------------------------------


def test_dropin_and_entry_point_plugins_are_listed_with_their_providers(config_dir: Path, site: Path) -> None:
    rows = listing(config_dir, site)

    mediabox = row(rows, "mediabox")
    assert (mediabox["source"], mediabox["status"], mediabox["error"]) == ("dropin", "loaded", "")
    assert mediabox["origin"] == str(config_dir / "plugins.d" / "mediabox.py")
    assert mediabox["providers"] == ["MEDIABOX"]
    assert mediabox["sections"] == ["mediabox"]
    assert set(mediabox["provider_features"]["MEDIABOX"]) == {"watchlist", "ratings"}
    assert mediabox["provider_features"]["MEDIABOX"]["ratings"]["clear"] is False

    simkl = row(rows, "simkl")
    assert (simkl["source"], simkl["status"], simkl["error"]) == ("entrypoint", "loaded", "")
    assert simkl["origin"].startswith(SIMKL_DIST)
    assert simkl["version"] == SIMKL_VERSION
    assert simkl["providers"] == ["SIMKL"]
    assert simkl["sections"] == ["simkl"]
    assert set(simkl["provider_features"]["SIMKL"]) == {"watchlist", "history"}

    # the entry point is found through the installed distribution, nothing else
    assert "simkl" not in {r["name"] for r in listing(config_dir)}


def test_plain_text_listing_shows_source_status_and_providers(config_dir: Path, site: Path) -> None:
    proc = run_cli(config_dir, "plugins", "list", site=site)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "SOURCE", "STATUS", "PROVIDERS", "SECTIONS"]
    table = {line.split()[0]: line.split() for line in lines[1:] if line and not line.startswith(" ")}
    assert table["mediabox"][1:5] == ["dropin", "loaded", "MEDIABOX", "mediabox"]
    assert table["mediabox"][5] == str(config_dir / "plugins.d" / "mediabox.py")
    assert table["simkl"][1:5] == ["entrypoint", "loaded", "SIMKL", "simkl"]
    assert table["simkl"][5].startswith(SIMKL_DIST)
    assert table["core"][1:3] == ["builtin", "loaded"]
    assert table["plex"][1:3] == table["trakt"][1:3] == ["entrypoint", "loaded"]


# -- third-party providers: usable -------------------------------------------------------


def movie(imdb: str, **kw: Any) -> Item:
    return Item(type=MediaType.MOVIE, ids={"imdb": imdb}, **kw)


@pytest.mark.anyio
async def test_third_party_providers_are_usable_in_process(config_dir: Path, installed: Path) -> None:
    (config_dir / "config.toml").write_text(
        textwrap.dedent(
            """\
            [mediabox]
            url = "http://jf.lan:8096"
            user = "alice"
            [mediabox.profiles.kids]
            user = "kid"

            [simkl]
            client_id = "c0ffee"
            """
        ),
        encoding="utf-8",
    )
    host = loaded_host(config_dir)
    assert {"MEDIABOX", "SIMKL"} <= set(host.providers.ids())
    config = load_config(config_dir, host.sections())
    state = StateDir(config_dir)

    def build(ref: str) -> Any:
        section, profile, settings = config.resolve(ref)
        spec = host.providers.by_section(section)
        assert spec is not None, section
        return host.providers.build(spec.id, profile, settings, state)

    jf, kids, simkl = build("mediabox"), build("mediabox.kids"), build("simkl")
    for provider in (jf, kids, simkl):
        assert isinstance(provider, Provider)
    assert (jf.id, jf.profile, jf.settings.url, jf.settings.user) == (
        "MEDIABOX",
        "default",
        "http://jf.lan:8096",
        "alice",
    )
    assert (kids.profile, kids.settings.url, kids.settings.user) == ("kids", "http://jf.lan:8096", "kid")
    assert (simkl.id, simkl.settings.client_id) == ("SIMKL", "c0ffee")

    # Mediabox watchlist: add, update in place, remove, unmatched and unknown items reported
    alien, nameless = movie("tt0062622", title="2001"), Item(type=MediaType.MOVIE, title="No ids")
    result = await jf.add(Feature.WATCHLIST, [alien, movie("tt0078748", title="Alien"), nameless])
    assert len(result.ok) == 2 and [i for i, _ in result.unresolved] == [nameless]
    retitled = movie("tt0062622", title="2001: A Space Odyssey", listed_at="2026-01-02T00:00:00Z")
    await jf.add(Feature.WATCHLIST, [retitled])
    held = await jf.read(Feature.WATCHLIST)
    assert sorted(i.title for i in held) == ["2001: A Space Odyssey", "Alien"]
    assert await kids.read(Feature.WATCHLIST) == []  # profiles are separate instances
    removed = await jf.remove(Feature.WATCHLIST, [alien, movie("tt9999999")])
    # removing what is absent is done too (the goal holds), never a failure to retry
    assert [i.ids["imdb"] for i in removed.ok] == [alien.ids["imdb"], "tt9999999"] and not removed.failed
    assert [i.title for i in await jf.read(Feature.WATCHLIST)] == ["Alien"]
    with pytest.raises(ValueError, match="HISTORY|history"):
        await jf.read(Feature.HISTORY)

    # SIMKL history: two plays of one title are two items; one can be removed alone
    first = movie("tt0062622", watched_at="2026-01-01T20:00:00Z")
    second = movie("tt0062622", watched_at="2026-01-05T21:30:00Z")
    assert (await simkl.add(Feature.HISTORY, [first, second])).ok == [first, second]
    assert await simkl.remove(Feature.HISTORY, [first]) == WriteResult(ok=[first])
    assert await simkl.read(Feature.HISTORY) == [second]

    for provider in (jf, kids, simkl):
        await provider.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await jf.read(Feature.WATCHLIST)


def test_plugin_config_sections_validate_through_load_config(config_dir: Path, installed: Path) -> None:
    host = loaded_host(config_dir)
    assert host.sections()["mediabox"].owner == "mediabox"
    assert host.sections()["simkl"].owner == "simkl"
    cfg = config_dir / "config.toml"

    cfg.write_text('[mediabox]\nurl = "http://jf.lan:8096"\n[simkl]\npage_size = 250\n', encoding="utf-8")
    config = load_config(config_dir, host.sections())
    assert config.sections["mediabox"].default.url == "http://jf.lan:8096"
    assert config.sections["simkl"].default.page_size == 250
    assert not [w for w in config.warnings if "mediabox" in str(w) or "simkl" in str(w)]

    text = '[mediabox]\napi_key = "k"\nurl = 8096\n\n[simkl.profiles.alt]\npage_size = 0\n'
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir, host.sections())
    issues = {i.key: i for i in caught.value.issues}
    assert set(issues) == {"mediabox.url", "simkl.profiles.alt.page_size"}
    assert issues["mediabox.url"].line == line_of(text, "url = 8096")
    assert "str" in issues["mediabox.url"].message
    assert issues["simkl.profiles.alt.page_size"].line == line_of(text, "page_size = 0")


# -- failures, one plugin at a time --------------------------------------------------------


def test_dropins_that_fail_to_import_are_reported_and_the_rest_load(config_dir: Path, site: Path) -> None:
    broken = dropin(config_dir, "broken", BROKEN_DROPIN)
    typo = dropin(config_dir, "typo", TYPO_DROPIN)

    rows = listing(config_dir, site)
    bad = row(rows, "broken")
    assert (bad["source"], bad["status"], bad["providers"]) == ("dropin", "failed", [])
    assert "RuntimeError: mediabox-client is not installed" in bad["error"]
    assert f"broken.py:{line_of(BROKEN_DROPIN, 'raise')}" in bad["error"]
    syntax = row(rows, "typo")
    assert syntax["status"] == "failed"
    assert syntax["error"].startswith("SyntaxError")
    assert f"{typo}:{line_of(TYPO_DROPIN, 'def crosswatch_config_sections')}" in syntax["error"]
    assert row(rows, "mediabox")["status"] == row(rows, "simkl")["status"] == "loaded"
    assert row(rows, "mediabox")["providers"] == ["MEDIABOX"] and row(rows, "simkl")["providers"] == ["SIMKL"]

    text = run_cli(config_dir, "plugins", "list", site=site).stdout
    assert f"broken: {bad['error']}" in text and f"typo: {syntax['error']}" in text

    (config_dir / "config.toml").write_text('[mediabox]\nurl = "http://jf.lan:8096"\n', encoding="utf-8")
    check = run_cli(config_dir, "config", "check", site=site)
    assert check.returncode == 0, check.stderr
    assert "config OK" in check.stdout and "mediabox" in check.stdout
    assert f"plugin broken ({broken})" in check.stderr and f"plugin typo ({typo})" in check.stderr

    (config_dir / "config.toml").write_text("[mediabox]\nurl = 8096\n", encoding="utf-8")
    check = run_cli(config_dir, "config", "check", site=site)
    assert check.returncode == 1
    assert f"{config_dir / 'config.toml'}:2: mediabox.url" in check.stderr


EXITING_DROPIN = textwrap.dedent(
    '''\
    """A script-style drop-in that gives up when it is not set up."""
    import sys
    sys.exit("trakt-export needs TRAKT_EXPORT_DIR")
    '''
)
MISSPELT_DROPIN = textwrap.dedent(
    '''\
    """Its provider hook is misspelt, so it would never be called."""
    from crosswatch import hookimpl
    from crosswatch.provider import FeatureSupport, ProviderSpec

    @hookimpl
    def crosswatch_register_provider(register):
        register(ProviderSpec("MISSPELT", lambda ctx: None, {"watchlist": FeatureSupport()}))

    @hookimpl(optionalhook=True)
    def crosswatch_from_a_newer_core():
        pass
    '''
)


def test_exiting_misspelt_and_missing_plugins_are_reported_and_editor_files_ignored(
    config_dir: Path, site: Path
) -> None:
    dropin(config_dir, "exiting", EXITING_DROPIN)
    dropin(config_dir, "misspelt", MISSPELT_DROPIN)
    (config_dir / "plugins.d" / ".#mediabox.py").symlink_to("someone@host.4242")  # an Emacs lock file
    info = site / "crosswatch_gone-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: crosswatch-gone\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[crosswatch]\ngone = crosswatch_gone\n", encoding="utf-8")

    rows = listing(config_dir, site)
    exiting = row(rows, "exiting")
    assert exiting["status"] == "failed"
    assert exiting["error"].startswith("SystemExit: trakt-export needs TRAKT_EXPORT_DIR")
    assert f"exiting.py:{line_of(EXITING_DROPIN, 'sys.exit(')}" in exiting["error"]
    misspelt = row(rows, "misspelt")
    assert (misspelt["status"], misspelt["providers"]) == ("failed", [])
    assert "unknown hook crosswatch_register_provider (misspelt.py:" in misspelt["error"]
    assert "crosswatch_from_a_newer_core" not in misspelt["error"]  # declared optional
    gone = row(rows, "gone")
    assert (gone["source"], gone["status"], gone["version"]) == ("entrypoint", "failed", "1.0")
    assert "ModuleNotFoundError" in gone["error"] and "crosswatch_gone" in gone["error"]
    assert not any(r["name"].startswith(".") for r in rows)
    assert row(rows, "mediabox")["status"] == row(rows, "simkl")["status"] == "loaded"


KODI_DROPIN = textwrap.dedent(
    '''\
    """Registers its provider, then its hook falls over."""
    import msgspec
    from crosswatch import hookimpl
    from crosswatch.config import ConfigSection
    from crosswatch.provider import FeatureSupport, ProviderSpec

    class KodiSettings(msgspec.Struct):
        url: str = ""

    CONFIGURED = []

    @hookimpl
    def crosswatch_register_providers(register):
        register(ProviderSpec("KODI", lambda ctx: None, {"watchlist": FeatureSupport()}))
        raise ConnectionError("kodi server unreachable")

    @hookimpl
    def crosswatch_config_sections():
        return [ConfigSection("kodi", KodiSettings)]

    @hookimpl
    def crosswatch_configure(config):
        CONFIGURED.append(config)
    '''
)


def test_plugin_whose_register_hook_raises_is_failed_without_its_providers(config_dir: Path, installed: Path) -> None:
    dropin(config_dir, "kodi", KODI_DROPIN)
    host = loaded_host(config_dir)

    kodi = host.plugins["kodi"]
    assert kodi.status == "failed"
    assert "ConnectionError: kodi server unreachable" in kodi.error
    assert f"kodi.py:{line_of(KODI_DROPIN, 'raise ConnectionError')}" in kodi.error
    assert "KODI" not in host.providers.ids()
    with pytest.raises(KeyError, match="no provider KODI"):
        host.providers.get("KODI")
    assert "kodi" not in host.sections()
    assert kodi.providers == [] and kodi.sections == []
    assert {"MEDIABOX", "SIMKL"} <= set(host.providers.ids())
    assert host.plugins["mediabox"].status == host.plugins["simkl"].status == "loaded"

    # a failed plugin takes no further part: its other hooks are not called
    config = load_config(config_dir, host.sections())
    called = [name for name, _ in host.call_each("crosswatch_configure", config=config)]
    assert "kodi" not in called and {"mediabox", "simkl"} <= set(called)
    assert sys.modules["crosswatch_dropin_kodi"].CONFIGURED == []


GRUMPY_DROPIN = textwrap.dedent(
    '''\
    """Loads fine, but cannot take the config."""
    from crosswatch import hookimpl

    @hookimpl
    def crosswatch_configure(config):
        raise KeyError("grumpy.setting")
    '''
)


def test_configure_hook_that_raises_is_counted_and_others_still_run(config_dir: Path, installed: Path) -> None:
    dropin(config_dir, "grumpy", GRUMPY_DROPIN)
    (config_dir / "config.toml").write_text(
        '[mediabox]\nurl = "http://jf.lan:8096"\n[simkl]\nclient_id = "c0ffee"\n', encoding="utf-8"
    )
    host = loaded_host(config_dir)
    config = load_config(config_dir, host.sections())
    order = [i.plugin_name for i in reversed(host.hook.crosswatch_configure.get_hookimpls())]
    assert order.index("grumpy") < order.index("simkl")  # simkl is configured after the failure

    results = host.call_each("crosswatch_configure", config=config)
    assert "grumpy" not in [name for name, _ in results]
    assert {"mediabox", "simkl"} <= {name for name, _ in results}
    assert host.plugins["grumpy"].hook_errors == 1
    assert host.plugins["mediabox"].hook_errors == host.plugins["simkl"].hook_errors == 0
    assert host.pm.get_plugin("mediabox").CONFIGURED == ["http://jf.lan:8096"]
    assert host.pm.get_plugin("simkl").CONFIGURED == ["c0ffee"]

    host.call_each("crosswatch_configure", config=config)  # a reload: counted again
    assert host.plugins["grumpy"].hook_errors == 2
    assert host.pm.get_plugin("simkl").CONFIGURED == ["c0ffee", "c0ffee"]
    assert row(host.listing(), "grumpy")["hook_errors"] == 2


# -- blocking ------------------------------------------------------------------------------


def test_plugins_disabled_in_config_are_not_loaded(config_dir: Path, site: Path) -> None:
    dropin(config_dir, "broken", BROKEN_DROPIN)
    (config_dir / "config.toml").write_text(
        '[plugins]\ndisabled = ["mediabox", "broken"]\n\n[mediabox]\nurl = "http://jf.lan:8096"\n', encoding="utf-8"
    )
    rows = listing(config_dir, site)
    mediabox = row(rows, "mediabox")
    assert (mediabox["status"], mediabox["providers"], mediabox["sections"]) == ("disabled", [], [])
    assert not any("MEDIABOX" in r["providers"] for r in rows)
    broken = row(rows, "broken")
    assert (broken["status"], broken["error"]) == ("disabled", "")  # never imported
    assert row(rows, "simkl")["status"] == "loaded"

    check = run_cli(config_dir, "config", "check", "--json", site=site)
    report = json.loads(check.stdout)
    assert check.returncode == 0 and report["ok"] and report["plugin_errors"] == []
    assert "mediabox" not in report["sections"] and "simkl" in report["sections"]
    assert any("mediabox" in w and "no plugin provides it" in w for w in report["warnings"])


@pytest.mark.anyio
async def test_set_disabled_drops_and_restores_a_plugin_at_runtime(config_dir: Path, installed: Path) -> None:
    (config_dir / "config.toml").write_text('[mediabox]\nurl = "http://jf.lan:8096"\n', encoding="utf-8")
    host = loaded_host(config_dir)

    off, on = host.set_disabled(["mediabox", "simkl"])
    assert sorted(off) == ["mediabox", "simkl"] and on == []
    assert host.plugins["mediabox"].status == host.plugins["simkl"].status == "disabled"
    assert not {"MEDIABOX", "SIMKL"} & set(host.providers.ids())
    assert not {"mediabox", "simkl"} & set(host.sections())
    assert row(host.listing(), "mediabox")["providers"] == []
    config = load_config(config_dir, host.sections())
    assert "mediabox" not in config.sections
    called = {name for name, _ in host.call_each("crosswatch_configure", config=config)}
    assert not {"mediabox", "simkl"} & called
    assert host.set_disabled(["mediabox", "simkl"]) == ([], [])

    off, on = host.set_disabled(["simkl"])
    assert off == [] and on == ["mediabox"]
    assert host.plugins["mediabox"].status == "loaded" and host.plugins["simkl"].status == "disabled"
    assert host.plugins["mediabox"].providers == ["MEDIABOX"] and "SIMKL" not in host.providers.ids()
    config = load_config(config_dir, host.sections())
    assert config.sections["mediabox"].default.url == "http://jf.lan:8096"
    provider = host.providers.build("MEDIABOX", "default", config.sections["mediabox"].default, StateDir(config_dir))
    await provider.add(Feature.WATCHLIST, [movie("tt0078748")])
    assert [i.ids for i in await provider.read(Feature.WATCHLIST)] == [{"imdb": "tt0078748"}]
    await provider.aclose()

    assert host.set_disabled([]) == ([], ["simkl"])
    assert {"MEDIABOX", "SIMKL"} <= set(host.providers.ids())
    assert {"mediabox", "simkl"} <= set(host.sections())

    # a plugin blocked at start-up (never imported) can be enabled by a later config
    (config_dir / "config.toml").write_text('[plugins]\ndisabled = ["mediabox"]\n', encoding="utf-8")
    host = loaded_host(config_dir)
    assert host.plugins["mediabox"].status == "disabled" and "MEDIABOX" not in host.providers.ids()
    assert host.set_disabled([]) == ([], ["mediabox"])
    assert host.plugins["mediabox"].providers == ["MEDIABOX"] and "mediabox" in host.sections()


# -- name clashes ---------------------------------------------------------------------------


IMPOSTOR_DROPIN = textwrap.dedent(
    '''\
    """A drop-in whose name is already taken; it must not replace the installed plugin."""
    from crosswatch import hookimpl
    from crosswatch.provider import FeatureSupport, ProviderSpec

    @hookimpl
    def crosswatch_register_providers(register):
        register(ProviderSpec("IMPOSTOR", lambda ctx: None, {"watchlist": FeatureSupport()}))
    '''
)


def test_a_second_plugin_with_a_taken_name_is_reported_not_swapped_in(config_dir: Path, site: Path) -> None:
    dropin(config_dir, "simkl", IMPOSTOR_DROPIN)
    dropin(config_dir, "plex", IMPOSTOR_DROPIN)
    rows = listing(config_dir, site)

    for name in ("simkl", "plex"):
        first, second = row(rows, name, "entrypoint"), row(rows, name, "dropin")
        assert first["status"] == "loaded"
        assert second["status"] == "failed"
        assert second["origin"] == str(config_dir / "plugins.d" / f"{name}.py")
        assert "already taken" in second["error"] and first["origin"] in second["error"]
    assert row(rows, "simkl", "entrypoint")["providers"] == ["SIMKL"]
    assert row(rows, "plex", "entrypoint")["sections"] == ["plex"]
    assert not any("IMPOSTOR" in r["providers"] for r in rows)

    text = run_cli(config_dir, "plugins", "list", site=site).stdout
    assert "already taken" in text


SQUATTER_DROPIN = textwrap.dedent(
    '''\
    """Claims a config section and a provider id that other plugins own."""
    import msgspec
    from crosswatch import hookimpl
    from crosswatch.config import ConfigSection
    from crosswatch.provider import FeatureSupport, ProviderSpec

    class Settings(msgspec.Struct):
        url: str = ""

    @hookimpl
    def crosswatch_register_providers(register):
        register(ProviderSpec(PROVIDER, lambda ctx: None, {"watchlist": FeatureSupport()}, config_section=SECTION))

    @hookimpl
    def crosswatch_config_sections():
        return [ConfigSection(SECTION, Settings)]
    '''
)


@pytest.mark.parametrize(
    ("provider", "section", "refusal"),
    [
        ("SQUAT", "plex", "config section [plex] is already owned by plugin 'plex'"),
        ("SQUAT", "daemon", "config section [daemon] belongs to crosswatch itself"),
        ("MEDIABOX", "squat", "provider MEDIABOX is already registered by plugin 'mediabox'"),
    ],
)
def test_a_plugin_claiming_a_taken_section_or_provider_fails_alone(
    config_dir: Path, installed: Path, provider: str, section: str, refusal: str
) -> None:
    dropin(config_dir, "squatter", f"PROVIDER, SECTION = {provider!r}, {section!r}\n" + SQUATTER_DROPIN)
    host = loaded_host(config_dir)
    squatter = host.plugins["squatter"]
    assert squatter.status == "failed"
    assert squatter.error == f"ValueError: {refusal}"  # no file:line of crosswatch's own code
    assert host.providers.of_plugin("squatter") == [] and "squat" not in host.sections()
    assert host.providers.of_plugin("mediabox") == ["MEDIABOX"]
    assert host.sections()["plex"].owner == "plex"

    # core keeps its own section: [daemon] is still validated as core's
    (config_dir / "config.toml").write_text('[daemon]\nlisten = "127.0.0.1:9999"\n', encoding="utf-8")
    config = load_config(config_dir, host.sections())
    assert config.daemon.listen == "127.0.0.1:9999" and "daemon" not in config.sections
    assert not config.warnings


# -- built-ins ------------------------------------------------------------------------------


def test_core_is_builtin_and_plex_and_trakt_come_through_entry_points(tmp_path: Path) -> None:
    dist = importlib.metadata.distribution("crosswatchd")
    bundled = {ep.name: ep.value for ep in dist.entry_points if ep.group == "crosswatch"}
    assert {"plex", "trakt"} <= set(bundled)

    rows = listing(tmp_path)
    core = row(rows, "core")
    assert (core["source"], core["status"], core["version"]) == ("builtin", "loaded", crosswatch.__version__)
    for name, module in bundled.items():
        plugin = row(rows, name)
        assert (plugin["source"], plugin["status"]) == ("entrypoint", "loaded")
        assert plugin["origin"] == f"{dist.name}: {module}"
        assert plugin["version"] == dist.version
    assert row(rows, "plex")["sections"] == ["plex"]
    assert row(rows, "trakt")["sections"] == ["trakt"]

    host = PluginHost(tmp_path)
    host.load()
    assert host.sections()["plex"].owner == "plex" and host.sections()["trakt"].owner == "trakt"
    text = "[plex]\nrating_workers = 0\n"
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, host.sections())
    assert [(i.key, i.line) for i in caught.value.issues] == [("plex.rating_workers", 2)]


@pytest.mark.anyio
async def test_a_service_that_ran_well_for_a_while_restarts_without_the_long_backoff(
    monkeypatch: pytest.MonkeyPatch, logs: list[dict[str, Any]]
) -> None:
    """The restart backoff grows with quick crashes and starts afresh after a long healthy run."""
    import itertools

    import anyio

    from crosswatch import services as services_module

    monkeypatch.setattr(services_module, "RESTART_BACKOFF", (0.01, 0.02, 0.05))
    clock = iter([0, 1, 1, 2, 2, 1000, 1000, 1001])  # quick, quick, then a run of 998 s
    monkeypatch.setattr(services_module, "_now", lambda: next(clock))
    crashes = itertools.count(1)

    async def flaky(ctx) -> None:
        if next(crashes) > 3:
            await anyio.sleep_forever()
        raise RuntimeError("boom")

    async with anyio.create_task_group() as tg:
        supervisor = services_module.ServiceSupervisor(tg)
        supervisor.start("flaky", [flaky], None)  # type: ignore[arg-type]
        with anyio.fail_after(120):  # only so that a defect cannot hang the suite
            while len([e for e in logs if e["event"] == "service.crashed"]) < 3:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    delays = [e["restart_in_s"] for e in logs if e["event"] == "service.crashed"]
    assert delays == [0.01, 0.02, 0.01]
