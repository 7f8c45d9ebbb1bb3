"""Sessions and replay: ``session_update``, ``session_get`` and ``resume``."""

from __future__ import annotations

from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.handlers.context import HandlerContext
from netra_trio.protocol.client_messages import Resume, SessionGet, SessionUpdate
from netra_trio.protocol.server_messages import ResumeComplete, SessionState


async def handle_session_update(ctx: HandlerContext, message: SessionUpdate) -> None:
    try:
        data = await ctx.sessions.update(ctx.session_id, ctx.user_id, message.payload.data)
    except ValueError as exc:
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, f"payload.data: {exc}", correlation_id=message.message_id
        ) from None
    ctx.reply(SessionState(session_id=ctx.session_id, data=data), correlation_id=message.message_id)


async def handle_session_get(ctx: HandlerContext, message: SessionGet) -> None:
    data = await ctx.sessions.get(ctx.session_id, ctx.user_id)
    ctx.reply(SessionState(session_id=ctx.session_id, data=data), correlation_id=message.message_id)


async def handle_resume(ctx: HandlerContext, message: Resume) -> None:
    replayed, gap = await ctx.replay(message.payload.last_seq)
    ctx.reply(ResumeComplete(replayed=replayed, gap=gap), correlation_id=message.message_id)
