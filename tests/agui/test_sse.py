"""The server-sent events decoder on its own: pieces as the network cuts them."""

from __future__ import annotations

import pytest

from netra_trio.agui.sse import EventTooLarge, SseDecoder


def decode_all(pieces: list[bytes], limit: int = 1 << 20) -> list[str]:
    decoder = SseDecoder(limit)
    found: list[str] = []
    for piece in pieces:
        found += decoder.feed(piece)
    return found + decoder.end()


def test_events_end_at_a_blank_line_with_any_line_ending() -> None:
    body = b'data: {"a":1}\n\ndata: {"b":2}\r\n\r\ndata: {"c":3}\r\r'
    assert decode_all([body]) == ['{"a":1}', '{"b":2}', '{"c":3}']


def test_lines_and_characters_cut_between_pieces_are_joined() -> None:
    body = 'data: {"t":"é…"}\r\n\r\ndata: x\n\n'.encode()
    expected = ['{"t":"é…"}', "x"]
    for cut in range(1, len(body)):  # every cut, inside a CRLF and inside a character
        assert decode_all([body[:cut], body[cut:]]) == expected
    assert decode_all([bytes([b]) for b in body]) == expected


def test_fields_comments_and_events_without_data() -> None:
    body = (
        b": keep-alive\n\n"
        b"event: ping\n\n"  # no data: nothing to give
        b"id: 7\nevent: x\ndata: first\ndata:second\nretry: 10\nunknown: y\n\n"
    )
    assert decode_all([body]) == ["first\nsecond"]


def test_an_invalid_byte_is_replaced_not_refused() -> None:
    assert decode_all([b"data: a\xffb\n\n"]) == ["a\ufffdb"]


def test_an_event_cut_off_by_the_end_is_dropped() -> None:
    assert decode_all([b"data: whole\n\ndata: cut"]) == ["whole"]
    assert decode_all([b"data: whole\n\ndata: cut\n"]) == ["whole"]
    assert decode_all([b"data: ended by a CR\n\r"]) == ["ended by a CR"]


def test_one_event_is_bounded_but_a_stream_of_events_is_not() -> None:
    decoder = SseDecoder(100)
    for _ in range(50):  # 50 x 60 bytes: each event under the bound
        assert decoder.feed(b"data: " + b"x" * 52 + b"\n\n") == ["x" * 52]
    assert decoder.feed(b": comments end no event\n\n" * 3) == []  # a blank line each
    assert decoder.feed(b"data: " + b"y" * 60) == []
    with pytest.raises(EventTooLarge):
        decoder.feed(b"y" * 60)  # 126 bytes since the last blank line
