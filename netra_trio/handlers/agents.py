"""Agent requests: ``user_message``, ``agent_request``, ``start_agent``, ``stop_agent``.

A run is admitted first (the agent exists, the thread has no active run, the
user is under the run limit: ``ctx.runs.reserve``, one check for all three
requests), before anything is stored; the admitted slot holds its place while
the thread and the user's message are stored, then the run starts on it. A
run's events go to all of the user's connections.
"""

from __future__ import annotations

from netra_trio.agents.base import input_as_text
from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.handlers.context import HandlerContext
from netra_trio.handlers.threads import owned_thread
from netra_trio.protocol.client_messages import AgentRequest, StartAgent, StopAgent, UserMessage
from netra_trio.protocol.server_messages import MessageAck
from netra_trio.storage.records import MessageRecord

SUPERVISOR = "supervisor"
_TITLE_CHARS = 60


async def _store_request(
    ctx: HandlerContext,
    thread_id: str | None,
    title: str,
    content: str,
    correlation_id: str | None,
) -> tuple[str, MessageRecord | None]:
    """Store the user's message (none when ``content`` is empty) on the thread
    the run goes on: the given one (the user's own), or a new one, made with
    its first message in one transaction (never a thread without it)."""
    if thread_id is not None:
        thread_id = (await owned_thread(ctx, thread_id, correlation_id)).thread_id
        if not content:
            return thread_id, None
        return thread_id, await ctx.threads.append_message(thread_id, "user", content)
    title = " ".join(title.split())
    if len(title) > _TITLE_CHARS:
        title = title[: _TITLE_CHARS - 1] + "…"
    if not content:
        return (await ctx.threads.create_thread(ctx.user_id, title)).thread_id, None
    thread, stored = await ctx.threads.create_thread_with_message(
        ctx.user_id, title, "user", content
    )
    return thread.thread_id, stored


async def handle_user_message(ctx: HandlerContext, message: UserMessage) -> None:
    content = message.payload.content
    with await ctx.runs.reserve(
        SUPERVISOR, message.thread_id, correlation_id=message.message_id
    ) as run:
        thread_id, stored = await _store_request(
            ctx, message.thread_id, content, content, message.message_id
        )
        assert stored is not None  # the payload's content is never empty
        # the run holds its thread (across a cluster, for a new thread) before
        # the ack names the thread: a request on it from any node is then busy
        await run.start(thread_id, content)
        ctx.reply(
            MessageAck(message_id=stored.message_id, thread_id=thread_id),
            correlation_id=message.message_id,
            thread_id=thread_id,
        )


async def handle_agent_request(ctx: HandlerContext, message: AgentRequest) -> None:
    content = message.payload.content
    with await ctx.runs.reserve(
        SUPERVISOR, message.thread_id, correlation_id=message.message_id
    ) as run:
        thread_id, _ = await _store_request(
            ctx, message.thread_id, content, content, message.message_id
        )
        await run.start(
            thread_id,
            content,
            options={"require_multi_agent": message.payload.require_multi_agent},
        )


async def handle_start_agent(ctx: HandlerContext, message: StartAgent) -> None:
    name = message.payload.agent
    with await ctx.runs.reserve(name, message.thread_id, correlation_id=message.message_id) as run:
        text = input_as_text(message.payload.input)
        thread_id, _ = await _store_request(
            ctx, message.thread_id, f"{name}: {text}", text, message.message_id
        )
        await run.start(thread_id, message.payload.input)


async def handle_stop_agent(ctx: HandlerContext, message: StopAgent) -> None:
    run_id = message.payload.run_id
    if ctx.runs.stop(run_id):
        return  # the run answers with agent_completed {status: "cancelled"}
    run = await ctx.runs.find(run_id)
    if run is not None and run.user_id != ctx.user_id:
        ctx.security_violation("run of another user", correlation_id=message.message_id)
        return
    running = run is not None and run.status == "running"
    if running and await ctx.runs.stop_elsewhere(run_id, correlation_id=message.message_id):
        return  # the process that runs it answers, as above
    state = "is no longer active" if run is not None else "does not exist"
    raise ProtocolError(
        ErrorCode.NOT_FOUND,
        f"payload.run_id: run {run_id!r} {state}",
        correlation_id=message.message_id,
    )
