"""The runs page: filter the real history, open a run (summary, counts, error, safety captures), page it."""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from crosswatch.runs import RunHistory
from crosswatch.state import StateDir
from crosswatch.webui.runs import RunFilter, find_runs
from tests.capture_env import merged
from tests.sync_env import SyncEnv, cw_env, emulators, sync_env  # noqa: F401
from tests.test_runs import closed_port
from tests.web.conftest import Dashboard, shot


def rows(driver: Any) -> list[tuple[str, str]]:
    """(kind, result) of each row of the runs table, newest first."""
    return [
        (r.find_element(By.CSS_SELECTOR, "td:nth-child(3)").text, r.find_element(By.CSS_SELECTOR, ".badge").text)
        for r in driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    ]


@pytest.mark.slow
def test_the_runs_page_filters_the_history_and_opens_a_run(
    sync_env: SyncEnv, fresh_browser: Any, dashboards: list[Dashboard]
) -> None:
    env, driver = sync_env, fresh_browser
    pair = env.pair("p", features=["watchlist"])
    env.pairs(pair)
    env.run("p")
    [first] = RunHistory(StateDir(env.cw.folder)).list(limit=1)
    assert first.safety  # the pair's first run writes: it takes a safety capture first
    assert env.cli("capture", "create", "--provider", "plex", "--feature", "watchlist", "--label", "manual").code == 0
    env.cw.configure({"pairs": [pair], "trakt": {"api_url": f"http://127.0.0.1:{closed_port()}", "max_retries": 0}})
    assert env.cli("sync", "run", "p").code == 1
    config = merged(env.emu.config(), {"pairs": [pair], "daemon": {"listen": "127.0.0.1:0"}})
    dashboard = Dashboard(env.cw.folder, config)
    dashboards.append(dashboard)

    driver.get(dashboard.url + "/runs")
    assert rows(driver) == [("sync", "failed"), ("capture", "ok"), ("sync", "ok")]
    shot(driver, "runs_filter", "runs")

    form = driver.find_element(By.ID, "run-filters")
    Select(form.find_element(By.NAME, "result")).select_by_value("failed")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 20).until(expected_conditions.url_contains("result=failed"))
    assert rows(driver) == [("sync", "failed")]
    assert "ConnectError" in driver.find_element(By.CSS_SELECTOR, "table.runs .error-line").text
    shot(driver, "runs_filter", "runs-failed")

    driver.get(dashboard.url + "/runs?kind=capture")
    assert rows(driver) == [("capture", "ok")]
    driver.get(dashboard.url + f"/runs?day={(date.today() - timedelta(days=2)).isoformat()}")
    assert rows(driver) == [] and "No runs recorded that match" in driver.find_element(By.ID, "no-runs").text
    driver.get(dashboard.url + f"/runs?pair=p&day={date.today().isoformat()}")
    assert rows(driver) == [("sync", "failed"), ("sync", "ok")]

    # the good sync run's page: summary table, counts, the safety capture it took
    driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")[1].find_element(By.TAG_NAME, "a").click()
    assert driver.find_element(By.ID, "run-result").text == "OK"
    summary = driver.find_element(By.CSS_SELECTOR, "#summary table")
    headers = [th.text for th in summary.find_elements(By.CSS_SELECTOR, "thead th")]
    assert headers[:3] == ["feature", "target", "type"] and "added" in headers
    cells = summary.find_elements(By.CSS_SELECTOR, "tbody tr td")
    assert cells[0].text == "watchlist"
    counts = driver.find_element(By.ID, "counts").text
    assert counts and "None recorded" not in counts
    links = driver.find_elements(By.CSS_SELECTOR, "#safety a")
    assert [a.text for a in links] == first.safety
    assert links[0].get_attribute("href").startswith(dashboard.url + "/captures/")
    shot(driver, "runs_filter", "run")

    # bad input answers 4xx with a message, never a traceback
    for path, code, words in [
        ("/runs?kind=bogus", 400, "kind: one of"),
        ("/runs?result=maybe", 400, "result: one of"),
        ("/runs?day=yesterday", 400, "day: a date"),
        ("/runs?before=-1", 400, "before: a run number"),
        ("/runs?pair=%3Cscript%3E", 400, "pair: not a pair name"),
        ("/runs/99999", 404, "No run 99999"),
        ("/runs/abc", 404, "runs are numbered"),
    ]:
        reply = httpx.get(dashboard.url + path, timeout=10)
        assert reply.status_code == code and words in reply.text and "Traceback" not in reply.text, path
    driver.get(dashboard.url + "/runs?kind=bogus")
    shot(driver, "runs_filter", "bad-input")


def test_runs_are_paged_newest_first_and_filters_hold_across_pages(tmp_path: Any) -> None:
    history = RunHistory(StateDir(tmp_path))
    for n in range(130):
        history.record(f"sync:p{n % 2}", "sync", "command", "failed" if n % 10 == 0 else "ok", pair=f"p{n % 2}")
    page, more = find_runs(history, RunFilter(), limit=50)
    assert [r.id for r in page] == list(range(130, 80, -1)) and more
    page, more = find_runs(history, RunFilter(before=page[-1].id), limit=50)
    assert [r.id for r in page] == list(range(80, 30, -1)) and more
    page, more = find_runs(history, RunFilter(before=31), limit=50)
    assert len(page) == 30 and not more
    failed, more = find_runs(history, RunFilter(result="failed"), limit=5)
    assert [r.id for r in failed] == [121, 111, 101, 91, 81] and more
    ok_p1, _ = find_runs(history, RunFilter(pair="p1", result="ok"), limit=200)
    assert len(ok_p1) == 65 and all(r.pair == "p1" and r.result == "ok" for r in ok_p1)
    today, _ = find_runs(history, RunFilter(day=date.today().isoformat()), limit=500)
    assert len(today) == 130
    before, _ = find_runs(history, RunFilter(day=(date.today() - timedelta(days=1)).isoformat()), limit=500)
    assert before == []
