"""Agents from the user's own modules: ``--agents module:attribute``.

Each entry names a module and one of its attributes: a mapping of agent names
to agents, or a function that takes no arguments and returns such a mapping
(called once, at start). An agent is an ``async def`` function (or an object
whose ``__call__`` is one) that takes one argument, the run's
:class:`~netra_trio.agents.base.RunContext`, and returns an
:class:`~netra_trio.agents.base.AgentResult`.

The module is imported before the server listens, with the working directory
first on ``sys.path`` (as ``python -m`` has it, and ``netra-trio``, a script
in the environment's ``bin``, does not), so a module or package in the
directory the server starts from is found. A worker of ``--workers`` imports
it itself.

Whatever keeps an entry from giving agents stops the start with one line, a
:class:`StartupError` that names the entry and the cause: the module cannot
be imported (the exception and the first line of its message), the attribute
is missing or of another kind, the function fails or returns something else,
a value is not an agent, or a name is not one that ``start_agent`` can ask
for. Names that clash are refused where the registry is put together
(``registry.py``).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Mapping, Sequence
from typing import cast

import attrs

from netra_trio.agents.base import Agent
from netra_trio.core.limits import MAX_AGENT_NAME_CHARS
from netra_trio.errors import StartupError

_MAPPING = "a mapping of agent names to agents"


@attrs.frozen
class PluginAgent:
    name: str
    agent: Agent
    entry: str  # the ``--agents`` entry that gave it


def plugin_agents(entries: Sequence[str], *, directory: str | None = None) -> list[PluginAgent]:
    """The agents that ``entries`` (``module:attribute``) give, in order; their
    modules are imported with ``directory`` (by default the working one) on
    ``sys.path``."""
    where = os.getcwd() if directory is None else directory
    found: list[PluginAgent] = []
    for entry in entries:
        value = import_attribute(entry, where)
        found += [PluginAgent(name, agent, entry) for name, agent in agents_in(entry, value)]
    return found


def import_attribute(entry: str, directory: str) -> object:
    """The attribute that ``entry`` names, its module imported (``directory``
    put first on ``sys.path`` unless it is there already)."""
    module_name, _, attribute = entry.partition(":")
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise _failure(entry, f"cannot import {module_name}: {_one_line(exc)}") from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise _failure(entry, f"module {module_name} has no attribute {attribute}") from None


def agents_in(entry: str, value: object) -> list[tuple[str, Agent]]:
    """The named agents that ``value`` (the attribute of ``entry``) holds or,
    a function, returns; StartupError when it is not such a mapping."""
    attribute = entry.partition(":")[2]
    if not isinstance(value, Mapping):
        if inspect.iscoroutinefunction(value):
            raise _failure(
                entry,
                f"{attribute} is an async function: give {_MAPPING},"
                " or a plain function that returns one",
            )
        if not callable(value):
            raise _failure(
                entry,
                f"{attribute} must be {_MAPPING}, or a function that returns one;"
                f" got {_kind(value)}",
            )
        try:
            value = value()
        except Exception as exc:
            raise _failure(entry, f"{attribute}() failed: {_one_line(exc)}") from exc
        if not isinstance(value, Mapping):
            raise _failure(entry, f"{attribute}() must return {_MAPPING}, got {_kind(value)}")
    agents: list[tuple[str, Agent]] = []
    for name, agent in value.items():
        reason = name_problem(name)
        if reason is not None:
            raise _failure(entry, f"{name!r} is not an agent name: {reason}")
        reason = agent_problem(agent)
        if reason is not None:
            raise _failure(entry, f"agent {name!r} {reason}")
        agents.append((name, cast(Agent, agent)))
    return agents


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name an agent (None when it can): ``start_agent``
    asks for one by a string of 1 to 64 characters; the name must also be
    printable, without spaces around it, so that a client can type it."""
    if not isinstance(name, str):
        return f"it must be a string, got {_kind(name)}"
    if not 1 <= len(name) <= MAX_AGENT_NAME_CHARS:
        return f"it must be 1 to {MAX_AGENT_NAME_CHARS} characters, got {len(name)}"
    if not name.isprintable() or name != name.strip():
        return "it must be printable, without spaces around it"
    return None


def agent_problem(agent: object) -> str | None:
    """What keeps ``agent`` from being an agent (None when nothing does)."""
    is_async = inspect.iscoroutinefunction(agent) or inspect.iscoroutinefunction(
        type(agent).__call__  # an object whose __call__ is async
    )
    if not (is_async and callable(agent)):
        return f"must be an async function that takes the RunContext, got {_kind(agent)}"
    try:
        signature = inspect.signature(agent)
    except (TypeError, ValueError):  # (none to read: it is called as it is)
        return None
    try:
        signature.bind(None)
    except TypeError:
        return "must take one argument, the RunContext"
    return None


def _failure(entry: str, reason: str) -> StartupError:
    return StartupError(f"agents {entry!r}: {reason}")


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _kind(value: object) -> str:
    if inspect.iscoroutinefunction(value):
        return "an async function"
    if inspect.isfunction(value) or inspect.ismethod(value):
        return "a function that is not async"
    return type(value).__name__
