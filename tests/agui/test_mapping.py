"""The AG-UI event mapping, synchronously: events in, actions out, no I/O.

Well-formed events are made with the official SDK and taken as they travel
(``EventEncoder``'s JSON); broken ones are written out, since the SDK will not
make them.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    ReasoningEndEvent,
    ReasoningMessageChunkEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    StateDeltaEvent,
    StateSnapshotEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageChunkEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallChunkEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder

from netra_trio.agents.base import AgentFailure
from netra_trio.agui.actions import (
    Action,
    Failed,
    Finished,
    Ignored,
    Output,
    Thinking,
    ToolFinished,
    ToolStarted,
)
from netra_trio.agui.mapping import MAX_TEXT_CHARS, THOUGHT_MAX_CHARS, EventMapper
from tests.agui.endpoint import (
    ThinkingEndEvent,
    ThinkingStartEvent,
    ThinkingTextMessageContentEvent,
    ThinkingTextMessageEndEvent,
    ThinkingTextMessageStartEvent,
)

ENCODER = EventEncoder()
STARTED = RunStartedEvent(thread_id="t-1", run_id="r-1")
FINISHED = RunFinishedEvent(thread_id="t-1", run_id="r-1")


def wire(event: BaseEvent) -> dict[str, Any]:
    """``event`` as it travels: the JSON of its server-sent event."""
    data = ENCODER.encode(event)
    assert data.startswith("data: ") and data.endswith("\n\n")
    decoded: dict[str, Any] = orjson.loads(data[6:])
    return decoded


def feed_all(
    events: list[BaseEvent | dict[str, Any]], *, max_args: int = 1024
) -> tuple[EventMapper, list[Action]]:
    mapper = EventMapper(max_args)
    actions: list[Action] = []
    for event in [STARTED, *events]:
        actions += mapper.feed(event if isinstance(event, dict) else wire(event))
    return mapper, actions


def protocol_error(events: list[BaseEvent | dict[str, Any]], *, max_args: int = 1024) -> str:
    with pytest.raises(AgentFailure) as failure:
        feed_all(events, max_args=max_args)
    assert failure.value.code == "AGENT_PROTOCOL_ERROR"
    return failure.value.message


def test_text_streams_as_output_and_the_assistant_text_is_the_result() -> None:
    mapper, actions = feed_all(
        [
            TextMessageStartEvent(message_id="m-1", role="assistant"),
            TextMessageContentEvent(message_id="m-1", delta="Hello"),
            TextMessageContentEvent(message_id="m-1", delta=""),
            TextMessageContentEvent(message_id="m-1", delta=", world"),
            TextMessageEndEvent(message_id="m-1"),
            TextMessageStartEvent(message_id="m-2", role="user"),
            TextMessageContentEvent(message_id="m-2", delta="(not the assistant)"),
            TextMessageEndEvent(message_id="m-2"),
            TextMessageChunkEvent(message_id="m-3", delta="More"),
            TextMessageChunkEvent(delta=" text"),
            TextMessageChunkEvent(message_id="m-3"),
            TextMessageStartEvent(message_id="m-4"),
            TextMessageEndEvent(message_id="m-4"),
            FINISHED,
        ]
    )
    assert actions == [
        Output("m-1", "Hello"),
        Output("m-1", ", world"),
        Output("m-2", "(not the assistant)"),
        Output("m-3", "More"),
        Output("m-3", " text"),
        Finished({"text": "Hello, world\n\nMore text"}, "Hello, world\n\nMore text"),
    ]
    assert mapper.done


def test_text_without_its_start_still_counts() -> None:
    _, actions = feed_all([TextMessageContentEvent(message_id="m-1", delta="hi"), FINISHED])
    assert actions == [Output("m-1", "hi"), Finished({"text": "hi"}, "hi")]


def test_a_chunk_with_a_role_other_than_the_assistant_streams_but_is_not_the_result() -> None:
    _, actions = feed_all(
        [
            TextMessageChunkEvent(message_id="m-1", role="developer", delta="note"),
            TextMessageChunkEvent(message_id="m-2", delta="answer"),
            FINISHED,
        ]
    )
    assert actions[-1] == Finished({"text": "answer"}, "answer")


def test_the_first_text_chunk_must_name_its_message() -> None:
    message = protocol_error([TextMessageChunkEvent(delta="orphan")])
    assert "TEXT_MESSAGE_CHUNK" in message and "messageId" in message
    # another event ends the chunked message: the next chunk must name one again
    assert "messageId" in protocol_error(
        [
            TextMessageChunkEvent(message_id="m-1", delta="a"),
            StepFinishedEvent(step_name="s"),
            TextMessageChunkEvent(delta="b"),
        ]
    )


def test_a_reasoning_message_is_one_thought_when_it_ends() -> None:
    _, actions = feed_all(
        [
            ReasoningStartEvent(message_id="r-1"),
            ReasoningMessageStartEvent(message_id="r-1"),
            ReasoningMessageContentEvent(message_id="r-1", delta="First, "),
            TextMessageContentEvent(message_id="m-1", delta="meanwhile"),
            ReasoningMessageContentEvent(message_id="r-1", delta="the price."),
            ReasoningMessageEndEvent(message_id="r-1"),
            ReasoningMessageContentEvent(message_id="r-2", delta="open at the end"),
            ReasoningMessageContentEvent(message_id="r-3", delta="  "),
            ReasoningEndEvent(message_id="r-1"),
            ReasoningMessageChunkEvent(message_id="r-4", delta="chunked "),
            ReasoningMessageChunkEvent(delta="thought"),
            ReasoningMessageChunkEvent(message_id="r-4", delta="."),
            ReasoningMessageChunkEvent(message_id="r-5", delta="next"),
            StepStartedEvent(step_name="plan"),
            StepFinishedEvent(step_name="plan"),
            ReasoningMessageChunkEvent(message_id="r-6", delta="left open"),
            FINISHED,
        ]
    )
    assert actions == [
        Output("m-1", "meanwhile"),
        Thinking("First, the price."),
        Thinking("open at the end"),  # REASONING_END ends every open message ("  " is no thought)
        Thinking("chunked thought."),  # a chunk of another message ends it
        Thinking("next"),  # any other event ends a chunked message
        Thinking("step: plan"),
        Ignored("STEP_FINISHED"),
        Thinking("left open"),  # the run's end ends the rest
        Finished({"text": "meanwhile"}, "meanwhile"),
    ]


def test_the_first_reasoning_chunk_must_name_its_message() -> None:
    assert "REASONING_MESSAGE_CHUNK" in protocol_error([ReasoningMessageChunkEvent(delta="x")])


def test_a_long_reasoning_message_is_sent_in_thoughts_of_bounded_size() -> None:
    piece = "x" * (THOUGHT_MAX_CHARS // 2)
    _, actions = feed_all(
        [ReasoningMessageContentEvent(message_id="r-1", delta=piece)] * 5
        + [ReasoningMessageEndEvent(message_id="r-1")]
    )
    assert actions == [Thinking(piece * 2), Thinking(piece * 2), Thinking(piece)]


def test_the_older_thinking_events_are_thoughts_too() -> None:
    _, actions = feed_all(
        [
            ThinkingStartEvent(title="Pondering"),
            ThinkingTextMessageStartEvent(),
            ThinkingTextMessageContentEvent(delta="Think "),
            ThinkingTextMessageContentEvent(delta="twice."),
            ThinkingTextMessageEndEvent(),
            # some producers send no inner message: THINKING_END ends the thought
            ThinkingTextMessageContentEvent(delta="Then act."),
            ThinkingEndEvent(),
            FINISHED,
        ]
    )
    assert actions == [
        Thinking("Think twice."),
        Thinking("Then act."),
        Finished({"text": ""}, ""),
    ]


def test_a_tool_call_is_started_with_its_joined_arguments_and_finished_by_its_result() -> None:
    _, actions = feed_all(
        [
            ToolCallStartEvent(tool_call_id="c-1", tool_call_name="lookup", parent_message_id="m"),
            ToolCallArgsEvent(tool_call_id="c-1", delta='{"city": '),
            ToolCallArgsEvent(tool_call_id="c-1", delta='"Zürich", '),
            ToolCallArgsEvent(tool_call_id="c-1", delta='"days": 3}'),
            ToolCallEndEvent(tool_call_id="c-1"),
            ToolCallResultEvent(message_id="m-2", tool_call_id="c-1", content="sunny"),
            ToolCallStartEvent(tool_call_id="c-2", tool_call_name="noop"),
            ToolCallEndEvent(tool_call_id="c-2"),
            FINISHED,
        ]
    )
    assert actions == [
        ToolStarted("c-1", "lookup", {"city": "Zürich", "days": 3}),
        ToolFinished("c-1", "sunny"),
        ToolStarted("c-2", "noop", {}),  # (its result never came: the runtime closes it)
        Finished({"text": ""}, ""),
    ]


@pytest.mark.parametrize(
    ("joined", "arguments"),
    [
        ("", {}),
        ("  ", {}),
        ("[1, 2]", {"value": [1, 2]}),
        ('"just text"', {"value": "just text"}),
        ("{not json", {"raw": "{not json"}),
    ],
)
def test_arguments_that_are_not_an_object_are_wrapped(
    joined: str, arguments: dict[str, Any]
) -> None:
    _, actions = feed_all(
        [
            ToolCallStartEvent(tool_call_id="c-1", tool_call_name="t"),
            ToolCallArgsEvent(tool_call_id="c-1", delta=joined),
            ToolCallEndEvent(tool_call_id="c-1"),
        ]
    )
    assert actions == [ToolStarted("c-1", "t", arguments)]


def test_tool_call_chunks_are_read_as_start_args_and_end() -> None:
    _, actions = feed_all(
        [
            ToolCallChunkEvent(tool_call_id="c-1", tool_call_name="a", delta='{"x"'),
            ToolCallChunkEvent(delta=": 1}"),
            ToolCallChunkEvent(tool_call_id="c-1"),
            ToolCallChunkEvent(tool_call_id="c-2", tool_call_name="b", delta="[true]"),
            ToolCallResultEvent(
                message_id="m", tool_call_id="c-1", content=[{"type": "text", "text": "4"}]
            ),
            ToolCallChunkEvent(tool_call_id="c-3", tool_call_name="c"),
            FINISHED,
        ]
    )
    assert actions == [
        ToolStarted("c-1", "a", {"x": 1}),  # a chunk of another call ends it
        ToolStarted("c-2", "b", {"value": [True]}),  # any other event ends it
        ToolFinished("c-1", [{"type": "text", "text": "4"}]),
        ToolStarted("c-3", "c", {}),  # RUN_FINISHED ends it too
        Finished({"text": ""}, ""),
    ]


def test_tool_call_chunks_must_name_their_call_and_its_tool() -> None:
    assert "toolCallId" in protocol_error([ToolCallChunkEvent(delta="{}")])
    assert "toolCallName" in protocol_error([ToolCallChunkEvent(tool_call_id="c-1")])


START = ToolCallStartEvent(tool_call_id="c-1", tool_call_name="t")
END = ToolCallEndEvent(tool_call_id="c-1")
RESULT = ToolCallResultEvent(message_id="m", tool_call_id="c-1", content="ok")


@pytest.mark.parametrize(
    ("events", "names"),
    [
        ([ToolCallArgsEvent(tool_call_id="c-9", delta="{}")], "arguments for tool call 'c-9'"),
        ([START, END, ToolCallArgsEvent(tool_call_id="c-1", delta="{}")], "not streaming"),
        ([ToolCallEndEvent(tool_call_id="c-9")], "ended tool call 'c-9'"),
        ([START, RESULT], "result of tool call 'c-1'"),
        ([RESULT], "result of tool call 'c-1'"),
        ([START, END, RESULT, RESULT], "result of tool call 'c-1'"),
        ([START, END, START], "started tool call 'c-1' twice"),
        ([START, FINISHED], "RUN_FINISHED while the arguments of tool call 'c-1'"),
        ([START, END, {"type": "TOOL_CALL_RESULT", "toolCallId": "c-1"}], "without content"),
        ([{"type": "TOOL_CALL_START", "toolCallId": "c-1"}], "without toolCallName"),
        ([{"type": "TOOL_CALL_END", "toolCallId": ""}], "empty toolCallId"),
    ],
)
def test_tool_calls_out_of_order_or_incomplete_are_protocol_errors(
    events: list[BaseEvent | dict[str, Any]], names: str
) -> None:
    assert names in protocol_error(events)


def test_the_joined_arguments_of_a_call_are_bounded() -> None:
    events: list[BaseEvent | dict[str, Any]] = [
        START,
        ToolCallArgsEvent(tool_call_id="c-1", delta="é" * 8),  # 16 bytes
        ToolCallArgsEvent(tool_call_id="c-1", delta="x"),
    ]
    assert "longer than 16 bytes" in protocol_error(events, max_args=16)
    _, actions = feed_all([*events[:2], END], max_args=16)
    assert actions == [ToolStarted("c-1", "t", {"raw": "é" * 8})]


def test_the_stream_must_begin_with_run_started_and_run_only_once() -> None:
    mapper = EventMapper(1024)
    with pytest.raises(AgentFailure, match="began with TEXT_MESSAGE_CONTENT, not RUN_STARTED"):
        mapper.feed(wire(TextMessageContentEvent(message_id="m", delta="x")))
    assert "RUN_STARTED twice" in protocol_error([STARTED])
    with pytest.raises(AgentFailure, match="RUN_STARTED without threadId"):
        EventMapper(1024).feed({"type": "RUN_STARTED", "runId": "r"})
    with pytest.raises(AgentFailure, match="without a type"):
        EventMapper(1024).feed({"threadId": "t"})


def test_run_error_fails_the_run_with_the_endpoints_message_after_its_thoughts() -> None:
    mapper, actions = feed_all(
        [
            ReasoningMessageContentEvent(message_id="r-1", delta="about to fail"),
            RunErrorEvent(message="quota exceeded", code="QUOTA"),
        ]
    )
    assert actions == [Thinking("about to fail"), Failed("AGENT_FAILED", "quota exceeded")]
    assert mapper.done
    _, actions = feed_all([RunErrorEvent(message="")])
    assert actions == [Failed("AGENT_FAILED", "the agent endpoint reported an error")]
    _, actions = feed_all([RunErrorEvent(message="x" * 5000)])
    assert actions == [Failed("AGENT_FAILED", "x" * 1000)]
    assert "RUN_ERROR without message" in protocol_error([{"type": "RUN_ERROR"}])


def test_the_last_state_snapshot_is_the_results_state_and_other_events_are_ignored() -> None:
    _, actions = feed_all(
        [
            StateSnapshotEvent(snapshot={"step": 1}),
            StateSnapshotEvent(snapshot={"step": 2}),
            StateDeltaEvent(delta=[{"op": "replace", "path": "/step", "value": 3}]),
            CustomEvent(name="x", value=1),
            {"type": "SOMETHING_NEW", "whatever": True},
            FINISHED,
        ]
    )
    assert actions == [
        Ignored("STATE_DELTA"),
        Ignored("CUSTOM"),
        Ignored("SOMETHING_NEW"),
        Finished({"text": "", "state": {"step": 2}}, ""),
    ]
    assert "STATE_SNAPSHOT without snapshot" in protocol_error([{"type": "STATE_SNAPSHOT"}])


def test_fields_of_the_wrong_type_are_protocol_errors() -> None:
    bad_role = {"type": "TEXT_MESSAGE_START", "messageId": "m", "role": 7}
    assert "role is not a string" in protocol_error([bad_role])
    bad_delta = {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": None}
    assert "TEXT_MESSAGE_CONTENT without delta" in protocol_error([bad_delta])


def test_the_runs_text_is_bounded() -> None:
    delta = "x" * (MAX_TEXT_CHARS // 2 + 1)
    events: list[BaseEvent | dict[str, Any]] = [
        TextMessageContentEvent(message_id="m-1", delta=delta),
        TextMessageContentEvent(message_id="m-1", delta=delta),
    ]
    assert f"longer than {MAX_TEXT_CHARS} characters" in protocol_error(events)
