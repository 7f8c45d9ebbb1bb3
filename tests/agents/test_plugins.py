"""Loading agents from the user's modules (``--agents``), in-process: what an
entry may name, each reason it is refused (one line, naming the entry and the
cause), the working directory on ``sys.path``, and the registry put together
from the built-in agents and the entries'."""

from __future__ import annotations

import functools
import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.weather_agents import AGENTS
from netra_trio.agents.base import AgentResult, RunContext
from netra_trio.agents.plugins import agent_problem, agents_in, import_attribute, plugin_agents
from netra_trio.agents.registry import agents_for
from netra_trio.config import Config
from netra_trio.errors import StartupError

WriteModule = Callable[[str], str]


async def agent(ctx: RunContext) -> AgentResult:  # pragma: no cover - never run here
    return AgentResult(result={}, report="")


async def two_arguments(ctx: RunContext, extra: str) -> AgentResult:  # pragma: no cover
    return AgentResult(result={}, report=extra)


async def no_argument() -> AgentResult:  # pragma: no cover
    return AgentResult(result={}, report="")


def not_async(ctx: RunContext) -> AgentResult:  # pragma: no cover
    return AgentResult(result={}, report="")


class CallableAgent:
    async def __call__(self, ctx: RunContext) -> AgentResult:  # pragma: no cover
        return AgentResult(result={}, report="")


@pytest.fixture(autouse=True)
def _sys_path_kept() -> Iterator[None]:
    """Loading puts a directory on ``sys.path``: after each test, it is as it was."""
    path_before = list(sys.path)
    yield
    sys.path[:] = path_before


@pytest.fixture
def write_module(tmp_path: Path) -> Iterator[WriteModule]:
    """Writes a module (of a name unique to the test) into ``tmp_path`` and
    returns its name; the modules written are forgotten after the test."""
    written: list[str] = []

    def write(source: str) -> str:
        name = f"plugin_{uuid.uuid4().hex[:12]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def refusal(entry: str, value: object) -> str:
    with pytest.raises(StartupError) as info:
        agents_in(entry, value)
    message = str(info.value)
    assert message.startswith(f"agents {entry!r}: ")
    assert "\n" not in message
    return message.removeprefix(f"agents {entry!r}: ")


# --------------------------------------------------------------------------------------
# What an entry may name
# --------------------------------------------------------------------------------------


def test_a_mapping_gives_its_agents_in_order() -> None:
    callable_agent = CallableAgent()
    partial = functools.partial(two_arguments, extra="x")
    found = agents_in("m:AGENTS", {"b": agent, "a": callable_agent, "c-1 x": partial})
    assert found == [("b", agent), ("a", callable_agent), ("c-1 x", partial)]
    assert agents_in("m:AGENTS", {}) == []


def test_a_function_is_called_once_and_its_mapping_used() -> None:
    calls: list[None] = []

    def make() -> dict[str, Any]:
        calls.append(None)
        return {"made": agent}

    assert agents_in("m:make", make) == [("made", agent)]
    assert len(calls) == 1


REFUSED: list[tuple[object, str]] = [
    (42, "AGENTS must be a mapping of agent names to agents, or a function that returns one;"
     " got int"),
    (agent, "AGENTS is an async function: give a mapping of agent names to agents,"
     " or a plain function that returns one"),
    (lambda: [agent], "AGENTS() must return a mapping of agent names to agents, got list"),
    (lambda: agent, "AGENTS() must return a mapping of agent names to agents,"
     " got an async function"),
    (lambda: {}["missing"], "AGENTS() failed: KeyError: 'missing'"),
    ({7: agent}, "7 is not an agent name: it must be a string, got int"),
    ({"": agent}, "'' is not an agent name: it must be 1 to 64 characters, got 0"),
    ({"x" * 65: agent}, f"{'x' * 65!r} is not an agent name: it must be 1 to 64 characters,"
     " got 65"),
    ({" forecast": agent}, "' forecast' is not an agent name: it must be printable,"
     " without spaces around it"),
    ({"a\nb": agent}, "'a\\nb' is not an agent name: it must be printable, without spaces"
     " around it"),
    ({"f": not_async}, "agent 'f' must be an async function that takes the RunContext,"
     " got a function that is not async"),
    ({"f": "forecast"}, "agent 'f' must be an async function that takes the RunContext,"
     " got str"),
    ({"f": CallableAgent}, "agent 'f' must be an async function that takes the RunContext,"
     " got type"),
    ({"f": no_argument}, "agent 'f' must take one argument, the RunContext"),
    ({"f": two_arguments}, "agent 'f' must take one argument, the RunContext"),
]  # fmt: skip


@pytest.mark.parametrize(("value", "reason"), REFUSED)
def test_what_is_not_a_mapping_of_agents_is_refused_with_its_reason(
    value: object, reason: str
) -> None:
    assert refusal("m:AGENTS", value) == reason


def test_a_multi_line_failure_is_told_in_its_first_line() -> None:
    def make() -> dict[str, Any]:
        raise RuntimeError("\nthe weather service is down\nsee the logs\n")

    assert refusal("m:make", make) == "make() failed: RuntimeError: the weather service is down"

    def silent() -> dict[str, Any]:
        raise RuntimeError

    assert refusal("m:silent", silent) == "silent() failed: RuntimeError"


def test_an_agent_without_a_signature_to_read_is_taken_as_it_is() -> None:
    class Opaque:
        __signature__ = "(ctx)"  # not a Signature: inspect cannot read it

        async def __call__(self, ctx: RunContext) -> AgentResult:  # pragma: no cover
            return AgentResult(result={}, report="")

    assert agent_problem(Opaque()) is None


# --------------------------------------------------------------------------------------
# Importing
# --------------------------------------------------------------------------------------


def test_the_module_is_imported_from_the_directory_given(
    tmp_path: Path, write_module: WriteModule
) -> None:
    name = write_module(
        """
        from netra_trio.agents import AgentResult

        async def hello(ctx):
            return AgentResult(result={}, report="hello")

        AGENTS = {"hello": hello}
        """
    )
    assert str(tmp_path) not in sys.path
    (found,) = plugin_agents([f"{name}:AGENTS"], directory=str(tmp_path))
    assert sys.path[0] == str(tmp_path)
    assert (found.name, found.entry) == ("hello", f"{name}:AGENTS")
    assert found.agent is sys.modules[name].hello
    plugin_agents([f"{name}:AGENTS"], directory=str(tmp_path))
    assert sys.path.count(str(tmp_path)) == 1  # put there once


def test_a_module_that_cannot_be_imported_is_named_with_the_error(
    tmp_path: Path, write_module: WriteModule
) -> None:
    broken = write_module("raise RuntimeError('no API key\\nset WEATHER_KEY')\n")
    invalid = write_module("def (:\n")
    cases = {
        f"{broken}:AGENTS": f"cannot import {broken}: RuntimeError: no API key",
        f"{invalid}:AGENTS": f"cannot import {invalid}: SyntaxError: invalid syntax",
        "nowhere_at_all.sub:AGENTS": (
            "cannot import nowhere_at_all.sub: ModuleNotFoundError:"
            " No module named 'nowhere_at_all'"
        ),
    }
    for entry, reason in cases.items():
        with pytest.raises(StartupError) as info:
            import_attribute(entry, str(tmp_path))
        assert str(info.value).startswith(f"agents {entry!r}: {reason}"), str(info.value)
        assert "\n" not in str(info.value)


def test_a_missing_attribute_is_named(tmp_path: Path, write_module: WriteModule) -> None:
    name = write_module("AGENT = {}\n")
    with pytest.raises(StartupError) as info:
        import_attribute(f"{name}:AGENTS", str(tmp_path))
    assert str(info.value) == f"agents '{name}:AGENTS': module {name} has no attribute AGENTS"
    assert import_attribute(f"{name}:AGENT", str(tmp_path)) == {}


# --------------------------------------------------------------------------------------
# The registry: built-in agents, then the entries'
# --------------------------------------------------------------------------------------


def test_the_registry_holds_the_built_in_agents_and_the_entries() -> None:
    assert agents_for(Config()).names == ("optimization", "supervisor", "triage")
    config = Config(
        agents=("examples.weather_agents:AGENTS", "examples.weather_agents:agents_from_environment")
    )
    registry = agents_for(config)
    assert registry.names == (
        "forecast",
        "local_forecast",
        "optimization",
        "supervisor",
        "triage",
    )
    assert registry.get("forecast") is AGENTS["forecast"]


def test_a_name_taken_twice_stops_the_start_naming_both_sources(
    tmp_path: Path, write_module: WriteModule
) -> None:
    source = """
        from netra_trio.agents import AgentResult

        async def agent(ctx):
            return AgentResult(result={}, report="")

        AGENTS = {"weather": agent}
        BUILT_IN = {"triage": agent}
        """
    first, second = write_module(source), write_module(source)
    sys.path.insert(0, str(tmp_path))
    with pytest.raises(StartupError) as info:
        agents_for(Config(agents=(f"{first}:AGENTS", f"{second}:AGENTS")))
    assert str(info.value) == (
        f"agents '{second}:AGENTS': agent 'weather' is already registered"
        f" by agents '{first}:AGENTS'"
    )
    with pytest.raises(StartupError) as info:
        agents_for(Config(agents=(f"{first}:BUILT_IN",)))
    assert str(info.value) == (
        f"agents '{first}:BUILT_IN': agent 'triage' is already a built-in agent"
    )
