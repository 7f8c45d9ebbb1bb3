"""Notices as they travel between processes: each kind comes back as it went,
and anything else is refused with ValueError."""

from __future__ import annotations

import pytest

from netra_trio.backplane.notices import FanOut, StopRun, decode_notice, encode_notice
from netra_trio.core.priority import Priority


@pytest.mark.parametrize(
    "notice",
    [
        FanOut(
            "alice", '{"type":"user_typing","payload":{"typing":true}}', Priority.LOW, ("k", "c-1")
        ),
        FanOut("alice", "{}", Priority.HIGH),
        StopRun("alice", "r-1"),
    ],
)
def test_a_notice_comes_back_as_it_went_with_its_origin(notice: FanOut | StopRun) -> None:
    assert decode_notice("alice", encode_notice("node-1", notice)) == ("node-1", notice)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"o":"n"}',
        b'{"o":"n","k":"launch"}',
        b'{"o":"n","k":"fan_out","t":"x","p":9,"c":null}',
    ],
)
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a notice"):
        decode_notice("alice", data)
