"""Server frames as the clients read them: every payload the server encodes
comes back as the same typed object; what a newer server may add is ignored;
what is not a protocol frame is refused."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from netra_trio.protocol import server_messages as sm
from netra_trio.protocol.client_codec import encode_client_message
from netra_trio.protocol.client_messages import (
    ClientMessage,
    ContentPayload,
    ListThreads,
    Ping,
    StopAgent,
    StopAgentPayload,
    UserMessage,
)
from netra_trio.protocol.codec import encode, encode_batch, encode_payload
from netra_trio.protocol.server_frames import (
    PAYLOAD_CLASSES,
    MalformedServerFrame,
    ServerFrame,
    read_server_frames,
)

EXAMPLES: list[Any] = [
    sm.ConnectionEstablished(
        connection_id="c-1",
        session_id="s-1",
        user_id="alice",
        resumed=False,
        server_time=1.5,
        heartbeat_interval_s=25.0,
        limits=sm.Limits(5, 65536, 1800.0),
    ),
    sm.ErrorPayload(code="AGENT_BUSY", message="busy", details={"retry_after_s": 1}),
    sm.ErrorPayload(code="NOT_FOUND", message="no such thread"),
    sm.HeartbeatAck(status="healthy"),
    sm.TypingAck(typing=True),
    sm.UserTyping(typing=False, connection_id="c-2"),
    sm.MessageAck(message_id="m-1", thread_id="t-1"),
    sm.AgentStarted(agent_name="supervisor", input_preview="hi"),
    sm.AgentThinking(agent_name="triage", thought="hmm", step=2),
    sm.AgentOutput(agent_name="supervisor", output_id="o-1", delta="Move to "),
    sm.ToolExecuting(agent_name="a", tool_name="price", tool_call_id="t-1", arguments={"m": 1}),
    sm.ToolCompleted(
        agent_name="a",
        tool_name="price",
        tool_call_id="t-1",
        status="success",
        result=[1, {"x": None}],
        duration_ms=3.5,
    ),
    sm.AgentCompleted(
        agent_name="supervisor",
        status="success",
        result={"summary": "ok"},
        agents_involved=["triage"],
        orchestration_time_s=0.25,
    ),
    sm.AgentCompleted(agent_name="a", status="cancelled", result=None),
    sm.AgentError(agent_name="a", code="INTERRUPTED", message="the server stopped"),
    sm.ThreadHistory(thread_id="t-1", messages=[sm.HistoryMessage("user", "hi", "m-1", 2.0)]),
    sm.Threads(threads=[sm.ThreadSummary("t-1", "title", 3.0)]),
    sm.SessionState(session_id="s-1", data={"k": [1]}),
    sm.ResumeComplete(replayed=3, gap=False),
    sm.TokenRefreshed(expires_at=1_800_000_000.0),
]


def test_the_examples_cover_every_server_payload() -> None:
    assert {type(p) for p in EXAMPLES} == set(sm.SERVER_TYPES)
    assert set(PAYLOAD_CLASSES.values()) == set(sm.SERVER_TYPES)


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: type(p).__name__)
def test_every_encoded_payload_reads_back_as_the_same_object(payload: Any) -> None:
    text, _ = encode_payload(payload, correlation_id="c-9", thread_id="t", run_id="r", seq=4)
    (frame,) = read_server_frames(text)
    assert frame.payload == payload
    assert frame.type == sm.SERVER_TYPES[type(payload)][0]
    assert (frame.correlation_id, frame.thread_id, frame.run_id, frame.seq) == ("c-9", "t", "r", 4)
    assert frame.message_id is not None and frame.message_id.startswith("s-")
    assert isinstance(frame.timestamp, float)


def test_a_batch_is_read_as_its_frames_in_order() -> None:
    parts = [encode_payload(p, seq=n)[0] for n, p in enumerate(EXAMPLES[7:10], start=1)]
    frames = read_server_frames(encode_batch(parts).encode())
    assert [f.seq for f in frames] == [1, 2, 3]
    assert [f.payload for f in frames] == EXAMPLES[7:10]


def test_terminal_events_are_the_two_run_endings() -> None:
    kinds = {sm.SERVER_TYPES[type(p)][0]: p for p in EXAMPLES}
    terminal = {
        kind
        for kind, payload in kinds.items()
        if ServerFrame(type=kind, payload=payload).is_terminal
    }
    assert terminal == {"agent_completed", "agent_error"}


def test_fields_a_newer_server_adds_are_ignored() -> None:
    text = encode(
        "agent_output",
        {"agent_name": "a", "output_id": "o", "delta": "x", "tokens": 2},
        seq=1,
    )
    frame = orjson.loads(text)
    frame["priority"] = "critical"  # a new envelope field
    (read,) = read_server_frames(orjson.dumps(frame))
    assert read.payload == sm.AgentOutput(agent_name="a", output_id="o", delta="x")
    established = {
        **_established(),
        "limits": {
            "max_connections_per_user": 5,
            "max_message_bytes": 10,
            "idle_timeout_s": 1,
            "max_runs_per_user": 3,
        },
    }
    (read,) = read_server_frames(encode("connection_established", established))
    assert isinstance(read.payload, sm.ConnectionEstablished)
    assert read.payload.limits == sm.Limits(5, 10, 1.0)


def _established() -> dict[str, Any]:
    return {
        "connection_id": "c",
        "session_id": "s",
        "user_id": "u",
        "resumed": True,
        "server_time": 1,
        "heartbeat_interval_s": 25,
    }


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("agent_handoff", {"from": "a", "to": "b"}),  # a type from a newer server
        ("pong", {"n": 1, "server_time": 2.0}),  # echoes any object
        ("agent_output", {"agent_name": "a"}),  # fields missing
        ("agent_thinking", {"agent_name": "a", "thought": "t", "step": "2"}),  # a wrong type
    ],
)
def test_a_payload_without_a_matching_class_is_kept_as_it_came(
    kind: str, payload: dict[str, Any]
) -> None:
    (frame,) = read_server_frames(encode(kind, payload, seq=9))
    assert (frame.type, frame.payload, frame.seq) == (kind, payload, 9)


def test_a_frame_without_payload_or_envelope_is_read() -> None:
    (frame,) = read_server_frames('{"type": "heartbeat_ack", "payload": {"status": "healthy"}}')
    assert frame == ServerFrame(type="heartbeat_ack", payload=sm.HeartbeatAck("healthy"))
    (frame,) = read_server_frames('{"type": "something_new", "timestamp": 5}')
    assert (frame.payload, frame.timestamp) == ({}, 5.0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not JSON"),
        ("[1]", "a frame must be a JSON object"),
        ('{"payload": {}}', "type: expected a string"),
        ('{"type": 3}', "type: expected a string"),
        ('{"type": "pong", "payload": []}', "pong: payload must be an object"),
        ('{"type": "pong", "message_id": 5}', "pong: message_id must be a string"),
        ('{"type": "pong", "correlation_id": ["c"]}', "pong: correlation_id must be a string"),
        ('{"type": "agent_started", "seq": "4"}', "agent_started: seq must be an integer"),
        ('{"type": "agent_started", "seq": 4.0}', "agent_started: seq must be an integer"),
        ('{"type": "agent_started", "seq": true}', "agent_started: seq must be an integer"),
        ('{"type": "pong", "timestamp": "now"}', "pong: timestamp must be a number"),
        ('{"type": "pong", "timestamp": false}', "pong: timestamp must be a number"),
        ('{"type": "batch", "payload": {"messages": {}}}', "batch: payload.messages"),
        ('{"type": "batch", "payload": []}', "batch: payload.messages"),
        ('{"type": "batch", "payload": {"messages": [1]}}', "a frame must be a JSON object"),
    ],
)
def test_what_is_not_a_protocol_frame_is_refused(text: str, reason: str) -> None:
    with pytest.raises(MalformedServerFrame, match=reason):
        read_server_frames(text)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            Ping(payload={"n": 1}, message_id="c-1"),
            {"type": "ping", "message_id": "c-1", "payload": {"n": 1}},
        ),
        (ListThreads(), {"type": "list_threads"}),
        (
            UserMessage(payload=ContentPayload(content="hi"), thread_id="t-1"),
            {"type": "user_message", "thread_id": "t-1", "payload": {"content": "hi"}},
        ),
        (
            StopAgent(payload=StopAgentPayload(run_id="r-1")),
            {"type": "stop_agent", "payload": {"run_id": "r-1"}},
        ),
    ],
)
def test_client_messages_encode_to_the_frames_the_server_reads(
    message: ClientMessage, expected: dict[str, Any]
) -> None:
    assert orjson.loads(encode_client_message(message)) == expected


def test_the_envelope_base_class_is_not_a_message() -> None:
    with pytest.raises(TypeError, match="ClientMessage is not a protocol message type"):
        encode_client_message(ClientMessage())
