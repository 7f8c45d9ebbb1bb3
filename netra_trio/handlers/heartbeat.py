"""``ping`` and ``heartbeat``: direct, HIGH-priority answers."""

from __future__ import annotations

import time

from netra_trio.handlers.context import HandlerContext
from netra_trio.protocol.client_messages import Heartbeat, Ping
from netra_trio.protocol.server_messages import PONG, HeartbeatAck


async def handle_ping(ctx: HandlerContext, message: Ping) -> None:
    kind, priority = PONG
    ctx.reply_raw(
        kind,
        {**message.payload, "server_time": time.time()},
        priority,
        correlation_id=message.message_id,
    )


async def handle_heartbeat(ctx: HandlerContext, message: Heartbeat) -> None:
    ctx.reply(HeartbeatAck(status="healthy"), correlation_id=message.message_id)
