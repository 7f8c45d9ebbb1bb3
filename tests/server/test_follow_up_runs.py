"""A thread is free for the next run the moment its last run's terminal event
goes out: a client that asks again as soon as it sees ``agent_completed`` is
never told AGENT_BUSY (the ended run's record may still be being written)."""

from __future__ import annotations

from typing import Any

import trio

from tests.helpers import agents_with, paced_agent
from tests.server.harness import RawClient, open_raw, running_hub


async def _until_terminal(client: RawClient) -> dict[str, Any]:
    with trio.fail_after(10):
        while (frame := await client.next_frame())["type"] not in (
            "agent_completed",
            "agent_error",
        ):
            pass
    return frame


async def test_a_follow_up_sent_on_the_terminal_event_is_admitted() -> None:
    async with running_hub(agents=agents_with(paced=paced_agent(1, 0))) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice")
        start = {"type": "start_agent", "payload": {"agent": "paced", "input": "x"}}
        await client.send_json({**start, "message_id": "m-0"})
        thread_id = (await _until_terminal(client))["thread_id"]
        for n in range(1, 4):
            await client.send_json({**start, "thread_id": thread_id, "message_id": f"m-{n}"})
            first = await client.next_frame()
            assert (first["type"], first["correlation_id"]) == ("agent_started", f"m-{n}"), first
            await _until_terminal(client)
        await client.close()
