"""A ``user_message`` without a thread makes one, and its ``message_ack``
names it only once the run holds that thread across the cluster: a request
on the thread sent to another node as soon as the ack arrives is busy.

Node a reaches Redis through a relay; the test holds a's Redis connections
after the run is admitted and while its thread is stored (the SQLite file
is locked meanwhile), so that the thread is made while a cannot yet name it
in Redis."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import coredis
import trio

from netra_trio.client import open_client
from tests.helpers import agents_with, start_server, token_for, waiting_agent
from tests.redis_server import RedisServer
from tests.relay import Relay

USER = f"new-thread-{uuid.uuid4().hex[:8]}"  # a user of its own on the session's Redis
RUNS_KEY = f"netra:{{{USER}}}:runs"


async def _run_slots(redis: coredis.Redis[str]) -> list[str]:
    """The tags (threads) of the user's run slots, '' for a slot not yet tagged."""
    slots = await redis.hgetall(RUNS_KEY)
    return [value.split("|", 1)[1] for value in slots.values()]


async def test_the_ack_of_a_new_thread_comes_once_the_run_holds_the_thread(
    redis_server: RedisServer, nursery: trio.Nursery, tmp_path: Path
) -> None:
    relay: Relay = await nursery.start(Relay(redis_server.port).serve)
    database = str(tmp_path / "netra.db")
    agents = agents_with(supervisor=waiting_agent())
    a = await start_server(
        nursery, agents=agents, database=database, redis_url=f"redis://127.0.0.1:{relay.port}/0"
    )
    b = await start_server(
        nursery,
        agents=agents,
        database=database,
        redis_url=f"redis://127.0.0.1:{redis_server.port}/0",
    )
    blocker = sqlite3.connect(database, timeout=0)
    token = token_for(USER)
    async with (
        coredis.Redis(port=redis_server.port, decode_responses=True) as redis,
        open_client(a.url, token) as on_a,
        open_client(b.url, token) as on_b,
    ):
        try:
            blocker.execute("BEGIN EXCLUSIVE")  # the new thread cannot be stored yet
            await on_a.send("user_message", {"content": "hello"}, message_id="m-1")
            with trio.fail_after(10):
                # admitted, on no thread yet (as Redis holds it)
                while await _run_slots(redis) != [""]:  # noqa: ASYNC110 - state in Redis
                    await trio.sleep(0.01)
            relay.freeze()  # a cannot reach Redis from here on
            blocker.execute("ROLLBACK")  # the thread is stored now
        finally:
            blocker.close()

        async def thaw_later() -> None:
            await trio.sleep(0.5)  # time enough for an early ack to come
            relay.thaw()

        nursery.start_soon(thaw_later)
        with trio.fail_after(10):
            while (frame := await on_a.receive())["type"] != "message_ack":
                pass
        thread_id = frame["payload"]["thread_id"]
        assert await _run_slots(redis) == [thread_id]  # held before it was named
        busy = await on_b.request("agent_request", {"content": "again"}, thread_id=thread_id)
        assert busy["payload"]["code"] == "AGENT_BUSY", busy
    a.request_shutdown()
    b.request_shutdown()
