"""The AsyncAPI 3.0 document of the protocol, built from the message classes.

Every client message (``CLIENT_MESSAGES``) and every server message
(``SERVER_TYPES``, plus ``pong`` and the server's ``batch``, which have no
class) becomes a message of the one channel, ``/ws``, with the JSON Schema of
its whole frame (the envelope and the payload, ``json_schema.py``) in
``components.schemas``. The document describes the server: a client message
is a ``receive`` operation (with the replies it may get), a server message a
``send`` operation. The prose lives in ``asyncapi_text.py``.

``netra-trio asyncapi`` prints :func:`document_json`; ``docs/asyncapi.json``
is that output.
"""

from __future__ import annotations

from typing import Any

import orjson

from netra_trio.core.limits import MAX_INTEGER
from netra_trio.errors import CloseCode, ErrorCode
from netra_trio.protocol import asyncapi_text as text
from netra_trio.protocol import server_messages as sm
from netra_trio.protocol.client_messages import CLIENT_MESSAGES, ClientMessage
from netra_trio.protocol.json_schema import Schema, object_schema
from netra_trio.protocol.server_messages import PONG, SERVER_TYPES

ASYNCAPI_VERSION = "3.0.0"
CHANNEL = "netra"
_CHANNEL_REF = {"$ref": f"#/channels/{CHANNEL}"}

AGENT_EVENTS: tuple[type[Any], ...] = (
    sm.AgentStarted,
    sm.AgentThinking,
    sm.AgentOutput,
    sm.ToolExecuting,
    sm.ToolCompleted,
    sm.AgentCompleted,
    sm.AgentError,
)
"""Stored for ``resume``: their frames always carry ``thread_id``, ``run_id`` and ``seq``."""

_EVENT_TYPES = tuple(SERVER_TYPES[cls][0] for cls in AGENT_EVENTS)

REPLIES: dict[str, tuple[str, ...]] = {
    "ping": (PONG[0],),
    "heartbeat": ("heartbeat_ack",),
    "typing_started": ("typing_ack",),
    "typing_stopped": ("typing_ack",),
    "user_message": ("message_ack", *_EVENT_TYPES),
    "agent_request": _EVENT_TYPES,
    "start_agent": _EVENT_TYPES,
    "stop_agent": (),  # the run ends with agent_completed, correlated to the run's request
    "get_thread_history": ("thread_history",),
    "list_threads": ("threads",),
    "session_update": ("session_state",),
    "session_get": ("session_state",),
    "resume": (*_EVENT_TYPES, "resume_complete"),
    "refresh": ("token_refreshed",),
}
"""What the server sends back for each client message, besides ``error``
(which any of them may get). ``batch`` has no replies of its own: each frame
in it gets its own."""


def client_key(kind: str) -> str:
    return f"client.{kind}"


def server_key(kind: str) -> str:
    return f"server.{kind}"


def document() -> dict[str, Any]:
    frames: dict[str, Schema] = {}
    messages: dict[str, dict[str, Any]] = {}
    for cls in CLIENT_MESSAGES:
        key = client_key(cls.TYPE)
        frames[key], description = _client_frame(cls)
        messages[key] = _message(key, cls.TYPE, description)
    for payload_cls, (kind, priority) in SERVER_TYPES.items():
        key = server_key(kind)
        frames[key], description = _server_frame(kind, payload_cls)
        if payload_cls is sm.ErrorPayload:
            description = text.ERROR.format(error_codes=text.table(ErrorCode, text.ERROR_CODES))
        messages[key] = {**_message(key, kind, description), "x-priority": priority.name}
    kind, priority = PONG
    frames[server_key(kind)] = _envelope(kind, _PONG_PAYLOAD, event=False)
    messages[server_key(kind)] = {
        **_message(server_key(kind), kind, text.PONG),
        "x-priority": priority.name,
    }
    frames[server_key("batch")] = _server_batch(frames)
    messages[server_key("batch")] = _message(server_key("batch"), "batch", text.SERVER_BATCH)
    operations = {_operation_id(key): _operation(key, messages) for key in messages}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "netra-trio",
            "version": text.PROTOCOL_VERSION,
            "description": text.INFO,
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "ws": _server("ws", "Plain WebSocket."),
            "wss": _server("wss", "WebSocket over TLS (`--tls-cert` and `--tls-key`)."),
        },
        "channels": {CHANNEL: _channel(messages)},
        "operations": operations,
        "components": {
            "schemas": frames,
            "messages": messages,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": text.BEARER,
                },
                "subprotocol": {
                    "type": "httpApiKey",
                    "name": "Sec-WebSocket-Protocol",
                    "in": "header",
                    "description": text.SUBPROTOCOL,
                },
            },
        },
    }


def document_json() -> str:
    """The document as the command prints it: indented JSON, one final newline."""
    return orjson.dumps(document(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode()


def _client_frame(cls: type[ClientMessage]) -> tuple[Schema, str]:
    schema = object_schema(cls)
    description: str = schema.pop("description")
    fields: Schema = {"type": {"type": "string", "const": cls.TYPE}, **schema["properties"]}
    # in the order of the descriptions (type and payload first); a field without one: ValueError
    order = list(text.CLIENT_ENVELOPE)
    properties = {
        name: {"description": text.CLIENT_ENVELOPE[name], **fields[name]}
        for name in sorted(fields, key=order.index)
    }
    required = ["type", *schema.get("required", [])]
    frame = {"type": "object", "properties": properties, "required": required}
    return {**frame, "additionalProperties": False}, description


def _server_frame(kind: str, payload_cls: type[Any]) -> tuple[Schema, str]:
    payload = object_schema(payload_cls)
    description: str = payload.pop("description")
    return _envelope(kind, payload, event=payload_cls in AGENT_EVENTS), description


_PONG_PAYLOAD: Schema = {
    "type": "object",
    "properties": {"server_time": {"type": "number"}},
    "required": ["server_time"],
}


def _envelope(kind: str, payload: Schema, *, event: bool) -> Schema:
    types: dict[str, Schema] = {
        "type": {"type": "string", "const": kind},
        "payload": payload,
        "message_id": {"type": "string"},
        "correlation_id": {"type": "string"},
        "thread_id": {"type": "string"},
        "run_id": {"type": "string"},
        "seq": {"type": "integer", "minimum": 1, "maximum": MAX_INTEGER},
        "timestamp": {"type": "number"},
    }
    properties = {
        name: {"description": text.SERVER_ENVELOPE[name], **schema}
        for name, schema in types.items()
    }
    required = ["type", "payload", "message_id", "timestamp"]
    if event:
        required += ["thread_id", "run_id", "seq"]
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _server_batch(frames: dict[str, Schema]) -> Schema:
    inner = [{"$ref": f"#/components/schemas/{key}"} for key in frames if key.startswith("server.")]
    messages = {"type": "array", "minItems": 1, "items": {"anyOf": inner}}
    payload = {
        "type": "object",
        "properties": {"messages": messages},
        "required": ["messages"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"type": {"type": "string", "const": "batch"}, "payload": payload},
        "required": ["type", "payload"],
        "additionalProperties": False,
    }


def _message(key: str, kind: str, docstring: str) -> dict[str, Any]:
    description = docstring.replace("``", "`")  # reStructuredText's literals in markdown
    return {
        "name": kind,
        "title": f"{kind} ({key.split('.')[0]})",
        "summary": description.split("\n\n")[0].split(". ")[0].rstrip(".") + ".",
        "description": description,
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{key}"},
    }


def _operation_id(key: str) -> str:
    side, kind = key.split(".")
    return f"{'receive' if side == 'client' else 'send'}_{kind}"


def _operation(key: str, messages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    side, kind = key.split(".")
    operation: dict[str, Any] = {
        "action": "receive" if side == "client" else "send",
        "channel": _CHANNEL_REF,
        "summary": messages[key]["summary"],
        "messages": [_channel_message(key)],
    }
    if side == "client" and kind in REPLIES:
        replies = [server_key(reply) for reply in (*REPLIES[kind], "error")]
        operation["reply"] = {
            "channel": _CHANNEL_REF,
            "messages": [_channel_message(reply) for reply in replies],
        }
    return operation


def _channel_message(key: str) -> dict[str, str]:
    return {"$ref": f"#/channels/{CHANNEL}/messages/{key}"}


def _channel(messages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "address": "/ws",
        "title": "The WebSocket endpoint",
        "description": text.CHANNEL.format(close_codes=text.table(CloseCode, text.CLOSE_CODES)),
        "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
        "bindings": {
            "ws": {
                "method": "GET",
                "query": {
                    "type": "object",
                    "properties": {
                        "session_id": {"type": "string", "description": text.SESSION_ID},
                        "batch": {"type": "string", "examples": ["1"], "description": text.BATCH},
                    },
                },
                "bindingVersion": "0.1.0",
            }
        },
    }


def _server(protocol: str, description: str) -> dict[str, Any]:
    return {
        "host": "{host}:{port}",
        "protocol": protocol,
        "description": description,
        "variables": {
            "host": {"default": "127.0.0.1", "description": "`--host`"},
            "port": {"default": "8765", "description": "`--port`"},
        },
        "security": [
            {"$ref": "#/components/securitySchemes/bearer"},
            {"$ref": "#/components/securitySchemes/subprotocol"},
        ],
    }
