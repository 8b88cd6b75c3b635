"""The captures pages in a real browser: browse, filter, open, create (a daemon job), queue, delete."""

# ruff: noqa: F811  (pytest fixtures imported from tests.capture_env are arguments here)
from __future__ import annotations

import re
import tomllib
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from crosswatch.runs import RunHistory
from crosswatch.state import StateDir
from tests.capture_env import CwEnv, cw_env, emulators, merged  # noqa: F401
from tests.web.conftest import Dashboard, csp_violations, fresh, shot

pytestmark = pytest.mark.slow


def listed(driver: Any) -> list[str]:
    """The top-level captures the listing shows, newest first."""
    return [r.get_attribute("data-capture") for r in driver.find_elements(By.CSS_SELECTOR, "tr.capture")]


def start(env: CwEnv, dashboards: list[Dashboard]) -> Dashboard:
    dashboard = Dashboard(env.folder, merged(env.emu.config(), {"daemon": {"listen": "127.0.0.1:0"}}))
    dashboards.append(dashboard)
    return dashboard


def csrf(driver: Any) -> str:
    return driver.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")


def test_the_capture_browser_filters_groups_bundles_and_opens_a_capture(
    cw_env: CwEnv, fresh_browser: Any, dashboards: list[Dashboard]
) -> None:
    env, driver = cw_env, fresh_browser
    assert env.cli("capture", "create", "--provider", "plex", "--feature", "all", "--label", "before-trip").code == 0
    assert env.cli("capture", "create", "--provider", "trakt", "--feature", "watchlist", "--label", "tw").code == 0
    rows = env.json("capture", "list", "--json")  # the CLI's listing, newest first
    bundle = next(r for r in rows if r["feature"] == "all")
    trakt = next(r for r in rows if r["provider"] == "TRAKT")
    dashboard = start(env, dashboards)

    driver.get(dashboard.url + "/captures")
    assert listed(driver) == [r["path"] for r in rows]
    children = driver.find_elements(By.CSS_SELECTOR, f'tr.child[data-child-of="{bundle["path"]}"]')
    assert [c.find_element(By.TAG_NAME, "a").text for c in children] == [c["path"] for c in bundle["children"]]
    assert "tw" in driver.find_element(By.CSS_SELECTOR, f'tr[data-capture="{trakt["path"]}"]').text
    shot(driver, "captures_browse", "captures")

    form = driver.find_element(By.ID, "capture-filters")
    Select(form.find_element(By.NAME, "provider")).select_by_value("trakt")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 20).until(expected_conditions.url_contains("provider=trakt"))
    assert listed(driver) == [trakt["path"]]
    driver.get(dashboard.url + "/captures?q=before")
    assert listed(driver) == [bundle["path"]]
    driver.get(dashboard.url + "/captures?feature=history")  # a bundle is found through its child
    assert listed(driver) == [bundle["path"]]
    driver.get(dashboard.url + "/captures?type=safety")
    assert listed(driver) == [] and "No captures match" in driver.find_element(By.ID, "no-captures").text
    shot(driver, "captures_browse", "captures-filtered-none")

    # the bundle's page lists its features; a child's page its items, counted, paged, searchable
    driver.get(dashboard.url + "/captures")
    driver.find_element(By.LINK_TEXT, bundle["path"]).click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "capture-label"))
    assert driver.find_element(By.ID, "capture-label").text == "before-trip"
    features = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#children th")]
    assert features == [c["feature"] for c in bundle["children"]]
    shot(driver, "captures_browse", "bundle")
    history = next(c for c in bundle["children"] if c["feature"] == "history")
    driver.find_element(By.LINK_TEXT, history["path"]).click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "ol.items li"))  # the child's page
    by_type = {
        r.find_element(By.TAG_NAME, "th").text: int(r.find_element(By.TAG_NAME, "td").text.replace(",", ""))
        for r in driver.find_elements(By.CSS_SELECTOR, "#by-type tr")
    }
    assert by_type == history["by_type"]
    items = driver.find_elements(By.CSS_SELECTOR, "ol.items li")
    assert len(items) == min(100, history["count"]) > 0
    first = items[0].text
    assert f"{history['count']:,} item(s)" in driver.find_element(By.ID, "item-count").text
    if history["count"] > 100:
        driver.find_element(By.ID, "next-items").click()
        fresh(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, "ol.items li").text != first)
        assert len(driver.find_elements(By.CSS_SELECTOR, "ol.items li")) == min(100, history["count"] - 100)
    shot(driver, "captures_browse", "capture")
    shown = env.cli("capture", "show", history["path"], "--items")
    word = re.search(r"\[[a-z]+:[a-z-]+:([^:\]]+)", first).group(1)  # the first item's id (imdb, tmdb, ...)
    driver.get(dashboard.url + "/captures/" + history["path"] + "?q=" + word)
    found = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "ol.items li")]
    assert found and all(word in line for line in found) and len(found) <= shown.out.count(word)
    assert csp_violations(driver) == []

    # bad names: 4xx with a message, never a traceback, nothing read outside snapshots/
    for path, code, words in [
        ("/captures/%2E%2E%2Fconfig.toml", 400, "a capture name is a path under snapshots/"),
        ("/captures/2020-01-01/nothing.json", 404, "no such capture"),
        ("/captures/" + bundle["path"] + "?page=0", 400, "page: a page number"),
        ("/captures?type=nightly", 400, "type: one of manual, auto, safety"),
        ("/captures?feature=%3Cb%3E", 400, "feature:"),
        ("/compare?a=%2E%2E%2F.cw_state%2Fweb.key&b=live", 400, "a capture name is a path under snapshots/"),
    ]:
        reply = httpx.get(dashboard.url + path, timeout=10)
        assert reply.status_code == code and words in reply.text and "Traceback" not in reply.text, path
    driver.get(dashboard.url + "/captures/%2E%2E%2Fconfig.toml")
    shot(driver, "captures_browse", "bad-name")


def test_create_queue_and_delete_a_capture_from_the_dashboard(
    cw_env: CwEnv, fresh_browser: Any, dashboards: list[Dashboard]
) -> None:
    env, driver = cw_env, fresh_browser
    dashboard = start(env, dashboards)
    driver.get(dashboard.url + "/captures")
    assert listed(driver) == []

    # create: a daemon job recorded with trigger "web"; the page follows it to its end
    form = driver.find_element(By.ID, "create-form")
    Select(form.find_element(By.NAME, "provider")).select_by_value("trakt")
    Select(form.find_element(By.NAME, "feature")).select_by_value("watchlist")
    form.find_element(By.NAME, "label").send_keys("from the web")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    fresh(driver, 60).until(lambda d: d.find_element(By.ID, "job-result").text == "OK")
    [made] = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#job-captures a")]
    assert made in env.captures() and "__TRAKT__watchlist__from-the-web" in made
    [run] = RunHistory(StateDir(env.folder)).list(kind="capture")
    assert (run.trigger, run.result, run.job) == ("web", "ok", "capture:TRAKT:watchlist")
    assert driver.find_element(By.ID, "job-run").text == str(run.id)
    shot(driver, "captures_create", "job")
    assert env.json("capture", "show", made, "--json")["label"] == "from the web"

    # queue for the scheduler: schedules.toml as `capture schedule add` writes it
    driver.get(dashboard.url + "/captures")
    form = driver.find_element(By.ID, "queue-form")
    Select(form.find_element(By.NAME, "provider")).select_by_value("plex")
    Select(form.find_element(By.NAME, "feature")).select_by_value("ratings")
    cron = form.find_element(By.NAME, "cron")
    cron.clear()
    cron.send_keys("15 4 * * *")
    form.find_element(By.NAME, "name").send_keys("web-plex")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 20).until(expected_conditions.url_contains("queued=web-plex"))
    assert "web-plex" in driver.find_element(By.ID, "flash").text
    shot(driver, "captures_create", "queued")
    written = (env.folder / "schedules.toml").read_bytes()
    entries = tomllib.loads(written.decode())["captures"]["schedules"]
    assert [(e["provider"], e["feature"], e["cron"], e["name"]) for e in entries] == [
        ("plex", "ratings", "15 4 * * *", "web-plex")
    ]
    [listed_schedule] = env.json("capture", "schedule", "list", "--json")
    assert listed_schedule["name"] == "web-plex" and listed_schedule["file"] == "schedules.toml"
    # the CLI, given the same, writes the same file
    (env.folder / "schedules.toml").unlink()
    add = ["capture", "schedule", "add", "--provider", "plex", "--feature", "ratings", "--name", "web-plex"]
    assert env.cli(*add, "--cron", "15 4 * * *").code == 0
    assert (env.folder / "schedules.toml").read_bytes() == written

    # bad input: 4xx with a message, and nothing written
    token = csrf(driver)
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    for data, words in [
        ({"provider": "plex", "feature": "ratings", "cron": "not a cron", "name": "x1"}, "cron"),
        ({"provider": "plex", "feature": "ratings", "cron": "0 3 * * *", "name": "web-plex"}, "exists"),
        ({"provider": "nope", "feature": "ratings", "cron": "0 3 * * *"}, "provider: one of"),
        ({"provider": "plex", "feature": "films", "cron": "0 3 * * *"}, "feature: one of"),
        ({"provider": "plex", "profile": "../x", "feature": "all", "cron": "0 3 * * *"}, "profile:"),
    ]:
        reply = httpx.post(dashboard.url + "/captures/queue", data={"csrf": token, **data}, cookies=cookies, timeout=10)
        assert reply.status_code == 400 and words in reply.text and "Traceback" not in reply.text, data
    reply = httpx.post(dashboard.url + "/captures/create", data={"csrf": token, "provider": "trakt",
                       "feature": "all", "label": "a\nb"}, cookies=cookies, timeout=10)  # fmt: skip
    assert reply.status_code == 400 and "control characters" in reply.text
    assert (env.folder / "schedules.toml").read_bytes() == written
    assert env.captures() == {made}

    # delete: a confirmation first, then only on the second POST
    driver.get(dashboard.url + "/captures/" + made)
    driver.find_element(By.CSS_SELECTOR, "#delete-form button").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#doomed li"))  # the next page
    assert [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#doomed li")] == [made]
    assert env.captures() == {made}
    shot(driver, "captures_delete", "confirm")
    reply = httpx.post(
        dashboard.url + "/captures/delete", data={"capture": made, "confirm": "yes"}, cookies=cookies, timeout=10
    )
    assert reply.status_code == 403 and env.captures() == {made}  # no CSRF token, no delete
    driver.find_element(By.CSS_SELECTOR, "#confirm-delete button").click()
    WebDriverWait(driver, 20).until(expected_conditions.url_contains("deleted="))
    assert "Deleted 1 file(s)" in driver.find_element(By.ID, "flash").text
    assert env.captures() == set() and listed(driver) == []
    shot(driver, "captures_delete", "deleted")
    reply = httpx.post(
        dashboard.url + "/captures/delete", data={"csrf": token, "capture": made}, cookies=cookies, timeout=10
    )
    assert reply.status_code == 404 and "no such capture" in reply.text
    assert csp_violations(driver) == []
