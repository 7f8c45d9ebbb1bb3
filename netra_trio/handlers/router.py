"""Routes each client frame to its typed handler.

Order of checks for one frame: the user's message rate (``RATE_LIMITED``; a
batch costs one per frame it carries), JSON, then identity (a ``user_id`` naming
another user is a security violation), then structure (``INVALID_MESSAGE``
naming the field, ``UNKNOWN_TYPE``), then the handler. Every failure becomes
an ``error`` frame and the connection stays open; an unexpected exception in
a handler becomes ``INTERNAL`` and is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from netra_trio.core.routing import identity_violation
from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.handlers.context import Handler, HandlerContext, M
from netra_trio.handlers.threads import Refused
from netra_trio.logs import log_event
from netra_trio.protocol.client_messages import CLIENT_TYPES, Batch, ClientMessage
from netra_trio.protocol.codec import correlation_of, decode_message, parse_frame
from netra_trio.storage.base import DatabaseUnavailable, StorageError


def _cost(frame: dict[str, Any]) -> int:
    """A batch costs one message per frame it carries."""
    if frame.get("type") == "batch":
        payload = frame.get("payload")
        if isinstance(payload, dict) and isinstance(payload.get("messages"), list):
            return max(1, len(payload["messages"]))
    return 1


def _storage_failure(*, unreachable: bool, reading: bool) -> str:
    """What a client is told when the database failed its frame: a failed read
    changed nothing; a failed write saved nothing."""
    what = "the database is unavailable" if unreachable else "storage is unavailable"
    return f"{what}; could not read the data asked for" if reading else f"{what}; nothing was saved"


class Router:
    def __init__(self) -> None:
        self._handlers: dict[type[ClientMessage], Handler[Any]] = {}

    def add(self, message_type: type[M], handler: Handler[M]) -> None:
        if message_type in self._handlers:
            raise ValueError(f"a handler for {message_type.TYPE!r} is already registered")
        self._handlers[message_type] = handler

    async def handle_text(self, ctx: HandlerContext, text: str) -> str:
        """Handle one text frame. Returns its type as traffic is counted: the
        client message type it names, or ``invalid``."""
        try:
            frame = parse_frame(text)
        except ProtocolError as error:
            if not await ctx.rate_limit(1):
                ctx.send_error(error)
            return "invalid"
        kind = frame.get("type")
        counted = kind if isinstance(kind, str) and kind in CLIENT_TYPES else "invalid"
        if await ctx.rate_limit(_cost(frame), correlation_of(frame)):
            return counted
        await self.handle_frame(ctx, frame)
        return counted

    async def handle_frame(
        self, ctx: HandlerContext, frame: dict[str, Any], *, in_batch: bool = False
    ) -> None:
        correlation_id = correlation_of(frame)
        reason = identity_violation(frame, ctx.user_id)
        if reason is not None:
            ctx.security_violation(reason, correlation_id=correlation_id)
            return
        try:
            message = decode_message(frame)
            if in_batch and isinstance(message, Batch):
                raise ProtocolError(
                    ErrorCode.INVALID_MESSAGE,
                    "type: a batch may not contain another batch",
                    correlation_id=correlation_id,
                )
            handler = self._handlers.get(type(message))
            if handler is None:
                raise ProtocolError(
                    ErrorCode.UNKNOWN_TYPE,
                    f"message type {message.TYPE!r} is not served here",
                    correlation_id=correlation_id,
                )
            await handler(ctx, message)
        except ProtocolError as error:
            ctx.send_error(error)
        except Refused:
            pass  # already answered
        except StorageError as exc:
            log_event(
                "storage_error",
                logging.ERROR,
                user=ctx.user_id,
                connection=ctx.connection_id,
                type=frame.get("type"),
                error=str(exc),
            )
            unreachable = isinstance(exc, DatabaseUnavailable)
            ctx.send_error(
                ProtocolError(
                    ErrorCode.UNAVAILABLE if unreachable else ErrorCode.INTERNAL,
                    _storage_failure(unreachable=unreachable, reading=exc.reading),
                    correlation_id=correlation_id,
                )
            )
        except Exception:
            log_event(
                "handler_error",
                logging.ERROR,
                user=ctx.user_id,
                connection=ctx.connection_id,
                type=frame.get("type"),
                exc_info=True,
            )
            ctx.send_error(
                ProtocolError(
                    ErrorCode.INTERNAL,
                    "internal error while handling the message",
                    correlation_id=correlation_id,
                )
            )
