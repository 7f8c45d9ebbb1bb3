"""The page in headless Chromium against a real server: a run shows up live
(thinking, tool calls with their arguments and results, streamed output, the
report), a message typed in the box starts a run, and hostile text from
agents and users is shown as text."""

from __future__ import annotations

from typing import Any

import trio
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from netra_trio.agents.base import Agent, AgentResult, RunContext
from tests.browser.support import (
    Browser,
    assert_quiet_console,
    open_page,
    shown_seqs,
    side_connection,
)
from tests.helpers import agents_with, start_server, token_for
from tests.llm.standin import StandIn

TEST_S = 60

QUESTION = (
    "We send 2M requests/day to gpt-4o with 1.5k input and 300 output tokens. How do we cut cost?"
)
SUMMARY = (
    "Your gpt-4o traffic costs about $405,000 a month. Moving it to gemini-1.5-pro with"
    " prompt caching brings that to about $160,000, 60% less, at the same quality tier."
)


def gated_agent(gate: trio.Event) -> Agent:
    """Thinks, calls a tool, streams some output, then waits for ``gate``."""

    async def agent(ctx: RunContext) -> AgentResult:
        await ctx.emit.thinking("planner", "Looking the prices up first.")
        await ctx.emit.tool_call(
            "planner", "price_lookup", {"model": "gpt-4o", "days": 30}, lambda: {"usd_per_m": 2.5}
        )
        await ctx.emit.output("planner", "Half ")
        await ctx.emit.output("planner", "way there")
        await gate.wait()
        report = "## Done\n\n- **cheaper**: yes\n- latency: `same`"
        return AgentResult(result={"report_markdown": report}, report=report)

    return agent


ASKED = "What would a month cost?"
RUN_STATE = """
const run = document.querySelector('.run');
const text = (selector) => run.querySelector(selector)?.textContent;
return {
  status: run.dataset.status,
  input: text('.run-input'),
  thought: text('.thought'),
  tool: text('.tool-name'),
  toolStatus: run.querySelector('.tool').dataset.status,
  arguments: JSON.parse(text('.tool-arguments')),
  result: JSON.parse(text('.tool-result')),
  output: text('.output-text'),
};
"""


async def test_a_run_shows_up_live_as_it_happens(nursery: trio.Nursery, browser: Browser) -> None:
    with trio.fail_after(TEST_S):
        gate = trio.Event()
        server = await start_server(nursery, agents=agents_with(planner=gated_agent(gate)))
        await open_page(browser, server, token_for("alice"))
        async with side_connection(server, "alice") as side:
            await side.send("start_agent", {"agent": "planner", "input": ASKED})
            # the run waits at the gate: what it did so far is on the page already
            await browser.wait_for(
                "return document.querySelector('.output-text')?.textContent === 'Half way there'"
            )
            assert await browser.js(RUN_STATE) == {
                "status": "running",
                "input": ASKED,
                "thought": "Looking the prices up first.",
                "tool": "price_lookup",
                "toolStatus": "success",
                "arguments": {"model": "gpt-4o", "days": 30},
                "result": {"usd_per_m": 2.5},
                "output": "Half way there",
            }
            print(await browser.screenshot("a-run-in-progress"))
            gate.set()
            events = await side.events()
        await browser.wait_for("return document.querySelector('.run[data-status=success] h2')")
        report = await browser.js(
            "const md = document.querySelector('.run .markdown');"
            "return {h2: md.querySelector('h2').textContent,"
            " items: [...md.querySelectorAll('li')].map(li => li.innerHTML)}"
        )
        assert report == {
            "h2": "Done",
            "items": ["<strong>cheaper</strong>: yes", "latency: <code>same</code>"],
        }
        # every stored event of the run is on the page, once
        assert sorted(await shown_seqs(browser)) == [e["seq"] for e in events]
        assert [e["type"] for e in events][-1] == "agent_completed"
        await assert_quiet_console(browser)
        server.request_shutdown()


async def test_a_message_typed_in_the_box_starts_a_run(
    nursery: trio.Nursery, browser: Browser
) -> None:
    """The supervisor with a model (a stand-in provider on loopback) that
    streams its summary: the whole run, down to the markdown report."""
    with trio.fail_after(TEST_S):
        standin: StandIn = await nursery.start(StandIn(reply=SUMMARY, chunk_chars=9).serve)
        server = await start_server(nursery, llm_base_url=standin.base_url)
        await open_page(browser, server, token_for("alice"))
        await browser.type("#message", QUESTION + Keys.ENTER)
        await browser.wait_for("return document.querySelector('.run[data-status=success]')")
        shown: dict[str, Any] = await browser.js(
            """
            const run = document.querySelector('.run');
            const all = (selector) => [...run.querySelectorAll(selector)].map(n => n.textContent);
            const md = run.querySelector('.markdown');
            return {
              input: run.querySelector('.run-input').textContent,
              agents: [...new Set(all('.step .agent'))],
              tools: all('.tool-name'),
              output: run.querySelector('.output-text').textContent,
              heading: md.querySelector('h2').textContent,
              rows: [...md.querySelectorAll('tbody tr')].map(tr => tr.cells[0].textContent),
              recommendations: md.querySelectorAll('ol li').length,
              involved: all('.result-meta .agent'),
              box: document.getElementById('message').value,
              thread: document.getElementById('thread-label').textContent,
              threadOfRun: run.dataset.threadId,
            };
            """
        )
        assert shown["input"] == QUESTION
        assert shown["agents"] == ["supervisor", "triage", "optimization"]
        assert {"extract_figures", "cost_calculator", "model_substitution"} <= set(shown["tools"])
        assert shown["output"] == SUMMARY  # the deltas, joined
        assert shown["heading"] == "Review"
        assert shown["rows"][0] == "now" and shown["rows"][-1] == "savings"
        assert shown["recommendations"] >= 2
        assert shown["involved"] == ["supervisor", "triage", "optimization"]
        assert shown["box"] == ""
        assert shown["thread"] == f"thread {shown['threadOfRun']}"
        # a tool call opens to its arguments and result with a click
        calculator = "//li[contains(@class, 'tool')][.//code[text()='cost_calculator']]"
        assert not await browser.visible(f"{calculator}//pre[@class='tool-result']", By.XPATH)
        await browser.click(f"{calculator}//summary", By.XPATH)
        assert await browser.visible(f"{calculator}//pre[@class='tool-result']", By.XPATH)
        print(await browser.full_page_screenshot("a-supervisor-run"))
        await assert_quiet_console(browser)
        server.request_shutdown()


HOSTILE = '<img src=x onerror="window.pwned=1">'


async def hostile_agent(ctx: RunContext) -> AgentResult:
    await ctx.emit.thinking("<b>mallory</b>", f"thinking {HOSTILE}")
    await ctx.emit.tool_call("mallory", f"tool{HOSTILE}", {"html": HOSTILE}, lambda: HOSTILE)
    await ctx.emit.output("mallory", f"out {HOSTILE}<script>window.pwned=2</script>")
    report = (
        f"## Report {HOSTILE}\n\n{HOSTILE}\n\n[click](javascript:window.pwned=3)"
        f" **{HOSTILE}**\n\n| a | b |\n|---|---|\n| {HOSTILE} | <b>x</b> |\n\n```\n{HOSTILE}\n```"
    )
    return AgentResult(result={"report_markdown": report}, report=report)


async def test_hostile_text_from_agents_and_users_is_shown_as_text(
    nursery: trio.Nursery, browser: Browser
) -> None:
    with trio.fail_after(TEST_S):
        server = await start_server(nursery, agents=agents_with(supervisor=hostile_agent))
        await open_page(browser, server, token_for("alice"))
        await browser.type("#message", HOSTILE + Keys.ENTER)
        await browser.wait_for("return document.querySelector('.run[data-status=success]')")
        shown: dict[str, Any] = await browser.js(
            """
            const runs = document.getElementById('runs');
            const text = (selector) => runs.querySelector(selector).textContent;
            return {
              elements: runs.querySelectorAll('img, script, b, a, iframe').length,
              pwned: window.pwned ?? null,
              input: text('.run-input'),
              agent: text('.thinking .agent'),
              thought: text('.thought'),
              tool: text('.tool-name'),
              arguments: JSON.parse(text('.tool-arguments')),
              result: JSON.parse(text('.tool-result')),
              output: text('.output-text'),
              heading: text('.markdown h2'),
              paragraphs: [...runs.querySelectorAll('.markdown p')].map(p => p.textContent),
              cells: [...runs.querySelectorAll('.markdown td')].map(td => td.textContent),
              code: text('.markdown pre'),
            };
            """
        )
        assert shown == {
            "elements": 0,
            "pwned": None,
            "input": HOSTILE,
            "agent": "<b>mallory</b>",
            "thought": f"thinking {HOSTILE}",
            "tool": f"tool{HOSTILE}",
            "arguments": {"html": HOSTILE},
            "result": HOSTILE,
            "output": f"out {HOSTILE}<script>window.pwned=2</script>",
            "heading": f"Report {HOSTILE}",
            "paragraphs": [HOSTILE, f"click (javascript:window.pwned=3) {HOSTILE}"],
            "cells": [HOSTILE, "<b>x</b>"],
            "code": HOSTILE,
        }
        print(await browser.full_page_screenshot("hostile-text"))
        await assert_quiet_console(browser)
        server.request_shutdown()


async def test_stop_ends_a_running_run_as_cancelled(
    nursery: trio.Nursery, browser: Browser
) -> None:
    with trio.fail_after(TEST_S):
        never = trio.Event()
        server = await start_server(nursery, agents=agents_with(supervisor=gated_agent(never)))
        await open_page(browser, server, token_for("alice"))
        await browser.type("#message", "start something long" + Keys.ENTER)
        await browser.wait_for("return document.querySelector('.output-text')")
        await browser.click(".run .stop")
        await browser.wait_for("return document.querySelector('.run[data-status=cancelled]')")
        shown = await browser.js(
            "const run = document.querySelector('.run');"
            "return [run.querySelector('.run-status').textContent, !!run.querySelector('.stop'),"
            " run.querySelector('.result p').textContent]"
        )
        assert shown == ["cancelled", False, "The run was stopped before it finished."]
        await assert_quiet_console(browser)
        server.request_shutdown()
