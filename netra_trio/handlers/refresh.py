"""``refresh``: a new token of the same user, before the connection's expires.

The token is judged as at the handshake (signature, algorithm, key, claims).
A valid token of the connection's user moves the connection's expiry to the
new token's, earlier or later, and is answered ``token_refreshed
{expires_at}``. A token of another user is a security violation (FORBIDDEN,
counted towards the close with 1008); a token that is not valid is
``UNAUTHORIZED``, and one whose key set cannot be fetched ``UNAVAILABLE``:
either way the connection keeps its old expiry. No reply names the token.
"""

from __future__ import annotations

from netra_trio.errors import AuthError, ErrorCode, ProtocolError
from netra_trio.handlers.context import HandlerContext
from netra_trio.jwt_keys import KeysUnavailable
from netra_trio.protocol.client_messages import Refresh
from netra_trio.protocol.server_messages import TokenRefreshed


async def handle_refresh(ctx: HandlerContext, message: Refresh) -> None:
    correlation_id = message.message_id
    try:
        user_id, expires_at = await ctx.verify_token(message.payload.token)
    except AuthError as exc:
        raise ProtocolError(
            ErrorCode.UNAUTHORIZED,
            f"refresh refused, the connection keeps its expiry: {exc}",
            correlation_id=correlation_id,
        ) from None
    except KeysUnavailable as exc:
        raise ProtocolError(
            ErrorCode.UNAVAILABLE,
            f"refresh not judged, the connection keeps its expiry: {exc}",
            correlation_id=correlation_id,
        ) from None
    if user_id != ctx.user_id:
        ctx.security_violation(
            "refresh with a token of another user",
            correlation_id=correlation_id,
            message="refresh refused: the token belongs to another user",
        )
        return
    ctx.renew_token(expires_at)
    ctx.reply(TokenRefreshed(expires_at=expires_at), correlation_id=correlation_id)
