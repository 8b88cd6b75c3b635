"""The compare page and the pictures in a real browser, on captures made through the emulators."""

# ruff: noqa: F811  (pytest fixtures imported from tests.capture_env are arguments here)
from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.capture_env import CwEnv, cw_env, emulators, merged  # noqa: F401
from tests.web.conftest import Dashboard, csp_violations, shot

pytestmark = pytest.mark.slow


def counts(driver: Any) -> dict[str, tuple[int, int, int]]:
    """feature -> (added, removed, updated) from the compare table."""
    out = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#compare-counts tbody tr"):
        cells = [
            int(row.find_element(By.CSS_SELECTOR, f"td.{k}").text.split()[0]) for k in ("added", "removed", "updated")
        ]
        out[row.get_attribute("data-feature")] = (cells[0], cells[1], cells[2])
    return out


def test_compare_two_captures_and_a_capture_with_the_live_state(
    cw_env: CwEnv, fresh_browser: Any, dashboards: list[Dashboard]
) -> None:
    env, driver = cw_env, fresh_browser
    create = ("capture", "create", "--provider", "trakt", "--feature", "all")
    a = env.json(*create, "--label", "a", "--json")[0]["path"]
    state = env.trakt.state
    gone = next(iter(state.watchlist))  # known differences: one off the watchlist, one rating changed, one added
    assert state.unwatch(gone)
    changed, old = next((k, r.rating) for k, r in state.ratings.items())
    state.rate(changed, 1 if old != 1 else 2, int(time.time()))
    added = next(k for k in state.watchlist if k not in state.ratings)
    state.rate(added, 7, int(time.time()))
    touched = {(f"{key[0]}s", "rated_at") for key in (changed, added)} | {(f"{gone[0]}s", "watchlisted_at")}
    state.activities.touch(touched, int(time.time() * 1000))  # as the API's writes do: readers see a change
    b = env.json(*create, "--label", "b", "--json")[0]["path"]
    cli = env.json("capture", "compare", a, b, "--json")
    dashboard = Dashboard(env.folder, merged(env.emu.config(), {"daemon": {"listen": "127.0.0.1:0"}}))
    dashboards.append(dashboard)

    driver.get(dashboard.url + "/compare")
    form = driver.find_element(By.ID, "compare-form")
    Select(form.find_element(By.NAME, "a")).select_by_value(a)
    Select(form.find_element(By.NAME, "b")).select_by_value(b)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#compare-counts tbody tr"))
    seen = counts(driver)
    assert seen["watchlist"] == (0, 1, 0) and seen["ratings"] == (1, 0, 1)
    expected = {
        f["feature"]: tuple(sum(f["counts"][k].values()) for k in ("added", "removed", "updated"))
        for f in cli["features"]
    }
    assert seen == expected  # the same numbers as `crosswatch capture compare`
    removed = driver.find_element(By.CSS_SELECTOR, "#diff-watchlist ul.removed").text
    assert removed == "- " + cli["features"][[f["feature"] for f in cli["features"]].index("watchlist")]["removed"][0]
    field = driver.find_element(By.CSS_SELECTOR, "#diff-ratings table.updated tbody tr").text
    assert "rating" in field and str(old) in field  # field-level: the old and the new value
    bars = driver.find_elements(By.CSS_SELECTOR, "#compare-chart svg g.bar")
    assert len(bars) == 3 * len(seen) and any("ratings updated" in g.text and g.text.endswith("1") for g in bars)
    shot(driver, "compare", "two-captures")

    # against the live state: one more change since b, seen only there
    later = next(k for k in state.watchlist if k != gone)
    assert state.unwatch(later)
    state.activities.touch({(f"{later[0]}s", "watchlisted_at")}, int(time.time() * 1000))
    driver.get(dashboard.url + f"/compare?a={b}&b=live")
    live = counts(driver)
    assert live["watchlist"] == (0, 1, 0) and live["ratings"] == (0, 0, 0)
    assert "TRAKT" in driver.find_element(By.CSS_SELECTOR, "#report h2").text
    shot(driver, "compare", "live")
    driver.get(dashboard.url + f"/compare?a={a}&b={a}")
    assert driver.find_element(By.ID, "no-differences").text == "No differences."
    assert csp_violations(driver) == []

    for path, code, words in [
        (f"/compare?a={a}", 400, "pick two captures"),
        ("/compare?a=2020-01-01/x.json&b=live", 404, "no such capture"),
        (f"/compare?a={a}&b=%2Fetc%2Fpasswd", 400, "a capture name is a path under snapshots/"),
    ]:
        reply = httpx.get(dashboard.url + path, timeout=10)
        assert reply.status_code == code and words in reply.text and "Traceback" not in reply.text, path


def test_pictures_draw_plays_per_month_from_the_newest_history_capture(
    cw_env: CwEnv, fresh_browser: Any, dashboards: list[Dashboard]
) -> None:
    env, driver = cw_env, fresh_browser
    dashboard = Dashboard(env.folder, merged(env.emu.config(), {"daemon": {"listen": "127.0.0.1:0"}}))
    dashboards.append(dashboard)
    driver.get(dashboard.url + "/pictures")
    assert "No history capture yet" in driver.find_element(By.ID, "no-history").text
    made = env.json("capture", "create", "--provider", "plex", "--feature", "history", "--json")[0]["path"]
    plays = env.json("capture", "show", made, "--items", "--json")["items"]
    months = Counter(p["watched_at"][:7] for p in plays)
    driver.get(dashboard.url + "/pictures")
    assert driver.find_element(By.ID, "history-capture").text == made
    bars = driver.find_elements(By.CSS_SELECTOR, "#plays-chart svg g.bar")
    drawn = {g.find_elements(By.TAG_NAME, "text")[0].text: int(g.find_elements(By.TAG_NAME, "text")[1].text.replace(",", "")) for g in bars}  # fmt: skip
    newest = dict(sorted(months.items())[-36:])
    assert drawn == newest and sum(drawn.values()) > 0
    widths = [float(g.find_element(By.TAG_NAME, "rect").get_attribute("width")) for g in bars]
    assert max(widths) > 0 and widths[list(drawn).index(max(drawn, key=drawn.get))] == max(widths)
    assert csp_violations(driver) == []
    shot(driver, "pictures", "plays")
