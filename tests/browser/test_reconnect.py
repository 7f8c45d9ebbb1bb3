"""The page across a server restart: the server is stopped and started again
on the same port and database; the page says it is reconnecting, comes back
by itself, resumes, and shows the next run, with no event shown twice. A
reload then replays both runs, each event once."""

from __future__ import annotations

from pathlib import Path

import trio

from tests.browser.support import (
    STATE,
    Browser,
    assert_quiet_console,
    open_page,
    shown_seqs,
    side_connection,
)
from tests.helpers import start_server, token_for

TEST_S = 90

QUESTION = "We send 300k requests/day to gpt-4o with 2k input and 400 output tokens. Cheaper?"
SUCCEEDED = "return document.querySelectorAll('.run[data-status=success]').length"
BOTH_SHOWN = f"{SUCCEEDED} === 2 && {STATE.removeprefix('return ')} === 'open'"
FOLDED = "return [...document.querySelectorAll('.trace')].map(trace => !trace.open)"


async def test_the_page_reconnects_after_a_restart_and_shows_each_event_once(
    browser: Browser, tmp_path: Path
) -> None:
    database = str(tmp_path / "netra.db")
    token = token_for("alice")
    with trio.fail_after(TEST_S):
        async with trio.open_nursery() as first:
            server = await start_server(first, database=database)
            port = server.port
            await open_page(browser, server, token)
            async with side_connection(server, "alice") as side:
                run1 = await side.run("agent_request", {"content": QUESTION})
            await browser.wait_for(f"{SUCCEEDED} === 1")
            server.request_shutdown()
        # the server is gone: the page says so and keeps trying
        await browser.wait_for(f"{STATE} === 'reconnecting'")
        assert await browser.js("return document.getElementById('connection').textContent")
        print(await browser.screenshot("server-stopped"))

        async with trio.open_nursery() as second:
            server = await start_server(second, database=database, port=port)
            async with side_connection(server, "alice") as side:
                run2 = await side.run("agent_request", {"content": "And with a 1.5 s target?"})
            await browser.wait_for(BOTH_SHOWN)
            # each attempt while the server was down was refused, and Chromium
            # logs each as an error; nothing else may be there
            errors = [m for m in await browser.console() if m.get("level") == "SEVERE"]
            assert all("WebSocket connection to" in m.get("message", "") for m in errors), errors
            stored = [event["seq"] for event in run1 + run2]
            assert stored == list(range(1, len(stored) + 1))
            seqs = await shown_seqs(browser)
            assert len(seqs) == len(set(seqs))  # nothing twice
            assert sorted(seqs) == stored  # and nothing missing
            assert await browser.js("return document.querySelectorAll('.run').length") == 2
            print(await browser.full_page_screenshot("after-the-restart"))

            # a reload starts from nothing: the replay shows both runs, once
            await browser.reload()
            await browser.wait_for(BOTH_SHOWN)
            assert sorted(await shown_seqs(browser)) == stored
            replayed = await browser.js(
                "return Number(document.getElementById('connection').dataset.replayed)"
            )
            assert replayed == len(stored)
            # runs that ended before the page opened have their trace folded
            assert await browser.js(FOLDED) == [True, True]
            await assert_quiet_console(browser)
            server.request_shutdown()


async def test_an_idle_close_waits_for_the_user_to_reconnect(
    nursery: trio.Nursery, browser: Browser
) -> None:
    """4001 (the session idled past the server's timeout) is the server asking
    the page to go away: it does not reconnect by itself; a click on the
    connection state, or a message sent, brings it back."""
    with trio.fail_after(TEST_S):
        server = await start_server(nursery, idle_timeout_s=1.0)
        await open_page(browser, server, token_for("alice"))
        await browser.wait_for(f"{STATE} === 'closed'")
        text = "return document.getElementById('connection-text').textContent"
        assert await browser.js(text) == "idle: click to reconnect"
        opened = server.hub.stats.connections_opened
        await trio.sleep(0.6)  # more than the first retry's longest delay: none comes
        assert server.hub.stats.connections_opened == opened == 1
        await browser.click("#connection")
        await browser.wait_for(f"{STATE} === 'open'")
        await browser.wait_for(f"{STATE} === 'closed'")  # idle again
        # a message sent while closed reconnects, then goes
        await browser.type("#message", "are you there?\n")
        await browser.wait_for("return document.querySelector('.run[data-status=success]')")
        assert server.hub.stats.connections_opened == 3
        server.request_shutdown()
