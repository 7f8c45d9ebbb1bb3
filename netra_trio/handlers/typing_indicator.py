"""Typing indicators: an ack to the sender, ``user_typing`` to the user's
other connections at LOW priority, coalesced per sender to the latest state.
Low-value work: it waits for agent events in flight, and for its share of the
event loop's round (``server/round_budget.py``)."""

from __future__ import annotations

from netra_trio.handlers.context import HandlerContext
from netra_trio.protocol.client_messages import TypingStarted, TypingStopped
from netra_trio.protocol.server_messages import TypingAck, UserTyping


async def handle_typing(ctx: HandlerContext, message: TypingStarted | TypingStopped) -> None:
    await ctx.wait_low_value_turn()  # agent events go first; a flood keeps rounds short
    typing = isinstance(message, TypingStarted)
    ctx.reply(TypingAck(typing=typing), correlation_id=message.message_id)
    await ctx.notify_others(
        UserTyping(typing=typing, connection_id=ctx.connection_id),
        coalesce_key=("user_typing", ctx.connection_id),
    )


async def handle_typing_started(ctx: HandlerContext, message: TypingStarted) -> None:
    await handle_typing(ctx, message)


async def handle_typing_stopped(ctx: HandlerContext, message: TypingStopped) -> None:
    await handle_typing(ctx, message)
