"""Agents from the user's code, served by ``netra-trio serve --agents`` in a
process of its own and run by a real client: the example's forecast agent
(its thinking, its tool call, its streamed answer, its result, the thread's
assistant message, a follow-up that reads the thread), its controlled
failures, the factory form, ``NETRA_AGENTS`` with a module of the working
directory under the installed command, and ``--workers``, where each worker
loads the agents itself."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from netra_trio.client import NetraClient, open_client
from tests.helpers import (
    PROJECT_ROOT,
    SECRET,
    SESSION_KEY,
    read_listening_url,
    serve_subprocess,
    token_for,
)
from tests.runs.support import assert_well_formed, run_events

pytestmark = pytest.mark.e2e

EXAMPLE = "examples.weather_agents"
Event = dict[str, Any]


def _common(workdir: Path) -> list[str]:
    return [
        "--jwt-secret", SECRET,
        "--session-key", SESSION_KEY,
        "--database", str(workdir / "netra.db"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def weather_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for this module's runs, as an operator starts it: the
    example's mapping and its factory (with ``WEATHER_UNITS=F``), each given
    by ``--agents``."""
    workdir = tmp_path_factory.mktemp("weather")
    log_path = workdir / "server.log"
    command = [sys.executable, "-m", "netra_trio", "serve", "--port", "0", *_common(workdir)]
    command += ["--agents", f"{EXAMPLE}:AGENTS", "--agents", f"{EXAMPLE}:agents_from_environment"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env={**os.environ, "PYTHONPATH": PROJECT_ROOT, "WEATHER_UNITS": "F"},
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 10.0)
        line = process.stdout.readline().decode() if ready else ""
        if not line.startswith("netra-trio listening on ws://"):
            pytest.fail(f"the server did not listen:\n{line}{log_path.read_text()}")
        yield line.split()[-1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - a shutdown that hangs
            process.kill()
            process.wait()
        process.stdout.close()


async def one_run(client: NetraClient, payload: dict[str, Any], **envelope: Any) -> list[Event]:
    await client.send("start_agent", payload, **envelope)
    (events,) = (await run_events(client)).values()
    assert_well_formed(events)
    return events


async def follow_up(client: NetraClient, payload: dict[str, Any], thread_id: str) -> list[Event]:
    """A run on ``thread_id`` sent the moment its last run's terminal event
    arrives: the thread is free for it (never AGENT_BUSY)."""
    first = await client.request("start_agent", payload, thread_id=thread_id)
    assert first["type"] == "agent_started", first
    (rest,) = (await run_events(client)).values()
    events = [first, *rest]
    assert_well_formed(events)
    return events


def of_type(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [event["payload"] for event in events if event["type"] == kind]


def streamed(events: list[Event]) -> str:
    """The text of the run's ``agent_output`` deltas (one output), joined."""
    outputs = of_type(events, "agent_output")
    assert len({output["output_id"] for output in outputs}) == 1
    return "".join(output["delta"] for output in outputs)


async def thread_messages(client: NetraClient, thread_id: str) -> list[tuple[str, str]]:
    reply = await client.request("get_thread_history", {"thread_id": thread_id})
    return [(m["role"], m["content"]) for m in reply["payload"]["messages"]]


async def test_the_forecast_agent_thinks_calls_its_tool_and_streams_its_answer(
    weather_url: str,
) -> None:
    question = "What is the weather in Lisbon tomorrow?"
    async with open_client(weather_url, token_for("alice")) as client:
        events = await one_run(client, {"agent": "forecast", "input": question})
        history = await thread_messages(client, events[0]["thread_id"])
    types = [event["type"] for event in events]
    assert types[:4] == ["agent_started", "agent_thinking", "tool_executing", "tool_completed"]
    assert set(types[4:-1]) == {"agent_output"} and types[-1] == "agent_completed"
    started, thinking, executing, completed = (event["payload"] for event in events[:4])
    assert started == {"agent_name": "forecast", "input_preview": question}
    assert thinking == {
        "agent_name": "forecast",
        "thought": "looking up the forecast for Lisbon, tomorrow",
        "step": 1,
    }
    assert (executing["agent_name"], executing["tool_name"]) == ("forecast", "lookup_forecast")
    assert executing["arguments"] == {"city": "Lisbon", "day": "tomorrow"}
    forecast = {"city": "Lisbon", "day": "tomorrow", "sky": "cloudy", "low_c": 15, "high_c": 21}
    forecast["rain_mm"] = 1
    assert (completed["status"], completed["result"]) == ("success", forecast)
    answer = "Lisbon tomorrow: cloudy, 15 to 21 °C, 1 mm of rain."
    assert streamed(events) == answer
    done = events[-1]["payload"]
    assert done["status"] == "success"
    assert done["result"] == {"text": answer, "units": "C", "forecast": forecast}
    assert done["agents_involved"] == ["forecast"]
    assert history == [("user", question), ("assistant", answer)]


async def test_a_follow_up_without_a_city_takes_it_from_the_thread(weather_url: str) -> None:
    async with open_client(weather_url, token_for("bob")) as client:
        first = await one_run(client, {"agent": "forecast", "input": "Nairobi?"})
        thread_id = first[0]["thread_id"]
        second = await follow_up(client, {"agent": "forecast", "input": "and tomorrow?"}, thread_id)
        history = await thread_messages(client, thread_id)
    assert streamed(first) == (
        "Nairobi today: thunderstorms, 14 to 25 °C, 12 mm of rain. Take an umbrella."
    )
    assert [thought["thought"] for thought in of_type(second, "agent_thinking")] == [
        "no city in the request: the thread is about Nairobi",
        "looking up the forecast for Nairobi, tomorrow",
    ]
    answer = "Nairobi tomorrow: partly cloudy, 13 to 26 °C, 2 mm of rain. Take an umbrella."
    assert streamed(second) == answer == second[-1]["payload"]["result"]["text"]
    assert second[0]["thread_id"] == thread_id
    assert [role for role, _ in history] == ["user", "assistant", "user", "assistant"]
    assert history[-1] == ("assistant", answer)


async def test_the_agents_own_failures_reach_the_client_with_their_codes(
    weather_url: str,
) -> None:
    async with open_client(weather_url, token_for("carol")) as client:
        unknown = await one_run(client, {"agent": "forecast", "input": {"city": "Atlantis"}})
        no_city = await one_run(client, {"agent": "forecast", "input": "hello"})
        history = await thread_messages(client, unknown[0]["thread_id"])
    (completed,) = of_type(unknown, "tool_completed")
    assert completed["status"] == "error"
    assert completed["result"] == {"error": "KeyError: \"no forecast for 'Atlantis' today\""}
    assert unknown[-1]["type"] == "agent_error"
    assert unknown[-1]["payload"] == {
        "agent_name": "forecast",
        "code": "NO_FORECAST",
        "message": "no forecast for Atlantis today: I know Lisbon, Oslo or Nairobi,"
        " today and tomorrow",
    }
    assert history == [("user", '{"city":"Atlantis"}')]  # no assistant message
    assert [event["type"] for event in no_city] == ["agent_started", "agent_error"]
    assert no_city[-1]["payload"]["code"] == "NO_CITY"
    assert no_city[-1]["payload"]["message"] == "which city? I know Lisbon, Oslo or Nairobi"


async def test_the_factory_form_serves_the_agents_its_function_returns(weather_url: str) -> None:
    async with open_client(weather_url, token_for("dave")) as client:
        events = await one_run(
            client, {"agent": "local_forecast", "input": {"city": "oslo", "day": "today"}}
        )
    answer = "Oslo today: snow showers, 21 to 30 °F, 4 mm of rain. Take an umbrella."
    assert streamed(events) == answer
    done = events[-1]["payload"]
    assert (done["status"], done["agents_involved"]) == ("success", ["local_forecast"])
    assert (done["result"]["text"], done["result"]["units"]) == (answer, "F")


SHOP_AGENTS = """
    from netra_trio.agents import AgentResult, RunContext


    async def stock(ctx: RunContext) -> AgentResult:
        outcome = await ctx.emit.tool_call(
            ctx.agent_name, "count", {"item": ctx.input_text}, lambda: 3
        )
        text = f"{outcome.value} x {ctx.input_text} in stock"
        await ctx.emit.output(ctx.agent_name, text)
        return AgentResult(result={"text": text}, report=text)


    def make_agents():
        return {"stock": stock}
"""


async def test_netra_agents_loads_a_module_of_the_working_directory(tmp_path: Path) -> None:
    """The installed command is a script in the environment's ``bin``: its
    ``sys.path`` starts there, not in the working directory, where the
    user's module is."""
    project, bin_dir = tmp_path / "shop", tmp_path / "bin"
    project.mkdir()
    bin_dir.mkdir()
    (project / "shop_agents.py").write_text(textwrap.dedent(SHOP_AGENTS))
    script = bin_dir / "netra-trio"
    script.write_text("import sys\nfrom netra_trio.cli import main\nsys.exit(main())\n")
    log_path = tmp_path / "server.log"
    with log_path.open("ab") as log:
        process = await trio.lowlevel.open_process(
            [sys.executable, str(script), "serve", "--port", "0", *_common(tmp_path)],
            cwd=project,
            env={
                **os.environ,
                "PYTHONPATH": PROJECT_ROOT,
                "NETRA_AGENTS": f"shop_agents:make_agents, {EXAMPLE}:AGENTS",
            },
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        url = await read_listening_url(process, log_path)
        async with open_client(url, token_for("erin")) as client:
            stock = await one_run(client, {"agent": "stock", "input": "umbrella"})
            weather = await one_run(client, {"agent": "forecast", "input": "oslo tomorrow"})
    finally:
        process.terminate()
        with trio.move_on_after(15):
            await process.wait()
        if process.returncode is None:  # pragma: no cover - a shutdown that hangs
            process.kill()
            await process.wait()
        assert process.stdout is not None
        await process.stdout.aclose()
    (executing,) = of_type(stock, "tool_executing")
    assert (executing["agent_name"], executing["arguments"]) == ("stock", {"item": "umbrella"})
    assert streamed(stock) == "3 x umbrella in stock"
    assert stock[-1]["payload"]["result"] == {"text": "3 x umbrella in stock"}
    assert streamed(weather) == "Oslo tomorrow: clear, -9 to -3 °C, no rain."


async def test_each_worker_loads_the_agents(tmp_path: Path, redis_url: str) -> None:
    args = [*_common(tmp_path), "--workers", "2", "--redis-url", redis_url]
    args += ["--shutdown-grace-s", "2", "--agents", f"{EXAMPLE}:AGENTS"]
    log_path = tmp_path / "server.log"
    async with serve_subprocess(args, cwd=tmp_path, stderr_path=log_path, timeout_s=30) as (
        _,
        url,
    ):
        for user in ("frank", "grace", "heidi", "ivan"):
            async with open_client(url, token_for(user)) as client:
                events = await one_run(client, {"agent": "forecast", "input": "Lisbon"})
            assert streamed(events) == "Lisbon today: sunny, 16 to 24 °C, no rain."
    loaded = [line for line in log_path.read_text().splitlines() if " agents_loaded " in line]
    assert len(loaded) == 2, loaded  # one line per worker
