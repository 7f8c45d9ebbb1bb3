"""The token in the page's URL fragment: it never reaches the server's log;
a token the server refuses, or one that has expired, stops the page without
a retry loop and says why; without a token the page says how to get one and
takes one pasted in."""

from __future__ import annotations

import time

import jwt
import pytest
import trio

from tests.browser.support import (
    STATE,
    Browser,
    assert_quiet_console,
    open_page,
    page_url,
)
from tests.helpers import SECRET, logged_fields, start_server, token_for, wait_logged

TEST_S = 60
TEXT = "return document.getElementById('connection-text').textContent"
PANEL = (
    "const panel = document.getElementById('token-needed');"
    " return panel.hidden ? null : panel.querySelector('h1').textContent"
)


async def test_the_token_in_the_fragment_never_reaches_the_server_log(
    nursery: trio.Nursery, browser: Browser, netra_logs: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(TEST_S):
        server = await start_server(nursery, log_level="debug")
        token = token_for("alice")
        await open_page(browser, server, token)
        await browser.type("#message", "cut the cost of 1M gpt-4o requests a day\n")
        await browser.wait_for("return document.querySelector('.run[data-status=success]')")
        (connect,) = logged_fields(netra_logs, "connect")  # the page's connection is logged
        assert connect["user"] == "alice"
        logged = "\n".join(
            f"{record.getMessage()} {record.args!r} {getattr(record, 'netra_fields', {})!r}"
            for record in netra_logs.records
        )
        assert "run_finished" in logged
        for part in (token, token.split(".")[2]):  # the whole token, and its signature
            assert part not in logged
        server.request_shutdown()


async def test_a_refused_token_is_not_tried_again(
    nursery: trio.Nursery, browser: Browser, netra_logs: pytest.LogCaptureFixture
) -> None:
    """A browser cannot read the 401: the page sees a handshake that failed
    while the server answers HTTP, and stops there."""
    with trio.fail_after(TEST_S):
        server = await start_server(nursery)
        claims = {"sub": "alice", "exp": int(time.time()) + 600}
        forged = jwt.encode(claims, "not-the-server-secret-0123456789abcdef")
        await browser.open(page_url(server, forged))
        await browser.wait_for(f"{STATE} === 'refused'")
        assert await browser.js(TEXT) == "refused: check the token"
        assert await browser.js(PANEL) == "The server refused the token"
        (rejected,) = await wait_logged(netra_logs, "handshake_rejected")
        assert rejected["status"] == 401
        await trio.sleep(1.0)  # several times the first retry's delay: none comes
        assert len(logged_fields(netra_logs, "handshake_rejected")) == 1
        assert server.hub.stats.connections_opened == 0
        print(await browser.screenshot("refused-token"))
        server.request_shutdown()


async def test_an_expired_token_is_not_sent(nursery: trio.Nursery, browser: Browser) -> None:
    with trio.fail_after(TEST_S):
        server = await start_server(nursery)
        expired = jwt.encode({"sub": "alice", "exp": int(time.time()) - 60}, SECRET)
        await browser.open(page_url(server, expired))
        await browser.wait_for(f"{STATE} === 'refused'")
        assert await browser.js(TEXT) == "token expired"
        assert await browser.js(PANEL) == "The token has expired"
        assert server.hub.stats.connections_opened == 0
        assert sum(server.hub.stats.handshake_refusals.values()) == 0
        server.request_shutdown()


async def test_without_a_token_the_page_asks_for_one(
    nursery: trio.Nursery, browser: Browser
) -> None:
    with trio.fail_after(TEST_S):
        server = await start_server(nursery)
        await browser.open(page_url(server, None))
        await browser.wait_for(f"{TEXT} === 'no token'")
        assert await browser.js(PANEL) == "This page needs a token"
        assert await browser.js("return document.getElementById('composer-wrap').hidden")
        print(await browser.screenshot("no-token"))
        # a token pasted in goes into the fragment, and the page connects with it
        await browser.type("#token-input", token_for("alice") + "\n")
        await browser.wait_for(f"{STATE} === 'open'")
        assert await browser.js("return location.hash.startsWith('#token=')")
        assert await browser.js(PANEL) is None
        await assert_quiet_console(browser)
        server.request_shutdown()


async def test_a_token_that_expires_while_connected_ends_the_page_without_retrying(
    nursery: trio.Nursery, browser: Browser, netra_logs: pytest.LogCaptureFixture
) -> None:
    """The server closes the connection with 1008 when the token expires; the
    page sees that its token has expired and says so instead of reconnecting."""
    with trio.fail_after(TEST_S):
        server = await start_server(nursery)
        await open_page(browser, server, token_for("alice", ttl_s=2.0))
        await browser.wait_for(f"{STATE} === 'refused'", timeout_s=10)
        assert await browser.js(TEXT) == "token expired"
        assert await browser.js(PANEL) == "The token has expired"
        assert server.hub.stats.closes_by_code[1008] == 1
        assert sum(server.hub.stats.handshake_refusals.values()) == 0  # no new handshake
        server.request_shutdown()
