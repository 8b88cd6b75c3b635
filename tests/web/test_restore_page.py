"""The restore page: the plan first, a write only after confirming that very plan, the run followed."""

# ruff: noqa: F811  (pytest fixtures imported from tests.sync_env are arguments here)
from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from crosswatch.runs import RunHistory
from crosswatch.state import StateDir
from crosswatch.webui.app import WebError
from crosswatch.webui.jobs import Jobs, WebContext
from tests.capture_env import merged
from tests.sync_env import OWNER, SyncEnv, cw_env, emulators, sync_env  # noqa: F401
from tests.web.conftest import Dashboard, csp_violations, fresh, shot


def signed_form(url: str, page: str) -> tuple[httpx.Client, str]:
    """A client holding a dashboard session, and the CSRF token of ``page``'s forms."""
    client = httpx.Client(base_url=url, timeout=30)
    reply = client.get(page)
    assert reply.status_code == 200, reply.text
    found = re.search(r'name="csrf" value="([^"]+)"', reply.text)
    assert found, f"no form on {page}"
    return client, found.group(1)


def follow_run(driver: Any, url: str) -> str:
    """On a run's page: wait (htmx polling) until the run has ended; its result."""
    assert re.search(r"/runs/\d+$", driver.current_url), driver.current_url
    fresh(driver, 60).until(lambda d: d.find_element(By.ID, "run-result").text != "RUNNING")
    return str(driver.find_element(By.ID, "run-result").text)


@pytest.mark.slow
def test_a_restore_shows_its_plan_and_writes_only_the_confirmed_plan(
    sync_env: SyncEnv, fresh_browser: Any, dashboards: list[Dashboard]
) -> None:
    env, driver = sync_env, fresh_browser
    before = env.plex_view("ratings")
    assert len(before) >= 3
    assert env.cli("capture", "create", "--provider", "plex", "--feature", "ratings", "--label", "keep").code == 0
    [name] = env.cw.captures()
    entries = env.plex_state()["users"][OWNER]["ratings"]
    env.edit_plex(lambda user: user.update(ratings=[]))  # lost: every rating
    assert env.plex_view("ratings") == {}
    dashboard = Dashboard(env.cw.folder, merged(env.emu.config(), {"daemon": {"listen": "127.0.0.1:0"}}))
    dashboards.append(dashboard)

    driver.get(dashboard.url + "/restore")
    Select(driver.find_element(By.NAME, "capture")).select_by_value(name)
    Select(driver.find_element(By.NAME, "mode")).select_by_value("merge")
    shot(driver, "restore", "choose")
    driver.find_element(By.CSS_SELECTOR, "#restore-choose button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "plan"))
    assert driver.find_element(By.ID, "plan-capture").text == name
    add = driver.find_element(By.CSS_SELECTOR, "#plan-ratings .plan-add .total").text
    assert int(add) == len(before)
    assert driver.find_element(By.CSS_SELECTOR, "#plan-ratings .plan-remove .total").text == "0"
    assert "no safety capture" in driver.find_element(By.ID, "safety-note").text
    shot(driver, "restore", "plan")
    assert env.plex_view("ratings") == {}  # the plan wrote nothing

    # the provider moves while the plan is on screen: confirming the old plan writes nothing
    env.edit_plex(lambda user: user.update(ratings=entries[:1]))
    first = next(iter(env.plex_view("ratings").items()))
    driver.find_element(By.CSS_SELECTOR, "#restore-confirm button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "error"))
    assert driver.find_element(By.CSS_SELECTOR, "#error h1").text == "409"
    assert "the plan changed since it was shown" in driver.find_element(By.CSS_SELECTOR, "#error .message").text
    shot(driver, "restore", "plan-changed")
    assert env.plex_view("ratings") == dict([first])
    runs = RunHistory(StateDir(env.cw.folder))
    assert [r for r in runs.list(limit=50) if r.kind == "restore"] == []

    # the new plan, confirmed: written, recorded as a web restore, the run page followed to its end
    driver.back()
    driver.refresh()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "restore-confirm"))
    add = driver.find_element(By.CSS_SELECTOR, "#plan-ratings .plan-add .total").text
    assert int(add) == len(before) - 1
    driver.find_element(By.CSS_SELECTOR, "#restore-confirm button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: "/runs/" in d.current_url)
    assert follow_run(driver, dashboard.url) == "OK"
    facts = driver.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "Trigger\nweb" in facts and "restore:plex" in facts.lower()
    shot(driver, "restore", "run")
    assert env.plex_view("ratings") == before
    [run] = [r for r in runs.list(limit=50) if r.kind == "restore"]
    assert run.trigger == "web" and run.result == "ok" and run.counts["added"] == len(before) - 1
    assert csp_violations(driver) == []

    # bad input: 4xx with a message, never a traceback, never a write
    env.edit_plex(lambda user: user.update(ratings=[]))
    client, token = signed_form(dashboard.url, f"/restore/plan?capture={name}")
    for path, code, words in [
        ("/restore/plan?capture=../config.toml", 400, "not a capture name"),
        ("/restore/plan?capture=2026-01-01/nothing.json", 404, "no capture"),
        (f"/restore/plan?capture={name}&mode=wipe", 400, "mode: one of"),
        ("/restore/plan", 400, "capture: choose"),
    ]:
        reply = client.get(path)
        assert reply.status_code == code and words in reply.text and "Traceback" not in reply.text, path
    for form, code, words in [
        ({"capture": name, "mode": "merge", "plan": "0" * 64}, 409, "the plan changed"),
        ({"capture": name, "mode": "merge", "plan": "../../x"}, 400, "plan: not a plan id"),
        ({"capture": "../../config.toml", "mode": "merge", "plan": "0" * 64}, 400, "not a capture name"),
        ({"capture": name, "mode": "merge", "plan": "0" * 64, "csrf": "forged"}, 403, "CSRF"),
        ({"capture": name, "mode": "merge", "plan": "0" * 64, "pad": "x" * 70_000}, 413, "too large"),
    ]:
        reply = client.post("/restore/run", data={"csrf": token, **form})
        assert reply.status_code == code and words in reply.text and "Traceback" not in reply.text, form
    assert env.plex_view("ratings") == {}
    assert len([r for r in runs.list(limit=50) if r.kind == "restore"]) == 1


@pytest.mark.anyio
async def test_one_dashboard_job_of_a_kind_runs_at_a_time() -> None:
    release = anyio.Event()

    async def work(ctx: WebContext) -> str:
        assert ctx.trigger == "web"
        await release.wait()
        return "done"

    async with anyio.create_task_group() as tg:
        # the daemon's task group and facts (a real daemon cannot be held inside a job on cue)
        ui: Any = SimpleNamespace(config=lambda: None, host=None, bus=None, daemon=SimpleNamespace(tasks=tg))
        jobs = Jobs(ui)
        first = jobs.start("restore", "capture a (merge)", work)
        with pytest.raises(WebError) as refused:
            jobs.start("restore", "capture b (merge)", work)
        assert refused.value.status == 409 and "still running (capture a (merge))" in refused.value.message
        other = jobs.start("apply", "pair p", work)  # another kind is not held up
        release.set()
        await jobs.settled(first)
        await jobs.settled(other)
        assert first.done and first.outcome == "done" and other.done
        again = jobs.start("restore", "capture b (merge)", work)  # the first one ended
        await jobs.settled(again)
        assert again.outcome == "done"
