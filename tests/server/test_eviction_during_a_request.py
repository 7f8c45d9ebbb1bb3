"""A user's hub evicted while one of its connections is in the middle of a
request that would start a run: the run is not started on the closed hub (no
run outlives its hub), and the hub is gone with every lease given back."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.helpers import DatabaseWriteLock, logged_fields
from tests.server.harness import open_raw, running_hub, wait_until

ISSUE = "we send 2M requests/day to gpt-4o with 1.5k input and 300 output tokens"


async def test_a_run_requested_as_the_hub_is_evicted_is_not_started(
    tmp_path: Path, netra_logs: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "netra.db"
    async with running_hub(database=str(database), database_busy_timeout_s=5) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pump=True)  # it answers the close
        ack = await client.request("user_message", {"content": ISSUE})
        thread_id = ack["payload"]["thread_id"]
        with trio.fail_after(10):
            while (await client.next_frame())["type"] != "agent_completed":
                pass
        stored_before = await hub.services.storage.events.events_after("alice", 0)
        user_hub = hub.users.get("alice")
        assert user_hub is not None
        with DatabaseWriteLock(database):
            # the handler reads the thread, then waits to store the message
            await client.send_json(
                {
                    "type": "user_message",
                    "payload": {"content": "and again"},
                    "thread_id": thread_id,
                    "message_id": "m-2",
                }
            )
            await trio.sleep(0.2)  # far longer than reading the thread takes
            user_hub.evict("evicted by the test")
        # the message is stored once the lock is gone; its run would start now
        await wait_until(lambda: user_hub.leases == 0, interval_s=0.01)
        assert hub.users.get("alice") is None
        assert user_hub.runs.active == ()
        messages = await hub.services.storage.threads.thread_messages(thread_id)
        assert [m.content for m in messages][-1] == "and again"  # stored, not answered
        assert await hub.services.storage.events.events_after("alice", 0) == stored_before
        assert [f["user"] for f in logged_fields(netra_logs, "run_not_started")] == ["alice"]
        assert not logged_fields(netra_logs, "handler_error")  # not an error of ours
        # the user connects again to a new hub, and runs work there
        again = await open_raw(hub, nursery, "alice")
        await again.send_json(
            {"type": "user_message", "payload": {"content": ISSUE}, "thread_id": thread_id}
        )
        with trio.fail_after(10):
            while (await again.next_frame())["type"] != "agent_completed":
                pass
        await again.close()
