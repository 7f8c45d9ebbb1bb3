"""Headless Chromium for the web page's tests: Debian's ``chromium`` driven by
its ``chromedriver`` (``make services`` installs both), through selenium.

Selenium blocks, so every call goes to a worker thread
(``trio.to_thread.run_sync``) while the server under test runs on the Trio
thread. Every wait is bounded by its own timeout, so a test that fails does so
with the page's state rather than a hang.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
import trio
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait
from trio_websocket import WebSocketConnection, open_websocket_url

from netra_trio.server.app import Server
from tests.helpers import token_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"  # given, so Selenium Manager never downloads one
WAIT_S = 15.0

# What a headless Chromium needs as root on a machine without a display or a
# network beyond loopback (no background requests to Google's hosts).
CHROMIUM_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--window-size=1280,900",
    "--force-device-scale-factor=1",
)

T = TypeVar("T")


def open_browser() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in CHROMIUM_ARGUMENTS:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


class Browser:
    """One Chromium, used by one test at a time, each call off the Trio thread."""

    def __init__(self, driver: WebDriver, screenshots: Path) -> None:
        self.driver = driver
        self.screenshots = screenshots

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(functools.partial(fn, *args))

    async def open(self, url: str) -> None:
        await self._call(self.driver.get, url)

    async def js(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body: ``return ...``) in the page."""
        return await self._call(self.driver.execute_script, script, *args)

    async def wait_for(self, script: str, *args: Any, timeout_s: float = WAIT_S) -> Any:
        """Wait until ``script`` returns something truthy in the page; that value."""

        def until() -> Any:
            wait = WebDriverWait(self.driver, timeout_s, poll_frequency=0.05)
            try:
                return wait.until(lambda driver: driver.execute_script(script, *args))
            except TimeoutException:
                state = driver_state(self.driver)
                raise AssertionError(f"timed out waiting for: {script}\n{state}") from None

        return await self._call(until)

    async def reload(self) -> None:
        await self._call(self.driver.refresh)

    async def type(self, selector: str, text: str) -> None:
        """Type ``text`` into the element (keys as a person presses them)."""

        def typing() -> None:
            self.driver.find_element(By.CSS_SELECTOR, selector).send_keys(text)

        await self._call(typing)

    async def click(self, selector: str, by: str = By.CSS_SELECTOR) -> None:
        """Click the element, scrolled to the middle of the window first (not
        under the sticky bar or the message box)."""

        def click() -> None:
            element = self.driver.find_element(by, selector)
            script = "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})"
            self.driver.execute_script(script, element)
            element.click()

        await self._call(click)

    async def visible(self, selector: str, by: str = By.CSS_SELECTOR) -> bool:
        shown: bool = await self._call(
            lambda: self.driver.find_element(by, selector).is_displayed()
        )
        return shown

    async def module(self, body: str) -> Any:
        """Run ``body`` as an async function in the page (``await import(...)``
        works there); what it returns."""
        script = (
            "const done = arguments[arguments.length - 1];"
            f"(async () => {{ {body} }})().then(done, (e) => done({{error: String(e)}}));"
        )
        result = await self._call(self.driver.execute_async_script, script)
        assert not (isinstance(result, dict) and "error" in result), result
        return result

    async def screenshot(self, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        await self._call(self.driver.save_screenshot, str(path))
        return path

    async def full_page_screenshot(self, name: str) -> Path:
        """The whole page, the window made as tall as the page for the picture."""
        height, chrome = await self.js(
            "return [document.documentElement.scrollHeight,"
            " window.outerHeight - window.innerHeight]"
        )
        width = self.driver.get_window_size()["width"]
        await self._call(self.driver.set_window_size, width, max(900, height + chrome))
        await self.js("window.scrollTo({top: 0, behavior: 'instant'})")
        try:
            return await self.screenshot(name)
        finally:
            await self._call(self.driver.set_window_size, width, 900)

    async def console(self) -> list[dict[str, Any]]:
        """The browser's console messages since the last call (errors, CSP reports)."""
        return await self._call(self.driver.get_log, "browser")


def driver_state(driver: WebDriver) -> str:
    """The connection state and the page's runs, for a failure's message."""
    try:
        return str(
            driver.execute_script(
                "const c = document.getElementById('connection');"
                "return {state: c && c.dataset.state, text: c && c.textContent,"
                " runs: [...document.querySelectorAll('.run')].map(r => r.dataset.status)};"
            )
        )
    except Exception as exc:  # the page is gone: say so rather than fail again
        return f"(no page state: {exc!r})"


# -- the page ---------------------------------------------------------------------------

STATE = "return document.getElementById('connection').dataset.state"


def page_url(server: Server, token: str | None) -> str:
    return f"http://127.0.0.1:{server.port}/" + ("" if token is None else f"#token={token}")


async def open_page(browser: Browser, server: Server, token: str | None) -> None:
    """The page, connected (its first replay done) when a token is given."""
    await browser.open(page_url(server, token))
    if token is not None:
        await browser.wait_for(
            "const c = document.getElementById('connection');"
            " return c.dataset.state === 'open' && c.dataset.replayed !== undefined"
        )


async def shown_seqs(browser: Browser) -> list[int]:
    """The seq of every event the page shows, in document order."""
    seqs: list[int] = await browser.js(
        "return [...document.querySelectorAll('#runs [data-seq]')].map(n => Number(n.dataset.seq))"
    )
    return seqs


async def assert_quiet_console(browser: Browser) -> None:
    """No error in the console since the last look (no CSP refusal, no exception)."""
    errors = [m for m in await browser.console() if m.get("level") == "SEVERE"]
    assert errors == []


# -- a second connection of the same user -----------------------------------------------

Frame = dict[str, Any]


class SideConnection:
    """A plain WebSocket connection of the user, next to the page's, that
    starts runs and reads their events."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self._ws = ws

    async def send(self, type_: str, payload: Frame) -> None:
        await self._ws.send_message(orjson.dumps({"type": type_, "payload": payload}).decode())

    async def run(self, type_: str, payload: Frame) -> list[Frame]:
        """Start a run; its events, up to the terminal one."""
        await self.send(type_, payload)
        return await self.events()

    async def events(self) -> list[Frame]:
        """The stored events that come, up to a run's terminal one."""
        events: list[Frame] = []
        with trio.fail_after(WAIT_S):
            while True:
                frame = orjson.loads(await self._ws.get_message())
                if "seq" in frame:
                    events.append(frame)
                if frame["type"] in ("agent_completed", "agent_error"):
                    return events


@asynccontextmanager
async def side_connection(server: Server, user: str) -> AsyncIterator[SideConnection]:
    headers = [("Authorization", f"Bearer {token_for(user)}")]
    async with open_websocket_url(server.url, extra_headers=headers, connect_timeout=WAIT_S) as ws:
        with trio.fail_after(WAIT_S):
            first = orjson.loads(await ws.get_message())
        assert first["type"] == "connection_established"
        yield SideConnection(ws)
