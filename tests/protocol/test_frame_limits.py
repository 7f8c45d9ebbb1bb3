"""The codec's bounds on what a frame may hold: nesting depth and the integer range."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from netra_trio.core.limits import MAX_FRAME_DEPTH, MAX_INTEGER
from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.protocol import client_messages as cm
from netra_trio.protocol.codec import decode_message, encode, parse_frame


def nested_text(depth: int, *, kind: str = "ping", opener: str = '{"a":', closer: str = "}") -> str:
    """A ``kind`` frame whose objects and arrays nest ``depth`` levels (the frame
    itself is the first), written out by hand: orjson cannot write most of them."""
    inner = depth - 2  # the frame, then the payload object, then ``inner`` more levels
    payload = "{" + '"x":' + opener * inner + "1" + closer * inner + "}"
    return f'{{"type":"{kind}","message_id":"deep","payload":{payload}}}'


def refusal(text: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decode_message(parse_frame(text))
    return info.value


@pytest.mark.parametrize("opener,closer", [('{"a":', "}"), ("[", "]")], ids=["objects", "arrays"])
def test_a_frame_at_the_depth_bound_decodes_and_can_be_written_back(
    opener: str, closer: str
) -> None:
    text = nested_text(MAX_FRAME_DEPTH, opener=opener, closer=closer)
    frame = parse_frame(text)
    message = decode_message(frame)
    assert isinstance(message, cm.Ping)
    assert orjson.loads(encode("pong", message.payload))["payload"] == frame["payload"]


@pytest.mark.parametrize("depth", [MAX_FRAME_DEPTH + 1, 253, 300, 1022, 1023, 1030, 5000])
@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "bytes"])
def test_a_frame_over_the_depth_bound_is_an_invalid_message_naming_the_bound(
    depth: int, as_bytes: bool
) -> None:
    text = nested_text(depth)
    error = refusal(text.encode() if as_bytes else text)
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert f"deeper than {MAX_FRAME_DEPTH} levels" in error.message
    assert error.details == {"max_depth": MAX_FRAME_DEPTH}
    if depth < 1024:  # parsed: the field and the frame's message_id are known
        assert error.message.startswith("payload:")
        assert error.correlation_id == "deep"


def test_depth_counts_arrays_and_objects_alike_in_any_field() -> None:
    half = MAX_FRAME_DEPTH // 2
    deep: Any = 1
    for i in range(MAX_FRAME_DEPTH):  # the frame plus these: one level too many
        deep = {"k": deep} if i < half else [deep]
    error = refusal(orjson.dumps({"type": "session_update", "payload": {"data": {}}, "x": deep}))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message.startswith("x:")


def test_brackets_inside_strings_do_not_make_a_frame_deep() -> None:
    frame = {"type": "ping", "payload": {"text": "{[" * 5000}}
    assert decode_message(parse_frame(orjson.dumps(frame))) == cm.Ping(payload=frame["payload"])


def test_a_wide_frame_is_not_a_deep_one() -> None:
    frame = {"type": "ping", "payload": {"items": [[{"a": [i]}] for i in range(5000)]}}
    assert isinstance(decode_message(parse_frame(orjson.dumps(frame))), cm.Ping)


@pytest.mark.parametrize(
    "value",
    [MAX_INTEGER + 1, 2**63, 2**64 - 1, 2**64, 10**30, -(MAX_INTEGER + 1), -(2**63) - 1],
)
def test_an_integer_field_out_of_the_protocol_range_is_an_invalid_message_naming_it(
    value: int,
) -> None:
    text = f'{{"type":"resume","message_id":"r","payload":{{"last_seq":{value}}}}}'
    error = refusal(text)
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message.startswith("payload.last_seq: out of the protocol's integer range")
    if -(2**63) <= value < 2**64:  # past 64 bits JSON readers give a float: a rounded value
        assert error.message.endswith(f"got {value}")
    assert error.correlation_id == "r"


def test_the_integer_range_holds_for_every_integer_field() -> None:
    text = f'{{"type":"get_thread_history","payload":{{"thread_id":"t","limit":{2**63}}}}}'
    error = refusal(text)
    assert error.message.startswith("payload.limit: out of the protocol's integer range")


@pytest.mark.parametrize("value", [0, 1, MAX_INTEGER])
def test_last_seq_within_the_range_is_accepted(value: int) -> None:
    frame = {"type": "resume", "payload": {"last_seq": value}}
    message = decode_message(parse_frame(orjson.dumps(frame)))
    assert isinstance(message, cm.Resume) and message.payload.last_seq == value
