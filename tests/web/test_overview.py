"""The overview in a real browser: a scheduled sync that really failed stands out, then clears by itself."""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import tomli_w
from selenium.webdriver.common.by import By

from tests.capture_env import merged
from tests.daemon_proc import write_atomically
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401
from tests.test_runs import closed_port
from tests.web.conftest import Dashboard, csp_violations, fresh, shot

pytestmark = pytest.mark.slow


def run_job(dashboard: Dashboard, job: str) -> None:
    """Run a scheduled job now through the daemon's /jobs endpoint and wait for it to end."""
    token = json.loads((dashboard.folder / ".cw_state" / "daemon.json").read_text())["token"]
    mark = dashboard.daemon.mark()
    reply = httpx.post(f"{dashboard.url}/jobs/{job}/run", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert reply.status_code == 202, reply.text
    dashboard.daemon.wait_for("job.finished", after=mark, timeout=60)


def test_the_overview_shows_a_failed_scheduled_sync_and_refreshes_itself_when_it_recovers(
    sync_env: SyncEnv, fresh_browser: Any, dashboards: list[Dashboard]
) -> None:
    env, driver = sync_env, fresh_browser
    pair = env.pair("p", features=["watchlist"], schedule="0 3 1 1 *")
    good = merged(env.emu.config(), {"pairs": [pair], "daemon": {"listen": "127.0.0.1:0"}})
    bad = merged(good, {"trakt": {"api_url": f"http://127.0.0.1:{closed_port()}", "max_retries": 0}})
    dashboard = Dashboard(env.cw.folder, bad)
    dashboards.append(dashboard)
    run_job(dashboard, "sync:p")

    driver.get(dashboard.url + "/")
    verdict = driver.find_element(By.ID, "verdict")
    assert verdict.find_element(By.TAG_NAME, "h1").text == "crosswatch: FAILING"
    assert "bad" in verdict.get_attribute("class").split()
    reason = verdict.find_element(By.CSS_SELECTOR, 'li[data-what="sync:p"]')
    assert "failed" in reason.text and "ConnectError" in reason.text
    row = driver.find_element(By.CSS_SELECTOR, 'tr[data-job="sync:p"]')
    assert "bad" in row.get_attribute("class").split()  # the failed job's row stands out
    assert row.find_element(By.CSS_SELECTOR, ".badge").text == "FAILED"
    assert "ConnectError" in row.find_element(By.CSS_SELECTOR, ".error-line").text
    signed = driver.find_element(By.ID, "sign-ins").text
    assert "plex: signed in" in signed and "trakt: signed in" in signed
    assert "running (pid" in driver.find_element(By.ID, "daemon").text
    assert "no pause" in driver.find_element(By.ID, "scrobbling").text
    shown = reason.text  # read now: the overview replaces itself every few seconds
    # the same facts as `crosswatch status`: the reason's words are the CLI's
    said = env.cli("status", "--json")
    [cli_reason] = json.loads(said.out)["reasons"]
    assert shown == cli_reason["message"]
    shot(driver, "overview_failed", "overview")

    # the last run's link opens its page
    link = 'tr[data-job="sync:p"] td:nth-child(3) a'
    fresh(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, link).click() or True)
    fresh(driver).until(lambda d: d.find_elements(By.ID, "run-result"))
    assert driver.find_element(By.ID, "run-result").text == "FAILED"
    assert "ConnectError" in driver.find_element(By.ID, "run-error").text

    # back on the overview, untouched: a good run turns it OK by itself (htmx polling the partial)
    driver.get(dashboard.url + "/")
    mark = dashboard.daemon.mark()
    write_atomically(env.cw.folder / "config.toml", tomli_w.dumps(good))
    dashboard.daemon.wait_for("config.reloaded", after=mark, timeout=30)
    run_job(dashboard, "sync:p")
    fresh(driver, 45).until(lambda d: d.find_element(By.CSS_SELECTOR, "#verdict h1").text == "crosswatch: OK")
    fresh(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-job="sync:p"] .badge').text == "OK")
    assert csp_violations(driver) == []  # htmx runs under the policy: no inline script or style needed
    shot(driver, "overview_failed", "overview-recovered")
