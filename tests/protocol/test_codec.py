"""The frame codec: every bad client frame gets the right error code and names the field."""

from __future__ import annotations

from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netra_trio.core.priority import Priority
from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.protocol import client_messages as cm
from netra_trio.protocol import server_messages as sm
from netra_trio.protocol.codec import (
    correlation_of,
    decode_message,
    encode,
    encode_batch,
    encode_error,
    encode_payload,
    parse_frame,
)


def decode_text(text: str | bytes) -> cm.ClientMessage:
    return decode_message(parse_frame(text))


def error_of(frame: Any) -> ProtocolError:
    """The ProtocolError for ``frame`` (a dict, or raw text/bytes)."""
    text = frame if isinstance(frame, str | bytes) else orjson.dumps(frame)
    with pytest.raises(ProtocolError) as info:
        decode_text(text)
    return info.value


# --------------------------------------------------------------------------------------
# parse_frame
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "{", '{"type": "ping",}', "not json", "{'type': 'ping'}", b"\xff\xfe", "NaN"],
)
def test_invalid_json(text: str | bytes) -> None:
    error = error_of(text)
    assert error.code is ErrorCode.INVALID_JSON
    assert "JSON" in error.message
    assert error.correlation_id is None


@pytest.mark.parametrize("text", ["[]", '[{"type": "ping"}]', '"ping"', "1", "null", "true"])
def test_frame_that_is_not_an_object(text: str) -> None:
    error = error_of(text)
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert "object" in error.message
    assert error.correlation_id is None


def test_parse_frame_accepts_text_and_bytes() -> None:
    frame = {"type": "ping", "payload": {"n": "é😀"}}
    assert parse_frame(orjson.dumps(frame)) == frame
    assert parse_frame(orjson.dumps(frame).decode()) == frame


# --------------------------------------------------------------------------------------
# decode_message: the envelope
# --------------------------------------------------------------------------------------


def test_missing_type() -> None:
    error = error_of({"payload": {}, "message_id": "c-1"})
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message.startswith("type:")
    assert "missing" in error.message
    assert error.correlation_id == "c-1"


@pytest.mark.parametrize("kind", [5, 1.5, True, [], {}, ["ping"]])
def test_non_string_type(kind: Any) -> None:
    error = error_of({"type": kind, "message_id": "c-2"})
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message.startswith("type:")
    assert "string" in error.message
    assert error.correlation_id == "c-2"


def test_null_type_is_invalid_and_names_type() -> None:
    error = error_of({"type": None, "message_id": "c-3"})
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message.startswith("type:")


@pytest.mark.parametrize("kind", ["nope", "PING", "Ping", " ping", "", "connection_established"])
def test_unknown_type(kind: str) -> None:
    error = error_of({"type": kind, "message_id": "c-4"})
    assert error.code is ErrorCode.UNKNOWN_TYPE
    assert repr(kind) in error.message
    assert error.correlation_id == "c-4"


def test_unknown_type_message_is_bounded() -> None:
    error = error_of({"type": "x" * 5000})
    assert error.code is ErrorCode.UNKNOWN_TYPE
    assert len(error.message) < 200


@pytest.mark.parametrize("payload", [[], "x", 1, True, None, [{"content": "hi"}]])
def test_payload_not_an_object(payload: Any) -> None:
    error = error_of({"type": "user_message", "payload": payload, "message_id": "c-5"})
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message.startswith("payload:")
    assert "object" in error.message
    assert error.correlation_id == "c-5"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"extra": 1}, "'extra'"),
        ({"correlation_id": "x"}, "'correlation_id'"),
        ({"seq": 1}, "'seq'"),
    ],
)
def test_extra_top_level_key(extra: dict[str, Any], field: str) -> None:
    frame = {"type": "ping", "payload": {}, "message_id": "c-6", **extra}
    error = error_of(frame)
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert "unknown field" in error.message
    assert field in error.message
    assert error.correlation_id == "c-6"


@pytest.mark.parametrize("field", ["message_id", "thread_id", "user_id"])
@pytest.mark.parametrize("value", [5, True, [], {}])
def test_envelope_field_of_wrong_type(field: str, value: Any) -> None:
    error = error_of({"type": "ping", field: value})
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message.startswith(f"{field}:")
    assert "string" in error.message


# --------------------------------------------------------------------------------------
# decode_message: payload fields
# --------------------------------------------------------------------------------------

BAD_PAYLOADS: list[tuple[str, dict[str, Any], str, str]] = [
    # (type, payload, field path named, words in the reason)
    ("user_message", {}, "payload.content", "missing"),
    ("user_message", {"content": 5}, "payload.content", "expected a string, got a number"),
    ("user_message", {"content": 1.5}, "payload.content", "expected a string, got a number"),
    ("user_message", {"content": None}, "payload.content", "expected a string"),
    ("user_message", {"content": ["x"]}, "payload.content", "expected a string, got an array"),
    ("user_message", {"content": ""}, "payload.content", "got 0"),
    ("user_message", {"content": "x" * 10_001}, "payload.content", "got 10,001"),
    ("user_message", {"content": "hi", "extra": 1}, "payload.extra", "unknown field"),
    ("agent_request", {}, "payload.content", "missing"),
    ("agent_request", {"content": "x" * 10_001}, "payload.content", "10,000"),
    (
        "agent_request",
        {"content": "hi", "require_multi_agent": 1},
        "payload.require_multi_agent",
        "expected a boolean, got a number",
    ),
    (
        "agent_request",
        {"content": "hi", "require_multi_agent": "yes"},
        "payload.require_multi_agent",
        "expected a boolean, got a string",
    ),
    ("agent_request", {"content": "hi", "user_id": "bob"}, "payload.user_id", "unknown field"),
    ("start_agent", {}, "payload.agent", "missing"),
    ("start_agent", {"agent": 7}, "payload.agent", "expected a string, got a number"),
    ("start_agent", {"agent": ""}, "payload.agent", "got 0"),
    ("stop_agent", {}, "payload.run_id", "missing"),
    ("stop_agent", {"run_id": 42}, "payload.run_id", "expected a string, got a number"),
    ("get_thread_history", {}, "payload.thread_id", "missing"),
    ("get_thread_history", {"thread_id": 3}, "payload.thread_id", "expected a string"),
    (
        "get_thread_history",
        {"thread_id": "t", "limit": True},
        "payload.limit",
        "expected an integer, got a boolean",
    ),
    (
        "get_thread_history",
        {"thread_id": "t", "limit": 2.5},
        "payload.limit",
        "expected an integer, got a number",
    ),
    (
        "get_thread_history",
        {"thread_id": "t", "limit": "10"},
        "payload.limit",
        "expected an integer, got a string",
    ),
    ("get_thread_history", {"thread_id": "t", "limit": 0}, "payload.limit", "got 0"),
    ("session_update", {}, "payload.data", "missing"),
    ("session_update", {"data": []}, "payload.data", "expected an object, got an array"),
    ("session_update", {"data": "x"}, "payload.data", "expected an object, got a string"),
    ("resume", {}, "payload.last_seq", "missing"),
    ("resume", {"last_seq": -1}, "payload.last_seq", "at least 0, got -1"),
    ("resume", {"last_seq": True}, "payload.last_seq", "expected an integer, got a boolean"),
    ("resume", {"last_seq": "5"}, "payload.last_seq", "expected an integer, got a string"),
    ("resume", {"last_seq": 1.0}, "payload.last_seq", "expected an integer, got a number"),
    ("batch", {}, "payload.messages", "missing"),
    ("batch", {"messages": {}}, "payload.messages", "expected an array"),
    ("batch", {"messages": [1]}, "payload.messages", "array of objects"),
    ("batch", {"messages": [{"type": "ping"}] * 51}, "payload.messages", "at most 50"),
]


@pytest.mark.parametrize(
    ("kind", "payload", "field", "reason"),
    BAD_PAYLOADS,
    ids=[f"{k}-{f}-{i}" for i, (k, _, f, _) in enumerate(BAD_PAYLOADS)],
)
def test_bad_payload_names_the_field(
    kind: str, payload: dict[str, Any], field: str, reason: str
) -> None:
    error = error_of({"type": kind, "payload": payload, "message_id": "c-9"})
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert field in error.message
    assert reason in error.message
    assert error.correlation_id == "c-9"
    assert error.details is not None
    fields = error.details["fields"]
    assert isinstance(fields, list) and any(field in line for line in fields)


def test_payload_defaults_to_empty_object_so_required_fields_are_reported() -> None:
    error = error_of({"type": "user_message"})
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert "payload.content" in error.message


def test_every_bad_field_is_named() -> None:
    error = error_of(
        {"type": "get_thread_history", "payload": {"thread_id": 5, "limit": "x", "zz": 1}}
    )
    assert error.code is ErrorCode.INVALID_MESSAGE
    for field in ("payload.thread_id", "payload.limit", "payload.zz"):
        assert field in error.message


@pytest.mark.parametrize("count", [1, 9_999, 10_000])
def test_content_length_within_bounds(count: int) -> None:
    message = decode_text(
        orjson.dumps({"type": "user_message", "payload": {"content": "a" * count}})
    )
    assert isinstance(message, cm.UserMessage)
    assert len(message.payload.content) == count


@pytest.mark.parametrize("char", ["é", "€", "😀"])
def test_content_length_counts_characters_not_bytes(char: str) -> None:
    ok = decode_text(orjson.dumps({"type": "user_message", "payload": {"content": char * 10_000}}))
    assert isinstance(ok, cm.UserMessage)
    error = error_of({"type": "user_message", "payload": {"content": char * 10_001}})
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert "payload.content" in error.message


def test_batch_of_exactly_fifty_is_accepted() -> None:
    message = decode_text(
        orjson.dumps({"type": "batch", "payload": {"messages": [{"type": "ping"}] * 50}})
    )
    assert isinstance(message, cm.Batch)
    assert len(message.payload.messages) == 50


def test_resume_from_zero_is_accepted() -> None:
    message = decode_text(orjson.dumps({"type": "resume", "payload": {"last_seq": 0}}))
    assert isinstance(message, cm.Resume)
    assert message.payload.last_seq == 0


# --------------------------------------------------------------------------------------
# correlation_id
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"message_id": "c-17"}, "c-17"),
        ({"message_id": ""}, ""),
        ({}, None),
        ({"message_id": 17}, None),
        ({"message_id": None}, None),
        ({"message_id": ["c-17"]}, None),
    ],
)
def test_correlation_of(frame: dict[str, Any], expected: str | None) -> None:
    assert correlation_of(frame) == expected


@pytest.mark.parametrize(
    "frame",
    [
        {"message_id": "m-1"},
        {"type": 3, "message_id": "m-1"},
        {"type": "nope", "message_id": "m-1"},
        {"type": "ping", "payload": [], "message_id": "m-1"},
        {"type": "resume", "payload": {"last_seq": -1}, "message_id": "m-1"},
        {"type": "ping", "bogus": 1, "message_id": "m-1"},
    ],
)
def test_errors_after_parsing_carry_the_message_id(frame: dict[str, Any]) -> None:
    assert error_of(frame).correlation_id == "m-1"


def test_errors_without_a_string_message_id_have_no_correlation() -> None:
    assert error_of({"type": "nope"}).correlation_id is None
    assert error_of({"type": "nope", "message_id": 5}).correlation_id is None


# --------------------------------------------------------------------------------------
# Every client type decodes from a valid example
# --------------------------------------------------------------------------------------

VALID_EXAMPLES: dict[str, tuple[dict[str, Any], Any]] = {
    "ping": ({"n": 1, "nested": {"a": [1, 2]}}, {"n": 1, "nested": {"a": [1, 2]}}),
    "heartbeat": ({}, {}),
    "typing_started": ({}, {}),
    "typing_stopped": ({}, {}),
    "user_message": ({"content": "hello"}, cm.ContentPayload(content="hello")),
    "agent_request": (
        {"content": "optimise", "require_multi_agent": True},
        cm.AgentRequestPayload(content="optimise", require_multi_agent=True),
    ),
    "start_agent": (
        {"agent": "triage", "input": {"q": "x"}},
        cm.StartAgentPayload(agent="triage", input={"q": "x"}),
    ),
    "stop_agent": ({"run_id": "r-5"}, cm.StopAgentPayload(run_id="r-5")),
    "get_thread_history": (
        {"thread_id": "t-3", "limit": 20},
        cm.ThreadHistoryPayload(thread_id="t-3", limit=20),
    ),
    "list_threads": ({}, {}),
    "session_update": (
        {"data": {"theme": "dark"}},
        cm.SessionUpdatePayload(data={"theme": "dark"}),
    ),
    "session_get": ({}, {}),
    "resume": ({"last_seq": 41}, cm.ResumePayload(last_seq=41)),
    "refresh": ({"token": "a.b.c"}, cm.RefreshPayload(token="a.b.c")),
    "batch": (
        {"messages": [{"type": "ping"}, {"type": "heartbeat"}]},
        cm.BatchPayload(messages=[{"type": "ping"}, {"type": "heartbeat"}]),
    ),
}


def test_examples_cover_every_client_type() -> None:
    assert set(VALID_EXAMPLES) == set(cm.CLIENT_TYPES)


@pytest.mark.parametrize("kind", sorted(cm.CLIENT_TYPES))
def test_every_client_type_decodes(kind: str) -> None:
    payload, expected = VALID_EXAMPLES[kind]
    frame = {
        "type": kind,
        "payload": payload,
        "message_id": "c-17",
        "thread_id": "t-3",
        "user_id": "alice",
    }
    message = decode_text(orjson.dumps(frame))
    assert type(message) is cm.CLIENT_TYPES[kind]
    assert kind == message.TYPE
    assert (message.message_id, message.thread_id, message.user_id) == ("c-17", "t-3", "alice")
    assert message.payload == expected  # type: ignore[attr-defined]


def test_optional_fields_default() -> None:
    message = decode_text('{"type": "agent_request", "payload": {"content": "x"}}')
    assert isinstance(message, cm.AgentRequest)
    assert message.payload.require_multi_agent is False
    assert (message.message_id, message.thread_id, message.user_id) == (None, None, None)
    history = decode_text('{"type": "get_thread_history", "payload": {"thread_id": "t"}}')
    assert isinstance(history, cm.GetThreadHistory)
    assert history.payload.limit is None
    ping = decode_text('{"type": "ping"}')
    assert isinstance(ping, cm.Ping)
    assert ping.payload == {}


def test_decode_does_not_mutate_the_frame() -> None:
    frame: dict[str, Any] = {"type": "ping"}
    decode_message(frame)
    assert frame == {"type": "ping"}


# --------------------------------------------------------------------------------------
# Encoding server frames
# --------------------------------------------------------------------------------------

SERVER_EXAMPLES: dict[type[Any], tuple[Any, dict[str, Any]]] = {
    sm.ConnectionEstablished: (
        sm.ConnectionEstablished(
            connection_id="k1",
            session_id="s1",
            user_id="alice",
            resumed=False,
            server_time=1.5,
            heartbeat_interval_s=25.0,
            limits=sm.Limits(
                max_connections_per_user=5, max_message_bytes=65536, idle_timeout_s=1800.0
            ),
        ),
        {
            "connection_id": "k1",
            "session_id": "s1",
            "user_id": "alice",
            "resumed": False,
            "server_time": 1.5,
            "heartbeat_interval_s": 25.0,
            "limits": {
                "max_connections_per_user": 5,
                "max_message_bytes": 65536,
                "idle_timeout_s": 1800.0,
            },
        },
    ),
    sm.ErrorPayload: (
        sm.ErrorPayload(code="NOT_FOUND", message="no such thread"),
        {"code": "NOT_FOUND", "message": "no such thread"},
    ),
    sm.HeartbeatAck: (sm.HeartbeatAck(status="healthy"), {"status": "healthy"}),
    sm.TypingAck: (sm.TypingAck(typing=True), {"typing": True}),
    sm.UserTyping: (
        sm.UserTyping(typing=False, connection_id="k2"),
        {"typing": False, "connection_id": "k2"},
    ),
    sm.MessageAck: (
        sm.MessageAck(message_id="c-1", thread_id="t-1"),
        {"message_id": "c-1", "thread_id": "t-1"},
    ),
    sm.AgentStarted: (
        sm.AgentStarted(agent_name="supervisor", input_preview="hi"),
        {"agent_name": "supervisor", "input_preview": "hi"},
    ),
    sm.AgentThinking: (
        sm.AgentThinking(agent_name="triage", thought="hmm", step=2),
        {"agent_name": "triage", "thought": "hmm", "step": 2},
    ),
    sm.AgentOutput: (
        sm.AgentOutput(agent_name="helper", output_id="out-1", delta="Hel"),
        {"agent_name": "helper", "output_id": "out-1", "delta": "Hel"},
    ),
    sm.ToolExecuting: (
        sm.ToolExecuting(
            agent_name="opt", tool_name="calc", tool_call_id="tc-1", arguments={"x": 1}
        ),
        {"agent_name": "opt", "tool_name": "calc", "tool_call_id": "tc-1", "arguments": {"x": 1}},
    ),
    sm.ToolCompleted: (
        sm.ToolCompleted(
            agent_name="opt",
            tool_name="calc",
            tool_call_id="tc-1",
            status="success",
            result=[1, "two"],
            duration_ms=3.5,
        ),
        {
            "agent_name": "opt",
            "tool_name": "calc",
            "tool_call_id": "tc-1",
            "status": "success",
            "result": [1, "two"],
            "duration_ms": 3.5,
        },
    ),
    sm.AgentCompleted: (
        sm.AgentCompleted(agent_name="supervisor", status="success", result=None),
        {"agent_name": "supervisor", "status": "success", "result": None},
    ),
    sm.AgentError: (
        sm.AgentError(agent_name="triage", code="INTERNAL", message="boom"),
        {"agent_name": "triage", "code": "INTERNAL", "message": "boom"},
    ),
    sm.ThreadHistory: (
        sm.ThreadHistory(
            thread_id="t-1",
            messages=[
                sm.HistoryMessage(role="user", content="hi", message_id="c-1", timestamp=1.0)
            ],
        ),
        {
            "thread_id": "t-1",
            "messages": [{"role": "user", "content": "hi", "message_id": "c-1", "timestamp": 1.0}],
        },
    ),
    sm.Threads: (
        sm.Threads(threads=[sm.ThreadSummary(thread_id="t-1", title="Hello", updated_at=2.0)]),
        {"threads": [{"thread_id": "t-1", "title": "Hello", "updated_at": 2.0}]},
    ),
    sm.SessionState: (
        sm.SessionState(session_id="s1", data={"k": [1]}),
        {"session_id": "s1", "data": {"k": [1]}},
    ),
    sm.ResumeComplete: (
        sm.ResumeComplete(replayed=3, gap=True),
        {"replayed": 3, "gap": True},
    ),
    sm.TokenRefreshed: (sm.TokenRefreshed(expires_at=1764003600.0), {"expires_at": 1764003600.0}),
}

EXPECTED_TYPES: dict[type[Any], tuple[str, Priority]] = {
    sm.ConnectionEstablished: ("connection_established", Priority.CRITICAL),
    sm.ErrorPayload: ("error", Priority.CRITICAL),
    sm.HeartbeatAck: ("heartbeat_ack", Priority.HIGH),
    sm.TypingAck: ("typing_ack", Priority.HIGH),
    sm.UserTyping: ("user_typing", Priority.LOW),
    sm.MessageAck: ("message_ack", Priority.HIGH),
    sm.AgentStarted: ("agent_started", Priority.CRITICAL),
    sm.AgentThinking: ("agent_thinking", Priority.CRITICAL),
    sm.AgentOutput: ("agent_output", Priority.CRITICAL),
    sm.ToolExecuting: ("tool_executing", Priority.CRITICAL),
    sm.ToolCompleted: ("tool_completed", Priority.CRITICAL),
    sm.AgentCompleted: ("agent_completed", Priority.CRITICAL),
    sm.AgentError: ("agent_error", Priority.CRITICAL),
    sm.ThreadHistory: ("thread_history", Priority.HIGH),
    sm.Threads: ("threads", Priority.HIGH),
    sm.SessionState: ("session_state", Priority.HIGH),
    sm.ResumeComplete: ("resume_complete", Priority.HIGH),
    sm.TokenRefreshed: ("token_refreshed", Priority.HIGH),
}


def test_examples_cover_every_server_type() -> None:
    assert set(SERVER_EXAMPLES) == set(sm.SERVER_TYPES) == set(EXPECTED_TYPES)


def test_pong_is_high_priority() -> None:
    assert sm.PONG == ("pong", Priority.HIGH)


@pytest.mark.parametrize("cls", list(SERVER_EXAMPLES), ids=lambda c: c.__name__)
def test_encode_payload_names_type_and_priority(cls: type[Any]) -> None:
    payload, body = SERVER_EXAMPLES[cls]
    text, priority = encode_payload(payload)
    kind, expected_priority = EXPECTED_TYPES[cls]
    assert priority is expected_priority
    frame = orjson.loads(text)
    assert frame["type"] == kind
    assert frame["payload"] == body
    assert set(frame) == {"type", "payload", "message_id", "timestamp"}
    assert isinstance(frame["message_id"], str) and frame["message_id"].startswith("s-")
    assert isinstance(frame["timestamp"], float)


def test_encode_payload_envelope_fields() -> None:
    payload = sm.AgentThinking(agent_name="a", thought="t", step=1)
    text, _ = encode_payload(payload, correlation_id="c-17", thread_id="t-3", run_id="r-5", seq=42)
    frame = orjson.loads(text)
    assert frame["correlation_id"] == "c-17"
    assert frame["thread_id"] == "t-3"
    assert frame["run_id"] == "r-5"
    assert frame["seq"] == 42


def test_encode_payload_seq_zero_is_kept() -> None:
    text, _ = encode_payload(sm.ResumeComplete(replayed=0, gap=False), seq=0)
    frame = orjson.loads(text)
    assert frame["seq"] == 0
    assert frame["payload"] == {"replayed": 0, "gap": False}


def test_encode_payload_omits_none_optional_fields() -> None:
    text, _ = encode_payload(sm.AgentCompleted(agent_name="s", status="cancelled", result=None))
    payload = orjson.loads(text)["payload"]
    assert "agents_involved" not in payload
    assert "orchestration_time_s" not in payload
    assert payload["result"] is None  # required, so kept even when null
    full = sm.AgentCompleted(
        agent_name="s",
        status="success",
        result="ok",
        agents_involved=["supervisor", "triage"],
        orchestration_time_s=0.25,
    )
    payload = orjson.loads(encode_payload(full)[0])["payload"]
    assert payload["agents_involved"] == ["supervisor", "triage"]
    assert payload["orchestration_time_s"] == 0.25
    text, _ = encode_payload(sm.ErrorPayload(code="X", message="m", details={"f": 1}))
    assert orjson.loads(text)["payload"]["details"] == {"f": 1}


def test_server_message_ids_are_unique() -> None:
    ids = {orjson.loads(encode("pong", {}))["message_id"] for _ in range(50)}
    assert len(ids) == 50


def test_encode_error_carries_code_message_and_correlation() -> None:
    error = ProtocolError(
        ErrorCode.INVALID_MESSAGE, "payload.content: missing", correlation_id="c-1"
    )
    text, priority = encode_error(error)
    assert priority is Priority.CRITICAL
    frame = orjson.loads(text)
    assert frame["type"] == "error"
    assert frame["correlation_id"] == "c-1"
    assert frame["payload"] == {"code": "INVALID_MESSAGE", "message": "payload.content: missing"}


def test_encode_error_round_trip_from_decoding() -> None:
    error = error_of({"type": "resume", "payload": {"last_seq": -1}, "message_id": "c-8"})
    frame = orjson.loads(encode_error(error)[0])
    assert frame["correlation_id"] == "c-8"
    assert frame["payload"]["code"] == "INVALID_MESSAGE"
    assert "payload.last_seq" in frame["payload"]["message"]
    assert frame["payload"]["details"] == {
        "fields": ["payload.last_seq: must be at least 0, got -1"]
    }


def test_encode_without_optional_envelope_fields() -> None:
    frame = orjson.loads(encode("pong", {"a": 1, "server_time": 2.0}))
    assert frame["type"] == "pong"
    assert frame["payload"] == {"a": 1, "server_time": 2.0}
    assert not {"correlation_id", "thread_id", "run_id", "seq"} & set(frame)


# --------------------------------------------------------------------------------------
# encode_batch
# --------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=5), inner, max_size=4)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(
    st.text(st.characters(codec="utf-8"), max_size=8), json_values, max_size=5
)


@settings(max_examples=100, deadline=None)
@given(messages=st.lists(json_objects, max_size=8))
def test_encode_batch_wraps_frames_in_order(messages: list[dict[str, Any]]) -> None:
    frames = [orjson.dumps(m).decode() for m in messages]
    batch = orjson.loads(encode_batch(frames))
    assert batch == {"type": "batch", "payload": {"messages": messages}}


def test_encode_batch_of_server_frames() -> None:
    first, _ = encode_payload(sm.HeartbeatAck(status="healthy"), correlation_id="c-1")
    second, _ = encode_payload(sm.TypingAck(typing=False))
    batch = orjson.loads(encode_batch([first, second]))
    assert batch["type"] == "batch"
    assert batch["payload"]["messages"] == [orjson.loads(first), orjson.loads(second)]


def test_decoded_messages_are_frozen() -> None:
    message = decode_text('{"type": "user_message", "payload": {"content": "x"}}')
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.message_id = "other"  # type: ignore[misc]
