"""Threads: ownership checks, ``get_thread_history`` and ``list_threads``.

A thread of another user is never revealed: the reply is FORBIDDEN and the
attempt is a security violation; an id that names no thread is NOT_FOUND.
"""

from __future__ import annotations

from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.handlers.context import HandlerContext
from netra_trio.protocol.client_messages import GetThreadHistory, ListThreads
from netra_trio.protocol.server_messages import (
    HistoryMessage,
    ThreadHistory,
    Threads,
    ThreadSummary,
)
from netra_trio.storage.records import ThreadRecord


class Refused(Exception):
    """The frame was already answered (FORBIDDEN); stop handling it."""


async def owned_thread(
    ctx: HandlerContext, thread_id: str, correlation_id: str | None
) -> ThreadRecord:
    thread = await ctx.threads.get_thread(thread_id)
    if thread is None:
        raise ProtocolError(
            ErrorCode.NOT_FOUND,
            f"thread_id: no thread {thread_id!r}",
            correlation_id=correlation_id,
        )
    if thread.user_id != ctx.user_id:
        ctx.security_violation("thread of another user", correlation_id=correlation_id)
        raise Refused
    return thread


async def handle_get_thread_history(ctx: HandlerContext, message: GetThreadHistory) -> None:
    thread = await owned_thread(ctx, message.payload.thread_id, message.message_id)
    records = await ctx.threads.thread_messages(thread.thread_id, limit=message.payload.limit)
    history = ThreadHistory(
        thread_id=thread.thread_id,
        messages=[
            HistoryMessage(
                role=m.role, content=m.content, message_id=m.message_id, timestamp=m.timestamp
            )
            for m in records
        ],
    )
    ctx.reply(history, correlation_id=message.message_id, thread_id=thread.thread_id)


async def handle_list_threads(ctx: HandlerContext, message: ListThreads) -> None:
    threads = await ctx.threads.list_threads(ctx.user_id)
    ctx.reply(
        Threads(
            threads=[
                ThreadSummary(thread_id=t.thread_id, title=t.title, updated_at=t.updated_at)
                for t in threads
            ]
        ),
        correlation_id=message.message_id,
    )
