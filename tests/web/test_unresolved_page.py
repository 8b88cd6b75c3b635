"""The unresolved page: what a real sync froze, per provider and feature with the reason; release one, then all."""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.capture_env import merged
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401
from tests.web.conftest import Dashboard, csp_violations, shot
from tests.web.test_restore_page import signed_form

pytestmark = pytest.mark.slow


def frozen(env: SyncEnv) -> list[dict[str, Any]]:
    """What ``crosswatch unresolved list`` says."""
    return list(env.cw.json("unresolved", "list", "--json"))


def test_the_unresolved_page_lists_frozen_items_and_releases_one_then_all(
    sync_env: SyncEnv, fresh_browser: Any, dashboards: list[Dashboard]
) -> None:
    env, driver = sync_env, fresh_browser
    pair = env.pair("p", features=["watchlist", "ratings"])
    env.pairs(pair)
    assert env.run("p")["ok"]
    rows = frozen(env)  # the seeded Plex library has titles Trakt cannot match
    groups = sorted({(r["provider"], r["feature"]) for r in rows})
    assert rows and groups
    config = merged(env.emu.config(), {"pairs": [pair], "daemon": {"listen": "127.0.0.1:0"}})
    dashboard = Dashboard(env.cw.folder, config)
    dashboards.append(dashboard)

    driver.get(dashboard.url + "/unresolved")
    assert driver.find_element(By.ID, "total").text == f"{len(rows)} frozen item(s)."
    sections = driver.find_elements(By.CSS_SELECTOR, "section.unresolved")
    assert [s.get_attribute("id") for s in sections] == [f"unresolved-{p}-{f}" for p, f in groups]
    reasons = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "td.reason")]
    assert sorted(reasons) == sorted(r["reason"] for r in rows)
    shot(driver, "unresolved", "list")

    # the run that froze them lists them on its page, with why
    [run] = env.cw.json("runs", "--json")
    driver.get(f"{dashboard.url}/runs/{run['id']}")
    listed = driver.find_elements(By.CSS_SELECTOR, "#problems tbody tr")
    assert len(listed) == len(run["problems"]) >= len(rows)
    assert {r["reason"] for r in rows} <= {tr.find_elements(By.TAG_NAME, "td")[4].text for tr in listed}
    shot(driver, "unresolved", "run-items")
    driver.get(dashboard.url + "/unresolved")

    # release one item: a confirmation first, then it is gone (and only it)
    provider, feature = groups[0]
    section = driver.find_element(By.ID, f"unresolved-{provider}-{feature}")
    first_row = section.find_element(By.CSS_SELECTOR, "tbody tr")
    key = first_row.find_element(By.TAG_NAME, "code").text
    first_row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "confirm-release"))
    assert key in driver.find_element(By.ID, "to-release").text
    shot(driver, "unresolved", "confirm")
    assert len(frozen(env)) == len(rows)  # nothing released before confirming
    driver.find_element(By.CSS_SELECTOR, "#confirm-release button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "released"))
    assert "Released 1 item(s)" in driver.find_element(By.ID, "released").text
    shot(driver, "unresolved", "released-one")
    left = frozen(env)
    assert sorted(r["key"] for r in left) == sorted(
        r["key"] for r in rows if r["key"] != key or r["feature"] != feature
    )

    # bad input: 4xx with a message, nothing released
    client, token = signed_form(dashboard.url, "/unresolved")
    for form, code, words in [
        ({"provider": "../plex", "feature": feature}, 404, "nothing frozen"),
        ({"provider": provider, "feature": feature, "key": "movie:nope"}, 404, "is not frozen"),
        ({"provider": provider, "feature": feature, "confirm": "yes", "csrf": "forged"}, 403, "CSRF"),
    ]:
        reply = client.post("/unresolved/clear", data={"csrf": token, **form})
        assert reply.status_code == code and words in reply.text and "Traceback" not in reply.text, form
    assert frozen(env) == left

    # release all of that provider's feature
    driver.get(dashboard.url + "/unresolved")
    section = driver.find_element(By.ID, f"unresolved-{provider}-{feature}")
    section.find_element(By.CSS_SELECTOR, "form.inline button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "confirm-release"))
    driver.find_element(By.CSS_SELECTOR, "#confirm-release button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "released"))
    mine = [r for r in left if (r["provider"], r["feature"]) == (provider, feature)]
    assert f"Released {len(mine)} item(s)" in driver.find_element(By.ID, "released").text
    assert not driver.find_elements(By.ID, f"unresolved-{provider}-{feature}")
    assert [r for r in frozen(env) if (r["provider"], r["feature"]) == (provider, feature)] == []
    shot(driver, "unresolved", "released-all")
    assert csp_violations(driver) == []
