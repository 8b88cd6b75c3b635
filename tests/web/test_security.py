"""Who may see the dashboard: loopback only without a password, sign-in beyond it, CSRF, CSP."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from crosswatch.webui.app import CSP
from crosswatch.webui.passwords import verify_password
from tests.web.conftest import Dashboard, csp_violations, shot

CROSSWATCH = str(Path(sys.executable).with_name("crosswatch"))
PASSWORD = "correct horse battery"
BEYOND = {"daemon": {"listen": "0.0.0.0:0"}}  # every address: beyond loopback


def set_password(password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CROSSWATCH, "web", "set-password"], input=password + "\n", capture_output=True, text=True, timeout=60
    )


def web_block(password: str = PASSWORD) -> dict[str, Any]:
    """The [web] block `crosswatch web set-password` prints, parsed."""
    said = set_password(password)
    assert said.returncode == 0, said.stderr
    return tomllib.loads(said.stdout)


def token_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_set_password_prints_a_salted_scrypt_line_and_refuses_a_short_one() -> None:
    block = web_block()
    stored = block["web"]["password_hash"]
    assert stored.startswith("scrypt$n=") and verify_password(PASSWORD, stored) and not verify_password("x", stored)
    assert web_block()["web"]["password_hash"] != stored  # a new salt each time
    short = set_password("short")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr and short.stdout == ""


@pytest.mark.slow
def test_beyond_loopback_without_a_password_the_pages_are_refused_and_healthz_stays(
    tmp_path: Path, fresh_browser: Any, dashboards: list[Dashboard]
) -> None:
    dashboard = Dashboard(tmp_path, BEYOND, backend="trio")
    dashboards.append(dashboard)
    for path in ("/", "/runs", "/runs/1", "/login", "/partials/overview"):
        reply = httpx.get(dashboard.url + path, timeout=10)
        assert reply.status_code == 403, path
        assert "no password is set" in reply.text and "crosswatch web set-password" in reply.text
        assert reply.headers["content-security-policy"] == CSP
    health = httpx.get(dashboard.url + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert httpx.get(dashboard.url + "/metrics", timeout=10).status_code == 200
    fresh_browser.get(dashboard.url + "/")
    assert "no password is set" in fresh_browser.find_element(By.CSS_SELECTOR, "#error .message").text
    shot(fresh_browser, "refused_without_hash", "overview")


@pytest.mark.slow
def test_beyond_loopback_with_a_password_the_pages_need_sign_in(
    tmp_path: Path, fresh_browser: Any, dashboards: list[Dashboard]
) -> None:
    driver = fresh_browser
    dashboard = Dashboard(tmp_path, {**BEYOND, **web_block()})
    dashboards.append(dashboard)
    key = tmp_path / ".cw_state" / "web.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600

    driver.get(dashboard.url + "/runs?kind=sync")
    WebDriverWait(driver, 20).until(expected_conditions.url_contains("/login"))
    shot(driver, "sign_in", "login")
    driver.find_element(By.ID, "password").send_keys("not the password")
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    failed = WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.ID, "login-failed")))
    assert failed.text == "Wrong password."
    shot(driver, "sign_in", "login-failed")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    WebDriverWait(driver, 20).until(expected_conditions.url_contains("/runs?kind=sync"))  # back where it was going
    assert driver.find_element(By.TAG_NAME, "h1").text == "Runs"
    [cookie] = driver.get_cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("cw_session", True, "Strict")
    driver.get(dashboard.url + "/")
    assert driver.find_element(By.CSS_SELECTOR, "#verdict h1").text == "crosswatch: OK"
    assert csp_violations(driver) == []
    shot(driver, "sign_in", "overview")
    driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
    WebDriverWait(driver, 20).until(expected_conditions.url_contains("/login"))
    driver.get(dashboard.url + "/")
    WebDriverWait(driver, 20).until(expected_conditions.url_contains("/login"))

    # without a browser: nothing but the sign-in page, and a forged cookie is no session
    reply = httpx.get(dashboard.url + "/runs", cookies={"cw_session": "e30.forged"}, timeout=10)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login")
    assert httpx.get(dashboard.url + "/healthz", timeout=10).status_code == 200


@pytest.mark.slow
def test_a_post_without_the_right_csrf_token_or_from_another_site_is_refused(
    tmp_path: Path, dashboards: list[Dashboard]
) -> None:
    dashboard = Dashboard(tmp_path, {**BEYOND, **web_block()})
    dashboards.append(dashboard)
    with httpx.Client(base_url=dashboard.url, timeout=30) as client:
        page = client.get("/login")
        assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
        token = token_of(page.text)
        for form, headers in [
            ({"password": PASSWORD}, {}),
            ({"password": PASSWORD, "csrf": "forged"}, {}),
            ({"password": PASSWORD, "csrf": token}, {"Origin": "http://evil.example"}),
        ]:
            refused = client.post("/login", data=form, headers=headers)
            assert refused.status_code == 403 and "cw_session" not in refused.headers.get("set-cookie", "")
            assert "CSRF" in refused.text or "another site" in refused.text
        huge = client.post("/login", data={"csrf": token, "password": "x" * 70_000})
        assert huge.status_code == 413
        signed = client.post("/login", data={"password": PASSWORD, "csrf": token, "next": "//evil.example/"})
        assert signed.status_code == 303 and signed.headers["location"] == "/"  # never off to another site
        assert client.get("/").status_code == 200
        # a signed-in session has a new token: the one from before signing in no longer works
        assert client.post("/logout", data={"csrf": token}).status_code == 403
        assert client.get("/").status_code == 200
        token = token_of(client.get("/").text)
        assert client.post("/logout", data={"csrf": token}).status_code == 303
        assert client.get("/").status_code == 303
        assert client.get("/logout").status_code == 405  # state changes only by POST


@pytest.mark.slow
def test_every_page_has_the_policy_and_loopback_answers_only_to_loopback_names(
    tmp_path: Path, dashboards: list[Dashboard]
) -> None:
    dashboard = Dashboard(tmp_path, {"daemon": {"listen": "127.0.0.1:0"}})
    dashboards.append(dashboard)
    for path in ("/", "/partials/overview", "/runs", "/runs?kind=nope", "/runs/1", "/login"):
        reply = httpx.get(dashboard.url + path, timeout=10)
        assert reply.headers["content-security-policy"] == CSP, path
        assert reply.headers["x-frame-options"] == "DENY" and reply.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in reply.text and "style=" not in reply.text
    assert httpx.get(dashboard.url + "/", timeout=10).status_code == 200
    assert httpx.get(dashboard.url + "/login", timeout=10, follow_redirects=False).status_code == 303  # no password
    rebound = httpx.get(dashboard.url + "/", headers={"Host": "evil.example:80"}, timeout=10)
    assert rebound.status_code == 403 and "localhost" in rebound.text
    assert httpx.get(dashboard.url + "/static/htmx.min.js", timeout=10).status_code == 200
