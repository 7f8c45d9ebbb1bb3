"""The prose of the AsyncAPI document: what the message classes cannot say.

The close codes and error codes are described here one by one, keyed by the
enums of ``errors.py``; a code added there without a description here stops
the document from being built (a ``KeyError``), so the contract cannot miss
one.
"""

from __future__ import annotations

from typing import Any

from netra_trio.errors import CloseCode, ErrorCode

PROTOCOL_VERSION = "1.1"

INFO = """\
The netra-trio wire protocol: a WebSocket server for AI-agent products. A \
client connects to `/ws` with a JWT, sends frames (JSON objects with a \
`type`) and receives replies and the events of its agent runs.

This document describes the server: the operations whose `action` is \
`receive` are the frames a client sends, those whose `action` is `send` the \
frames the server sends.

Agent events (`agent_started`, `agent_thinking`, `agent_output`, \
`tool_executing`, `tool_completed`, `agent_completed`, `agent_error`) carry a \
per-user `seq`, strictly increasing across all of the user's connections; \
they are stored, and `resume {last_seq}` replays the ones a client missed. \
Outbound frames are ordered by priority (CRITICAL: agent events, `error`, \
`connection_established`; HIGH: direct replies; LOW: `user_typing`), FIFO \
within one priority: correlate replies by `correlation_id`, not by position.

Generated from the server's message classes by `netra-trio asyncapi`.\
"""

CHANNEL = """\
The one WebSocket endpoint. The handshake authenticates the user (see the \
security schemes); the first frame is `connection_established`. Text frames \
of UTF-8 JSON objects, at most `max_message_bytes` (65536 by default) UTF-8 \
bytes each.

A refused handshake is an HTTP response with the JSON body \
`{{"error": {{"code": CODE, "message": TEXT}}}}`, and no WebSocket is opened:

| status | code | when |
|---|---|---|
| 401 | `UNAUTHORIZED` | no valid token (missing, malformed, badly signed, expired) |
| 403 | `FORBIDDEN` | `session_id` names a session of another user, or the `Origin` is not allowed |
| 404 | `NOT_FOUND` | a path other than `/ws` |
| 429 | `TOO_MANY_CONNECTIONS` | the user holds `max_connections_per_user` connections |
| 429 | `RATE_LIMITED` | too many handshakes from this address (`Retry-After` says when to retry) |
| 503 | `SHUTTING_DOWN` | the server is shutting down |
| 503 | `UNAVAILABLE` | the database or Redis cannot be reached |

The server closes a connection with these codes:

{close_codes}\
"""

CLOSE_CODES: dict[CloseCode, str] = {
    CloseCode.NORMAL: "normal close",
    CloseCode.GOING_AWAY: "the server is shutting down",
    CloseCode.POLICY_VIOLATION: (
        "repeated security violations or abuse of the message rate (after the `error` frame"
        " of the last one), or a token that expired while connected"
    ),
    CloseCode.MESSAGE_TOO_BIG: "a frame over `max_message_bytes`",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SESSION_EXPIRED: "session expired: no client frame for `idle_timeout_s`",
    CloseCode.HEARTBEAT_LOST: "heartbeat lost: no pong to the server's ping in time",
    CloseCode.SLOW_CONSUMER: (
        "slow consumer: the client fell too far behind; its events stay stored for `resume`"
    ),
    CloseCode.EVICTED: "evicted by emergency cleanup (a stalled write, or the user's backlog)",
}

ERROR_CODES: dict[ErrorCode, str] = {
    ErrorCode.INVALID_JSON: "the frame is not a JSON text",
    ErrorCode.INVALID_MESSAGE: "a field is missing, of the wrong type or out of bounds (named)",
    ErrorCode.UNKNOWN_TYPE: "no client message has this `type`",
    ErrorCode.NOT_FOUND: "the thread, run, session or agent named does not exist",
    ErrorCode.FORBIDDEN: (
        "the frame names another user, or a thread, run or session of another user"
        " (a security violation)"
    ),
    ErrorCode.RATE_LIMITED: "over the user's message rate; `details.retry_after_s` says when",
    ErrorCode.AGENT_BUSY: "the thread already has an active run, or the user has too many",
    ErrorCode.INTERNAL: "the server failed to handle the frame; nothing of it was kept",
    ErrorCode.UNAVAILABLE: "a service the frame needs (the database, Redis) cannot be reached",
    ErrorCode.UNAUTHORIZED: "`refresh` with a token that is not valid",
    ErrorCode.TOO_MANY_CONNECTIONS: "(handshake only) the user's connection limit",
    ErrorCode.SHUTTING_DOWN: "(handshake only) the server is shutting down",
}

ERROR = """\
A frame that could not be handled; the connection stays open. \
`correlation_id` is set when the offending frame had a `message_id`. Codes:

{error_codes}\
"""

BEARER = """\
`Authorization: Bearer TOKEN` on the handshake request. The token is a JWT \
(HS256 by default) whose `sub` claim is the user id, with `exp`. Identity \
comes only from the token: a frame never names a user.\
"""

SUBPROTOCOL = """\
For browsers, which cannot set headers on a WebSocket: offer the \
subprotocols `netra.v1` and `bearer.TOKEN` (the same JWT), as in \
`new WebSocket(url, ["netra.v1", "bearer." + token])`; the server selects \
`netra.v1`. Giving both this and the `Authorization` header is refused.\
"""

SESSION_ID = """\
Resume a session of this user; an unknown or expired id starts a new session \
(`connection_established.payload.resumed` is false). Another user's session: \
HTTP 403.\
"""

BATCH = """\
`1` (or `true`): the client accepts `batch` frames, in which the server puts \
several frames at once, in order.\
"""

CLIENT_ENVELOPE: dict[str, str] = {
    "type": "The message type.",
    "payload": "The message's fields.",
    "message_id": "A client-chosen id, echoed as `correlation_id` in the replies.",
    "thread_id": "The thread the message is about, when it applies.",
    "user_id": (
        "Accepted only when it names the connection's own user; another user's id is"
        " refused with `FORBIDDEN` (a security violation)."
    ),
}

SERVER_ENVELOPE: dict[str, str] = {
    "type": "The message type.",
    "payload": "The message's fields.",
    "message_id": "The server's id of the frame (`s-N`).",
    "correlation_id": "The `message_id` of the client frame this answers, when it had one.",
    "thread_id": "The thread, when the frame is about one.",
    "run_id": "The agent run, on agent events.",
    "seq": "Per-user sequence number of an agent event, strictly increasing; for `resume`.",
    "timestamp": "Unix seconds: when the event happened, or when the frame was made.",
}

PONG = "The reply to `ping`: its payload, plus `server_time` (Unix seconds)."

SERVER_BATCH = """\
With `?batch=1`: several server frames at once, in delivery order. The batch \
frame has no envelope fields of its own.\
"""


def table(codes: type[CloseCode] | type[ErrorCode], meanings: dict[Any, str]) -> str:
    """A markdown table of every member of ``codes``: a member without a
    meaning raises KeyError."""
    lines = ["| code | meaning |", "|---|---|"]
    lines += [f"| `{code.value}` | {meanings[code]} |" for code in codes]
    return "\n".join(lines)
