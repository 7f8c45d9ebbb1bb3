"""Batches: in order as if sent alone, at most 50, never nested; server batches with ?batch=1."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.e2e.support import WAIT_S, Frame, assert_alive, connect, frames_before_probe, next_id

pytestmark = pytest.mark.e2e


def _pings(n: int, tag: str) -> list[dict[str, Any]]:
    return [
        {"type": "ping", "payload": {"marker": f"{tag}-{i}"}, "message_id": f"{tag}-m{i}"}
        for i in range(n)
    ]


async def _collect(client: NetraClient, count: int, kind: str | None = "pong") -> list[Frame]:
    """The next ``count`` frames of type ``kind`` (of any type when None)."""
    frames: list[Frame] = []
    with trio.fail_after(WAIT_S):
        while len(frames) < count:
            frame = await client.receive()
            if kind is None or frame["type"] == kind:
                frames.append(frame)
    return frames


@pytest.mark.parametrize("size", [1, 10, 50])
async def test_batch_of_pings_answers_each_in_order(server: Server, size: int) -> None:
    tag = next_id("b")
    async with connect(server, "alice") as client:
        await client.send("batch", {"messages": _pings(size, tag)}, message_id=f"{tag}-batch")
        pongs = await _collect(client, size)
        assert [p["payload"]["marker"] for p in pongs] == [f"{tag}-{i}" for i in range(size)]
        assert [p["correlation_id"] for p in pongs] == [f"{tag}-m{i}" for i in range(size)]
        await assert_alive(client)


async def test_batch_of_51_is_invalid_and_nothing_in_it_is_served(server: Server) -> None:
    tag = next_id("b51")
    async with connect(server, "alice") as client:
        await client.send("batch", {"messages": _pings(51, tag)}, message_id=f"{tag}-batch")
        error = await client.receive_type("error", timeout_s=WAIT_S)
        assert error["payload"]["code"] == "INVALID_MESSAGE"
        assert error["correlation_id"] == f"{tag}-batch"
        assert "messages" in error["payload"]["message"]
        assert await frames_before_probe(client) == []


async def test_nested_batch_is_invalid_but_its_siblings_are_served(server: Server) -> None:
    tag = next_id("nest")
    inner = {"type": "batch", "payload": {"messages": _pings(2, f"{tag}-inner")}}
    messages = [
        _pings(1, f"{tag}-before")[0],
        {**inner, "message_id": f"{tag}-nested"},
        _pings(1, f"{tag}-after")[0],
    ]
    async with connect(server, "alice") as client:
        await client.send("batch", {"messages": messages}, message_id=f"{tag}-outer")
        seen = await _collect(client, 3, kind=None)
        errors = [f for f in seen if f["type"] == "error"]
        pongs = [f for f in seen if f["type"] == "pong"]
        assert len(errors) == 1
        assert errors[0]["payload"]["code"] == "INVALID_MESSAGE"
        assert errors[0]["correlation_id"] == f"{tag}-nested"
        assert [p["payload"]["marker"] for p in pongs] == [f"{tag}-before-0", f"{tag}-after-0"]
        # the nested batch's pings were not served
        for frame in [*seen, *await frames_before_probe(client)]:
            assert "inner" not in str(frame.get("correlation_id")), frame


async def test_bad_frames_inside_a_batch_answer_alone(server: Server) -> None:
    tag = next_id("mix")
    messages: list[Any] = [
        _pings(1, f"{tag}-a")[0],
        {"type": "frobnicate", "message_id": f"{tag}-unknown"},
        {"type": "ping", "payload": "not an object", "message_id": f"{tag}-badpayload"},
        {"type": "ping", "user_id": "mallory", "message_id": f"{tag}-foreign"},
        _pings(1, f"{tag}-b")[0],
    ]
    async with connect(server, "alice") as client:
        await client.send("batch", {"messages": messages}, message_id=f"{tag}-outer")
        seen = await _collect(client, 5, kind=None)
        codes = {f["correlation_id"]: f["payload"]["code"] for f in seen if f["type"] == "error"}
        assert codes == {
            f"{tag}-unknown": "UNKNOWN_TYPE",
            f"{tag}-badpayload": "INVALID_MESSAGE",
            f"{tag}-foreign": "FORBIDDEN",
        }
        pongs = [f["payload"]["marker"] for f in seen if f["type"] == "pong"]
        assert pongs == [f"{tag}-a-0", f"{tag}-b-0"]
        assert server.hub.stats.security_violations == 1
        await assert_alive(client)


async def test_empty_batch_is_accepted(server: Server) -> None:
    async with connect(server, "alice") as client:
        await client.send("batch", {"messages": []}, message_id="empty")
        await assert_alive(client)


def _flatten(frames: list[Frame]) -> list[Frame]:
    """Check each raw frame is a valid batch frame or a single frame; return them in order."""
    flat: list[Frame] = []
    for frame in frames:
        if frame["type"] == "batch":
            assert set(frame) == {"type", "payload"}, frame
            messages = frame["payload"]["messages"]
            assert isinstance(messages, list) and messages
            for inner in messages:
                assert isinstance(inner, dict) and inner["type"] != "batch"
            flat.extend(messages)
        else:
            flat.append(frame)
    return flat


async def _raw_until(client: NetraClient, done: int) -> list[Frame]:
    """Raw frames (unbatch=False) until ``done`` pongs have arrived in total."""
    raw: list[Frame] = []
    with trio.fail_after(WAIT_S):
        while sum(f["type"] == "pong" for f in _flatten(raw)) < done:
            raw.append(await client.receive())
    return raw


@pytest.mark.parametrize("size", [5, 30])
async def test_batch_mode_frames_are_valid_and_in_order(server: Server, size: int) -> None:
    tag = next_id("bm")
    async with connect(server, "alice", query="batch=1", unbatch=False) as client:
        await client.send("batch", {"messages": _pings(size, tag)}, message_id=f"{tag}-batch")
        raw = await _raw_until(client, size)
        pongs = [f for f in _flatten(raw) if f["type"] == "pong"]
        assert [p["payload"]["marker"] for p in pongs] == [f"{tag}-{i}" for i in range(size)]


async def test_batch_mode_is_transparent_to_an_unbatching_client(server: Server) -> None:
    tag = next_id("bu")
    async with connect(server, "alice", query="batch=1") as client:
        await client.send("batch", {"messages": _pings(30, tag)}, message_id=f"{tag}-batch")
        for i in range(3):
            await client.send("ping", {"marker": f"{tag}-single-{i}"}, message_id=f"{tag}-s{i}")
        pongs = await _collect(client, 33)
        assert [p["payload"]["marker"] for p in pongs] == [
            *(f"{tag}-{i}" for i in range(30)),
            *(f"{tag}-single-{i}" for i in range(3)),
        ]


async def test_without_batch_mode_the_server_never_sends_batch_frames(server: Server) -> None:
    tag = next_id("nb")
    async with connect(server, "alice", unbatch=False) as client:
        await client.send("batch", {"messages": _pings(30, tag)}, message_id=f"{tag}-batch")
        raw = await _raw_until(client, 30)
        assert all(f["type"] != "batch" for f in raw)
        assert [f["payload"]["marker"] for f in raw if f["type"] == "pong"] == [
            f"{tag}-{i}" for i in range(30)
        ]
