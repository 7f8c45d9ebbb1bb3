"""``netra-trio serve --agents`` that cannot be served, as an operator meets
it: one line on stderr naming the entry and the cause, no traceback, exit
status 1, for each way an entry can fail; and agents given both to ``main()``
and by ``--agents``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from netra_trio.agents.registry import default_agents
from netra_trio.cli import main
from netra_trio.server.app import Server
from tests.helpers import PROJECT_ROOT, SECRET, SESSION_KEY, make_config

USER_AGENTS = """
    from netra_trio.agents import AgentResult


    async def hello(ctx):
        return AgentResult(result={}, report="hello")


    def not_async(ctx):
        return AgentResult(result={}, report="hello")


    def failing():
        raise RuntimeError("the weather service is down")


    AGENTS = {"hello": hello}
    AGAIN = {"hello": hello}
    COUNT = 3
    NOT_ASYNC = {"hello": not_async}
    SPACED = {"hello ": hello}
    BUILT_IN = {"triage": hello}
"""

# the --agents values, and the line each start ends with (after "netra-trio: ")
REFUSED: dict[str, tuple[list[str], str]] = {
    "missing module": (
        ["nowhere:AGENTS"],
        "agents 'nowhere:AGENTS': cannot import nowhere:"
        " ModuleNotFoundError: No module named 'nowhere'",
    ),
    "module failing": (
        ["broken:AGENTS"],
        "agents 'broken:AGENTS': cannot import broken: RuntimeError: no WEATHER_KEY set",
    ),
    "missing attribute": (
        ["user_agents:AGENT"],
        "agents 'user_agents:AGENT': module user_agents has no attribute AGENT",
    ),
    "wrong kind": (
        ["user_agents:COUNT"],
        "agents 'user_agents:COUNT': COUNT must be a mapping of agent names to agents,"
        " or a function that returns one; got int",
    ),
    "function failing": (
        ["user_agents:failing"],
        "agents 'user_agents:failing': failing() failed: RuntimeError: the weather service is down",
    ),
    "not async": (
        ["user_agents:NOT_ASYNC"],
        "agents 'user_agents:NOT_ASYNC': agent 'hello' must be an async function that takes"
        " the RunContext, got a function that is not async",
    ),
    "bad name": (
        ["user_agents:SPACED"],
        "agents 'user_agents:SPACED': 'hello ' is not an agent name: it must be printable,"
        " without spaces around it",
    ),
    "built-in name": (
        ["user_agents:BUILT_IN"],
        "agents 'user_agents:BUILT_IN': agent 'triage' is already a built-in agent",
    ),
    "name taken twice": (
        ["user_agents:AGENTS", "user_agents:AGAIN"],
        "agents 'user_agents:AGAIN': agent 'hello' is already registered"
        " by agents 'user_agents:AGENTS'",
    ),
}


async def test_each_entry_that_cannot_be_served_stops_the_start_with_one_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "user_agents.py").write_text(textwrap.dedent(USER_AGENTS))
    (tmp_path / "broken.py").write_text("raise RuntimeError('no WEATHER_KEY set\\nsee README')\n")
    results: dict[str, subprocess.CompletedProcess[bytes]] = {}

    async def start(case: str, entries: list[str]) -> None:
        command = [sys.executable, "-m", "netra_trio", "serve", "--port", "0"]
        command += ["--jwt-secret", SECRET, "--session-key", SESSION_KEY]
        command += ["--database", str(tmp_path / f"{case}.db")]
        for entry in entries:
            command += ["--agents", entry]
        results[case] = await trio.run_process(
            command,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": PROJECT_ROOT},
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for case, (entries, _) in REFUSED.items():
                nursery.start_soon(start, case, entries)
    wrong = {}
    for case, (_, line) in REFUSED.items():
        result = results[case]
        seen = (result.returncode, result.stdout.decode(), result.stderr.decode())
        if seen != (1, "", f"netra-trio: {line}\n"):
            wrong[case] = seen
    assert wrong == {}


def test_agents_given_to_main_and_by_the_flag_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--jwt-secret", SECRET, "--agents", "examples.weather_agents:AGENTS"]
    assert main(argv, agents=default_agents()) == 2
    assert capsys.readouterr().err == (
        "netra-trio: --agents and --agui-agent add to the built-in agents, and main() was"
        " given the agents to serve: register those agents in the registry passed instead\n"
    )
    config = make_config(agents=("examples.weather_agents:AGENTS",))
    with pytest.raises(ValueError, match=r"give the agents to serve, or config\.agents and"):
        Server(config, agents=default_agents())
    config = make_config(agui_agents=(("helper", "http://127.0.0.1:9/"),))
    with pytest.raises(ValueError, match=r"give the agents to serve, or config\.agents and"):
        Server(config, agents=default_agents())
