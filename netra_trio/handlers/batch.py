"""``batch``: up to 50 client frames, each handled in order as if sent alone."""

from __future__ import annotations

from netra_trio.handlers.context import Handler, HandlerContext
from netra_trio.handlers.router import Router
from netra_trio.protocol.client_messages import Batch


def batch_handler(router: Router) -> Handler[Batch]:
    async def handle_batch(ctx: HandlerContext, message: Batch) -> None:
        for frame in message.payload.messages:
            if not ctx.is_open:
                return
            await router.handle_frame(ctx, frame, in_batch=True)

    return handle_batch
