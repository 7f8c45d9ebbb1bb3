"""max_message_bytes counts UTF-8 bytes: over it closes with 1009, at it is served."""

from __future__ import annotations

import pytest
import trio

from netra_trio.server.app import Server
from tests.e2e.support import (
    WAIT_S,
    assert_alive,
    close_code,
    connect,
    eventually,
    frames_until_closed,
    next_id,
    ping_frame_of_bytes,
)

pytestmark = pytest.mark.e2e

LIMIT = 1024


@pytest.mark.parametrize("fill", ["a", "é", "€", "😀"], ids=["ascii", "2-byte", "3-byte", "4-byte"])
@pytest.mark.netra_options(max_message_bytes=LIMIT)
async def test_frame_exactly_at_the_limit_is_served(server: Server, fill: str) -> None:
    message_id = next_id("at-limit")
    text = ping_frame_of_bytes(LIMIT, fill, message_id)
    async with connect(server, "alice") as client:
        await client.send_raw(text)
        with trio.fail_after(WAIT_S):
            reply = await client.receive()
        assert reply["type"] == "pong"
        assert reply["correlation_id"] == message_id
        assert reply["payload"]["pad"].endswith(fill * 10)
        await assert_alive(client)


@pytest.mark.parametrize(
    ("fill", "size"),
    [("a", LIMIT + 1), ("a", 4 * LIMIT), ("é", LIMIT + 2), ("€", LIMIT + 3), ("😀", LIMIT + 4)],
    ids=["ascii+1", "ascii-x4", "2-byte", "3-byte", "4-byte"],
)
@pytest.mark.netra_options(max_message_bytes=LIMIT)
async def test_frame_over_the_limit_closes_with_1009(server: Server, fill: str, size: int) -> None:
    text = ping_frame_of_bytes(size, fill, next_id("too-big"))
    if fill != "a":
        assert len(text) < LIMIT  # under the limit in characters, over it in bytes
    async with (
        connect(server, "alice") as offender,
        connect(server, "alice") as sibling,
        connect(server, "bob") as bystander,
    ):
        await offender.send_raw(text)
        assert await close_code(offender) == 1009
        await assert_alive(sibling)
        await assert_alive(bystander)
        # the limit still holds for the others and they can still send up to it
        await bystander.send_raw(ping_frame_of_bytes(LIMIT, fill, "b-at-limit"))
        reply = await bystander.receive_type("pong", timeout_s=WAIT_S)
        assert reply["correlation_id"] == "b-at-limit"
    await eventually(lambda: server.hub.stats.closes_by_code[1009] == 1, "one 1009 close counted")


@pytest.mark.netra_options(max_message_bytes=LIMIT)
async def test_oversized_frame_is_not_served_before_the_close(server: Server) -> None:
    async with connect(server, "alice") as client:
        await client.send_raw(ping_frame_of_bytes(LIMIT + 200, "é", "never-served"))
        code, frames = await frames_until_closed(client)
    assert code == 1009
    assert all(f.get("correlation_id") != "never-served" for f in frames)
