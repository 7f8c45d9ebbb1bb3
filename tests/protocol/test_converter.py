"""The project's cattrs converter: strict JSON types, tagged union, readable error paths."""

from __future__ import annotations

from typing import Any

import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netra_trio.protocol import client_messages as cm
from netra_trio.protocol import server_messages as sm
from netra_trio.protocol.converter import (
    CONVERTER,
    ClientUnion,
    describe_error,
    make_converter,
    structure_client,
)


def problems(value: Any, cls: Any) -> list[str]:
    with pytest.raises(cattrs.BaseValidationError) as info:
        CONVERTER.structure(value, cls)
    return describe_error(info.value)


def test_make_converter_builds_a_fresh_converter() -> None:
    a, b = make_converter(), make_converter()
    assert a is not b
    assert a is not cattrs.global_converter
    assert a.structure({"type": "heartbeat"}, ClientUnion) == cm.Heartbeat()


def test_global_cattrs_converter_is_left_alone() -> None:
    # Our strict hooks live on our converter only; the global one stays lenient.
    assert cattrs.structure(1, str) == "1"
    with pytest.raises(TypeError, match="expected a string, got a number"):
        CONVERTER.structure(1, str)


@pytest.mark.parametrize(
    ("value", "cls", "reason"),
    [
        (1, str, "expected a string, got a number"),
        (1.5, str, "expected a string, got a number"),
        (True, str, "expected a string, got a boolean"),
        (None, str, "expected a string, got null"),
        ("1", int, "expected an integer, got a string"),
        (True, int, "expected an integer, got a boolean"),
        (False, int, "expected an integer, got a boolean"),
        (1.0, int, "expected an integer, got a number"),
        (True, float, "expected a number, got a boolean"),
        ("1.5", float, "expected a number, got a string"),
        (1, bool, "expected a boolean, got a number"),
        ("true", bool, "expected a boolean, got a string"),
        ([], dict[str, Any], "expected an object, got an array"),
        ({}, list[dict[str, Any]], "expected an array, got an object"),
        ([{}, 3], list[dict[str, Any]], "expected an array of objects, got a number"),
    ],
)
def test_strict_json_types(value: Any, cls: Any, reason: str) -> None:
    with pytest.raises(TypeError, match=reason):
        CONVERTER.structure(value, cls)


@pytest.mark.parametrize(
    ("value", "cls", "expected"),
    [
        ("x", str, "x"),
        (3, int, 3),
        (3, float, 3.0),
        (2.5, float, 2.5),
        (False, bool, False),
        ({"a": [1]}, dict[str, Any], {"a": [1]}),
        ([{"a": 1}], list[dict[str, Any]], [{"a": 1}]),
    ],
)
def test_accepted_json_types(value: Any, cls: Any, expected: Any) -> None:
    result = CONVERTER.structure(value, cls)
    assert result == expected
    assert type(result) is type(expected)


def test_tagged_union_picks_the_class_by_type() -> None:
    for kind, cls in cm.CLIENT_TYPES.items():
        assert kind == cls.TYPE
    message = structure_client({"type": "stop_agent", "payload": {"run_id": "r-1"}})
    assert message == cm.StopAgent(payload=cm.StopAgentPayload(run_id="r-1"))


def test_client_messages_round_trip_through_the_union() -> None:
    message = cm.UserMessage(
        message_id="c-1", thread_id="t-1", payload=cm.ContentPayload(content="hi")
    )
    raw = CONVERTER.unstructure(message, ClientUnion)
    assert raw == {
        "type": "user_message",
        "message_id": "c-1",
        "thread_id": "t-1",
        "payload": {"content": "hi"},
    }
    assert structure_client(raw) == message


def test_describe_error_names_nested_fields() -> None:
    lines = problems({"type": "user_message", "payload": {"content": 5}}, ClientUnion)
    assert lines == ["payload.content: expected a string, got a number"]


def test_describe_error_names_list_items_by_index() -> None:
    raw = {
        "thread_id": "t",
        "messages": [
            {"role": "user", "content": "c", "message_id": "m", "timestamp": 1.0},
            {"role": 5, "content": "c", "message_id": "m", "timestamp": "later"},
        ],
    }
    lines = problems(raw, sm.ThreadHistory)
    assert sorted(lines) == [
        "messages[1].role: expected a string, got a number",
        "messages[1].timestamp: expected a number, got a string",
    ]


def test_describe_error_for_missing_and_extra_fields() -> None:
    lines = problems({"type": "resume", "payload": {"seq": 1}}, ClientUnion)
    assert "payload.last_seq: required field missing" in lines
    assert "unknown field 'payload.seq'" in lines


def test_describe_error_for_a_field_validator() -> None:
    lines = problems({"type": "resume", "payload": {"last_seq": -3}}, ClientUnion)
    assert lines == ["payload.last_seq: must be at least 0, got -3"]


def test_describe_error_for_an_unexpected_exception() -> None:
    assert describe_error(RuntimeError("boom")) == ["frame: invalid value"]
    assert describe_error(RuntimeError("boom"), "payload.x") == ["payload.x: invalid value"]


def test_unstructure_omits_none_defaults_only() -> None:
    assert CONVERTER.unstructure(sm.ErrorPayload(code="X", message="m")) == {
        "code": "X",
        "message": "m",
    }
    assert CONVERTER.unstructure(sm.AgentCompleted(agent_name="a", status="s", result=None)) == {
        "agent_name": "a",
        "status": "s",
        "result": None,
    }


@pytest.mark.parametrize(
    "payload",
    [
        sm.ConnectionEstablished(
            connection_id="k",
            session_id="s",
            user_id="u",
            resumed=True,
            server_time=1.0,
            heartbeat_interval_s=25.0,
            limits=sm.Limits(max_connections_per_user=5, max_message_bytes=256, idle_timeout_s=1.5),
        ),
        sm.ErrorPayload(code="X", message="m", details={"fields": ["a"]}),
        sm.ToolCompleted(
            agent_name="a",
            tool_name="t",
            tool_call_id="c",
            status="error",
            result={"e": 1},
            duration_ms=1.0,
        ),
        sm.ThreadHistory(
            thread_id="t",
            messages=[
                sm.HistoryMessage(role="assistant", content="c", message_id="m", timestamp=2.0)
            ],
        ),
        sm.Threads(threads=[]),
        sm.ResumeComplete(replayed=0, gap=False),
    ],
    ids=lambda p: type(p).__name__,
)
def test_server_payloads_round_trip(payload: Any) -> None:
    assert CONVERTER.structure(CONVERTER.unstructure(payload), type(payload)) == payload


@settings(max_examples=100, deadline=None)
@given(
    content=st.text(st.characters(codec="utf-8"), min_size=1, max_size=50),
    message_id=st.none() | st.text(max_size=10),
    multi=st.booleans(),
)
def test_agent_request_structures_from_any_valid_input(
    content: str, message_id: str | None, multi: bool
) -> None:
    raw: dict[str, Any] = {
        "type": "agent_request",
        "payload": {"content": content, "require_multi_agent": multi},
    }
    if message_id is not None:
        raw["message_id"] = message_id
    message = structure_client(raw)
    assert isinstance(message, cm.AgentRequest)
    assert message.payload == cm.AgentRequestPayload(content=content, require_multi_agent=multi)
    assert message.message_id == message_id
