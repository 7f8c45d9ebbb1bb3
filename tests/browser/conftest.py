"""One headless Chromium for the whole test session, a fresh page for each
test, and the folder the screenshots go to (named at the end of the run)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver

from tests.browser.support import Browser, open_browser

_SCREENSHOTS: list[Path] = []


@pytest.fixture(scope="session")
def chromium() -> Iterator[WebDriver]:
    driver = open_browser()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("screenshots")
    _SCREENSHOTS.append(path)
    return path


@pytest.fixture
async def browser(chromium: WebDriver, screenshots: Path) -> AsyncIterator[Browser]:
    page = Browser(chromium, screenshots)
    await page.console()  # what an earlier test left
    try:
        yield page
    finally:
        await page.open("about:blank")  # the page's WebSocket closes with it


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for path in _SCREENSHOTS:
        terminalreporter.write_line(f"browser screenshots: {path}")
