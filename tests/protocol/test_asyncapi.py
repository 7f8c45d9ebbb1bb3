"""The AsyncAPI document: complete (every message type of the codec, every
close and error code), committed as ``docs/asyncapi.json`` and current, and
its frame schemas agree with the codec on what a client may send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from netra_trio.cli import main
from netra_trio.core.limits import MAX_BATCH_MESSAGES, MAX_CONTENT_CHARS, MAX_INTEGER
from netra_trio.errors import CloseCode, ErrorCode, ProtocolError
from netra_trio.protocol.asyncapi import REPLIES, document, document_json
from netra_trio.protocol.client_messages import CLIENT_TYPES
from netra_trio.protocol.codec import decode_message
from netra_trio.protocol.server_messages import PONG, SERVER_TYPES
from tests.protocol.asyncapi_support import frame_errors

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
REGENERATE = ".venv/bin/netra-trio asyncapi > docs/asyncapi.json"

# every type the codec reads or writes: pong and the server's batch have no class
CLIENT_KINDS = set(CLIENT_TYPES)
SERVER_KINDS = {kind for kind, _ in SERVER_TYPES.values()} | {PONG[0], "batch"}


def test_the_committed_document_is_the_output_of_the_command() -> None:
    assert COMMITTED.read_text() == document_json(), (
        f"{COMMITTED.name} is stale: the message classes changed since it was generated;"
        f" regenerate it with `{REGENERATE}`"
    )


def test_the_command_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["asyncapi"]) == 0
    out = capsys.readouterr().out
    assert out == document_json()
    assert orjson.loads(out)["asyncapi"] == "3.0.0"


def test_every_message_type_of_the_codec_is_a_message_with_an_operation() -> None:
    doc = document()
    messages = doc["components"]["messages"]
    channel = doc["channels"]["netra"]["messages"]
    client = {m["name"] for key, m in messages.items() if key.startswith("client.")}
    server = {m["name"] for key, m in messages.items() if key.startswith("server.")}
    assert client == CLIENT_KINDS
    assert server == SERVER_KINDS
    assert set(channel) == set(messages) == set(doc["components"]["schemas"])
    actions = {
        op["messages"][0]["$ref"].rsplit("/", 1)[-1]: op["action"]
        for op in doc["operations"].values()
    }
    assert actions == {
        **{f"client.{kind}": "receive" for kind in CLIENT_KINDS},
        **{f"server.{kind}": "send" for kind in SERVER_KINDS},
    }


def test_every_client_message_but_batch_names_its_replies() -> None:
    assert set(REPLIES) == CLIENT_KINDS - {"batch"}
    operations = document()["operations"]
    for kind, replies in REPLIES.items():
        listed = [
            ref["$ref"].rsplit(".", 1)[-1]
            for ref in operations[f"receive_{kind}"]["reply"]["messages"]
        ]
        assert listed == [*replies, "error"]
        assert set(listed) <= SERVER_KINDS
    assert "reply" not in operations["receive_batch"]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_reference_resolves() -> None:
    doc = document()
    refs = _refs(doc)
    assert len(refs) > 100
    for ref in refs:
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]


def test_every_close_code_and_error_code_is_described() -> None:
    doc = document()
    channel = doc["channels"]["netra"]["description"]
    for close in CloseCode:
        assert f"| `{close.value}` |" in channel
    error = doc["components"]["messages"]["server.error"]["description"]
    for code in ErrorCode:
        assert f"| `{code.value}` |" in error


def test_security_the_query_and_the_envelope() -> None:
    doc = document()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["subprotocol"]["name"] == "Sec-WebSocket-Protocol"
    assert "bearer." in schemes["subprotocol"]["description"]
    for server in doc["servers"].values():
        assert len(server["security"]) == 2
    assert set(doc["channels"]["netra"]["bindings"]["ws"]["query"]["properties"]) == {
        "session_id",
        "batch",
    }
    schemas = doc["components"]["schemas"]
    event = schemas["server.agent_thinking"]
    assert set(event["required"]) == {
        "type",
        "payload",
        "message_id",
        "timestamp",
        "thread_id",
        "run_id",
        "seq",
    }
    reply = schemas["server.pong"]
    assert set(reply["required"]) == {"type", "payload", "message_id", "timestamp"}
    assert list(schemas["client.user_message"]["properties"])[:2] == ["type", "payload"]
    content = schemas["client.user_message"]["properties"]["payload"]["properties"]["content"]
    assert (content["minLength"], content["maxLength"]) == (1, MAX_CONTENT_CHARS)


# Frames that the server accepts (None) or refuses; the schema of their type must agree.
FRAMES: list[tuple[dict[str, Any], bool]] = [
    ({"type": "ping"}, True),
    ({"type": "ping", "payload": {"anything": [1, {"a": None}]}, "message_id": "c-1"}, True),
    ({"type": "ping", "message_id": None, "thread_id": "t", "user_id": "alice"}, True),
    ({"type": "ping", "message_id": 7}, False),
    ({"type": "ping", "extra": 1}, False),
    ({"type": "heartbeat"}, True),
    ({"type": "typing_started"}, True),
    ({"type": "user_message", "payload": {"content": "x" * MAX_CONTENT_CHARS}}, True),
    ({"type": "user_message", "payload": {"content": "x" * (MAX_CONTENT_CHARS + 1)}}, False),
    ({"type": "user_message", "payload": {"content": ""}}, False),
    ({"type": "user_message", "payload": {}}, False),
    ({"type": "user_message"}, False),
    ({"type": "user_message", "payload": {"content": "x", "more": 1}}, False),
    ({"type": "agent_request", "payload": {"content": "x", "require_multi_agent": True}}, True),
    ({"type": "agent_request", "payload": {"content": "x", "require_multi_agent": "y"}}, False),
    ({"type": "start_agent", "payload": {"agent": "triage", "input": {"k": [1]}}}, True),
    ({"type": "start_agent", "payload": {"agent": "a" * 65}}, False),
    ({"type": "stop_agent", "payload": {"run_id": "r" * 128}}, True),
    ({"type": "stop_agent", "payload": {"run_id": "r" * 129}}, False),
    ({"type": "get_thread_history", "payload": {"thread_id": "t", "limit": 1000}}, True),
    ({"type": "get_thread_history", "payload": {"thread_id": "t", "limit": None}}, True),
    ({"type": "get_thread_history", "payload": {"thread_id": "t", "limit": 0}}, False),
    ({"type": "get_thread_history", "payload": {"thread_id": "t", "limit": 1001}}, False),
    ({"type": "list_threads"}, True),
    ({"type": "session_update", "payload": {"data": {"k": "v"}}}, True),
    ({"type": "session_update", "payload": {"data": []}}, False),
    ({"type": "session_get"}, True),
    ({"type": "resume", "payload": {"last_seq": 0}}, True),
    ({"type": "resume", "payload": {"last_seq": MAX_INTEGER}}, True),
    ({"type": "resume", "payload": {"last_seq": MAX_INTEGER + 1}}, False),
    ({"type": "resume", "payload": {"last_seq": -1}}, False),
    ({"type": "resume", "payload": {"last_seq": True}}, False),
    ({"type": "refresh", "payload": {"token": "a.b.c"}}, True),
    ({"type": "refresh", "payload": {"token": ""}}, False),
    ({"type": "batch", "payload": {"messages": [{"type": "ping"}] * MAX_BATCH_MESSAGES}}, True),
    ({"type": "batch", "payload": {"messages": [{"type": "ping"}] * 51}}, False),
    ({"type": "batch", "payload": {"messages": [1]}}, False),
]


@pytest.mark.parametrize(("frame", "accepted"), FRAMES, ids=lambda v: repr(v)[:60])
def test_the_schema_of_a_client_frame_agrees_with_the_codec(
    frame: dict[str, Any], accepted: bool
) -> None:
    try:
        decode_message(frame)
        decoded = True
    except ProtocolError:
        decoded = False
    assert decoded is accepted, frame
    errors = frame_errors(f"client.{frame['type']}", frame)
    assert (errors == []) is accepted, errors
