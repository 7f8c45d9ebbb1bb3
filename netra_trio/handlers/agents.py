"""Agent requests: ``user_message``, ``agent_request``, ``start_agent``, ``stop_agent``.

Admission (the agent exists, the thread has no active run, the user is under
the run limit) is checked before anything is stored, and again, atomically,
when the run starts. A run's events go to all of the user's connections.
"""

from __future__ import annotations

from typing import Any

import orjson

from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.handlers.base import HandlerContext
from netra_trio.handlers.threads import owned_thread
from netra_trio.protocol.client_messages import AgentRequest, StartAgent, StopAgent, UserMessage
from netra_trio.protocol.server_messages import MessageAck

SUPERVISOR = "supervisor"
_TITLE_CHARS = 60


async def _thread_for(
    ctx: HandlerContext, thread_id: str | None, title: str, correlation_id: str | None
) -> str:
    if thread_id is not None:
        owned = await owned_thread(ctx, thread_id, correlation_id)
        ctx.runs.check_can_start(owned.thread_id, correlation_id=correlation_id)
        return owned.thread_id
    ctx.runs.check_can_start(None, correlation_id=correlation_id)
    title = " ".join(title.split())
    thread = await ctx.services.storage.create_thread(
        ctx.user_id, title if len(title) <= _TITLE_CHARS else title[: _TITLE_CHARS - 1] + "…"
    )
    return thread.thread_id


async def handle_user_message(ctx: HandlerContext, message: UserMessage) -> None:
    content = message.payload.content
    thread_id = await _thread_for(ctx, message.thread_id, content, message.message_id)
    stored = await ctx.services.storage.append_message(thread_id, "user", content)
    ctx.reply(
        MessageAck(message_id=stored.message_id, thread_id=thread_id),
        correlation_id=message.message_id,
        thread_id=thread_id,
    )
    ctx.runs.start(SUPERVISOR, thread_id, content, correlation_id=message.message_id)


async def handle_agent_request(ctx: HandlerContext, message: AgentRequest) -> None:
    content = message.payload.content
    thread_id = await _thread_for(ctx, message.thread_id, content, message.message_id)
    await ctx.services.storage.append_message(thread_id, "user", content)
    ctx.runs.start(
        SUPERVISOR,
        thread_id,
        content,
        options={"require_multi_agent": message.payload.require_multi_agent},
        correlation_id=message.message_id,
    )


async def handle_start_agent(ctx: HandlerContext, message: StartAgent) -> None:
    name = message.payload.agent
    if ctx.services.agents.get(name) is None:
        raise ProtocolError(
            ErrorCode.NOT_FOUND,
            f"payload.agent: no agent named {name!r}",
            correlation_id=message.message_id,
            details={"agents": list(ctx.services.agents.names)},
        )
    text = _as_text(message.payload.input)
    thread_id = await _thread_for(ctx, message.thread_id, f"{name}: {text}", message.message_id)
    if text:
        await ctx.services.storage.append_message(thread_id, "user", text)
    ctx.runs.start(name, thread_id, message.payload.input, correlation_id=message.message_id)


async def handle_stop_agent(ctx: HandlerContext, message: StopAgent) -> None:
    run_id = message.payload.run_id
    if ctx.runs.stop(run_id):
        return  # the run answers with agent_completed {status: "cancelled"}
    run = await ctx.services.storage.get_run(run_id)
    if run is not None and run.user_id != ctx.user_id:
        ctx.security_violation("run of another user", correlation_id=message.message_id)
        return
    state = "is no longer active" if run is not None else "does not exist"
    raise ProtocolError(
        ErrorCode.NOT_FOUND,
        f"payload.run_id: run {run_id!r} {state}",
        correlation_id=message.message_id,
    )


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
