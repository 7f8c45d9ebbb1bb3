"""AG-UI agents: each runs a remote AG-UI endpoint as an agent of this server.

:func:`agui_agents` makes one :class:`AguiAgent` per ``--agui-agent NAME=URL``,
for the registry to add next to the built-in agents. A run POSTs its
``RunAgentInput`` (``run_input.py``), reads the endpoint's event stream
(``stream.py``), turns each event into actions (``mapping.py``) and applies
them to ``ctx.emit`` as they come, so the user's connections see the run as
the endpoint streams it. ``RUN_FINISHED`` returns the run's result, whose text
the runtime appends to the thread; every failure is an :class:`AgentFailure`
with a code of ``errors.py``. ``stop_agent``, ``max_run_s`` and server
shutdown cancel the run, which closes the request.

The TLS context (loading the CA certificates takes about 30 ms) is made once
per process and shared by every run.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING

import httpx

from netra_trio.agents.base import Agent, AgentFailure, AgentResult, RunContext
from netra_trio.agui.actions import (
    Action,
    Failed,
    Finished,
    Output,
    Thinking,
    ToolFinished,
    ToolStarted,
)
from netra_trio.agui.errors import protocol_error
from netra_trio.agui.mapping import EventMapper
from netra_trio.agui.run_input import run_input
from netra_trio.agui.settings import AguiLimits, endpoint_for_logs
from netra_trio.agui.stream import open_events
from netra_trio.logs import log_event

if TYPE_CHECKING:
    from netra_trio.config import Config


class AguiAgent:
    """The agent ``name``, which runs the AG-UI endpoint at ``url``."""

    def __init__(self, name: str, url: str, limits: AguiLimits, tls: ssl.SSLContext) -> None:
        self.name = name
        self._url = url
        self._limits = limits
        self._tls = tls

    async def __call__(self, ctx: RunContext) -> AgentResult:
        body = run_input(ctx.thread_id, ctx.run_id, ctx.history, ctx.input)
        mapper = EventMapper(self._limits.max_tool_args_bytes)
        try:
            async with open_events(self._url, body, self._limits, self._tls) as events:
                outcome: AgentResult | None = None
                while outcome is None:
                    event = await events.next_event()
                    if event is None:
                        raise protocol_error(
                            "the agent endpoint's stream ended before RUN_FINISHED"
                        )
                    for action in mapper.feed(event):
                        outcome = await self._apply(ctx, action) or outcome
                return outcome
        except AgentFailure as failure:
            log_event(
                "agui_run_failed",
                logging.WARNING,
                agent=self.name,
                run=ctx.run_id,
                endpoint=endpoint_for_logs(self._url),
                code=failure.code,
                reason=failure.message,
            )
            raise

    async def _apply(self, ctx: RunContext, action: Action) -> AgentResult | None:
        """Report ``action``; the run's result once it has finished."""
        match action:
            case Output(message_id, delta):
                await ctx.emit.output(self.name, delta, output_id=message_id)
            case Thinking(thought):
                await ctx.emit.thinking(self.name, thought)
            case ToolStarted(call_id, tool_name, arguments):
                await ctx.emit.tool_started(self.name, tool_name, arguments, tool_call_id=call_id)
            case ToolFinished(call_id, result):
                await ctx.emit.tool_finished(call_id, result)
            case Finished(result, report):
                return AgentResult(result=result, report=report)
            case Failed(code, message):
                raise AgentFailure(code, message)
            case _:
                log_event(
                    "agui_event_ignored",
                    logging.DEBUG,
                    agent=self.name,
                    run=ctx.run_id,
                    type=action.event_type,
                )
        return None


def agui_agents(config: Config) -> dict[str, Agent]:
    """An agent for each ``--agui-agent NAME=URL`` of ``config``, by name."""
    if not config.agui_agents:
        return {}
    limits = AguiLimits(
        connect_timeout_s=config.agui_connect_timeout_s,
        first_event_timeout_s=config.agui_first_event_timeout_s,
        idle_timeout_s=config.agui_idle_timeout_s,
        max_event_bytes=config.agui_max_event_bytes,
        max_tool_args_bytes=config.agui_max_tool_args_bytes,
    )
    tls = httpx.create_ssl_context()  # loads the CA certificates once, for every run
    return {name: AguiAgent(name, url, limits, tls) for name, url in config.agui_agents}
