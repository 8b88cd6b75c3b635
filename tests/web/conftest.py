"""The dashboard in a real browser: headless Chromium (Debian's chromium + chromium-driver) via Selenium.

``browser`` is one Chrome for the session (skipped, saying why, when Chromium or Selenium is
absent); ``shot(browser, test, page)`` saves ``build/screenshots/<test>-<page>.png``;
``dashboard(folder, config)`` starts ``crosswatch run`` on that config and gives its base URL.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait

from tests.daemon_proc import DaemonProcess

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver", "chromium-driver")


def _which(names: tuple[str, ...]) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    chromium, driver_path = _which(CHROMIUM), _which(DRIVER)
    if chromium is None or driver_path is None:
        pytest.skip("no Chromium here: apt-get install -y chromium chromium-driver (.ci/run does)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1100"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def fresh_browser(browser: Any) -> Any:
    """The session's browser with no cookies (each test signs in, or not, for itself)."""
    browser.delete_all_cookies()
    browser.get("about:blank")
    browser.get_log("browser")  # drop what earlier tests left
    return browser


def shot(driver: Any, test: str, page: str) -> Path:
    """Save a screenshot of the whole page as build/screenshots/<test>-<page>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{test}-{page}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(700, min(int(height) + 120, 4000)))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1100)
    return path


def fresh(driver: Any, timeout: float = 20) -> WebDriverWait[Any]:
    """A wait that looks again when htmx replaced what it was reading (a page that refreshes itself)."""
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))


def csp_violations(driver: Any) -> list[str]:
    """Console messages about the Content-Security-Policy (there must be none)."""
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


class Dashboard:
    """``crosswatch run`` on a config directory; ``url`` is where the dashboard answers."""

    def __init__(self, folder: Path, config: dict[str, Any], backend: str = "asyncio") -> None:
        self.folder = folder
        (folder / "config.toml").write_text(tomli_w.dumps(config))
        self.daemon = DaemonProcess(folder, backend)
        ready = self.daemon.wait_for("daemon.ready", timeout=60)
        host, _, port = ready["listen"].rpartition(":")
        # a daemon bound to every address (0.0.0.0) is reached here through loopback
        self.url = f"http://127.0.0.1:{port}" if host in ("0.0.0.0", "[::]") else f"http://{ready['listen']}"

    def stop(self) -> None:
        assert self.daemon.stop() == 0


@pytest.fixture
def dashboards() -> Iterator[list[Dashboard]]:
    """Daemons a test starts (``dashboards.append(Dashboard(...))``), stopped after it."""
    started: list[Dashboard] = []
    yield started
    for dashboard in started:
        dashboard.stop()
