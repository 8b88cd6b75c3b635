"""The pairs page: a pair's plan (a dry run), then applying exactly that plan; forged and stale plans refused."""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from crosswatch.runs import RunHistory
from crosswatch.state import StateDir
from tests.capture_env import merged
from tests.sync_env import SyncEnv, canonical, cw_env, emulators, sync_env  # noqa: F401
from tests.web.conftest import Dashboard, csp_violations, shot
from tests.web.test_restore_page import follow_run, signed_form

pytestmark = pytest.mark.slow


def plan_from_the_page(driver: Any, url: str) -> str:
    """Open /pairs, press the pair's Plan button; the plan's id (its page's address ends with it)."""
    driver.get(url + "/pairs")
    driver.find_element(By.CSS_SELECTOR, "#pair-p button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "plan-id"))
    return str(driver.current_url.rsplit("/", 1)[1])


def test_a_sync_plan_is_shown_then_applied_exactly_and_forged_or_stale_plans_are_refused(
    sync_env: SyncEnv, fresh_browser: Any, dashboards: list[Dashboard]
) -> None:
    env, driver = sync_env, fresh_browser
    pair = env.pair("p", features=["watchlist"])
    plex, trakt = env.plex_view("watchlist"), env.trakt_view("watchlist")
    assert plex - trakt  # Plex holds titles Trakt lacks
    config = merged(env.emu.config(), {"pairs": [pair], "daemon": {"listen": "127.0.0.1:0"}})
    dashboard = Dashboard(env.cw.folder, config)
    dashboards.append(dashboard)
    runs = RunHistory(StateDir(env.cw.folder))

    driver.get(dashboard.url + "/pairs")
    row = driver.find_element(By.ID, "pair-p").text.lower()
    assert "plex" in row and "trakt" in row and "watchlist" in row and "on demand" in row
    shot(driver, "pairs", "pairs")

    # a plan reads both sides and writes nothing; it is the plan `sync plan` makes
    untouched = canonical(env.trakt_state())
    first = plan_from_the_page(driver, dashboard.url)
    cells = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#plan tbody tr td")]
    assert cells[:2] == ["watchlist", "TRAKT"] and sum(int(c) for c in cells[3::6]) == len(plex - trakt)
    shot(driver, "pairs", "plan")
    assert canonical(env.trakt_state()) == untouched and runs.list(limit=5) == []

    # Trakt changes after the plan: applying it is refused in the run, nothing written
    env.edit_trakt(lambda state: state["watchlist"].pop())
    changed = canonical(env.trakt_state())
    driver.find_element(By.CSS_SELECTOR, "#apply button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: "/runs/" in d.current_url)
    assert follow_run(driver, dashboard.url) == "FAILED"
    assert "changed since the plan was made" in driver.find_element(By.ID, "run-error").text
    shot(driver, "pairs", "stale-run")
    assert canonical(env.trakt_state()) == changed
    trakt = env.trakt_view("watchlist")

    # a new plan, applied: Trakt then holds Plex's watchlist, the run recorded as started from the web
    second = plan_from_the_page(driver, dashboard.url)
    assert second != first
    client, token = signed_form(dashboard.url, driver.current_url.removeprefix(dashboard.url))
    driver.find_element(By.CSS_SELECTOR, "#apply button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: "/runs/" in d.current_url)
    assert follow_run(driver, dashboard.url) == "OK"
    shot(driver, "pairs", "applied-run")
    assert env.trakt_view("watchlist") == trakt | plex
    [ok] = [r for r in runs.list(limit=10) if r.result == "ok"]
    assert ok.kind == "apply" and ok.trigger == "web" and ok.pair == "p"
    assert csp_violations(driver) == []

    # forged, superseded or already applied plan ids: 4xx with a message, nothing written
    third = plan_from_the_page(driver, dashboard.url)
    after = canonical(env.trakt_state())
    for form, code, words in [
        ({"plan": second}, 409, "not the current plan of p"),  # applied once already
        ({"plan": first}, 409, "not the current plan of p"),  # replaced
        ({"plan": "f" * 64}, 409, "not the current plan of p"),  # forged
        ({"plan": "../../config.toml"}, 400, "plan: not a plan id"),
        ({}, 400, "plan: not a plan id"),
    ]:
        reply = client.post("/pairs/p/apply", data={"csrf": token, **form})
        assert reply.status_code == code and words in reply.text and "Traceback" not in reply.text, form
    reply = client.post("/pairs/nope/apply", data={"csrf": token, "plan": third})
    assert reply.status_code == 404 and "no pair " in reply.text
    reply = client.post("/pairs/p/apply", data={"csrf": "forged", "plan": third})
    assert reply.status_code == 403
    driver.get(dashboard.url + "/pairs/p/plans/" + "f" * 64)
    assert driver.find_element(By.CSS_SELECTOR, "#error h1").text == "409"
    shot(driver, "pairs", "forged-plan")
    assert canonical(env.trakt_state()) == after
    assert len(runs.list(limit=10)) == 2
