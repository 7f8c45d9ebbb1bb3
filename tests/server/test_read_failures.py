"""A frame whose read fails is told that nothing could be read, not that
nothing was saved: on SQLite, damage the server meets while it runs
(``INTERNAL``); on PostgreSQL, the server stopped (``UNAVAILABLE``). The
connection goes on serving."""

from __future__ import annotations

from pathlib import Path

import trio

from netra_trio.client import open_client
from tests.helpers import damage_root_page, start_server, store_long_thread, token_for
from tests.postgres_server import PostgresServer


async def test_damage_met_while_running_is_a_failed_read(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    database = tmp_path / "netra.db"
    thread_id = await store_long_thread(database)
    server = await start_server(nursery, database=str(database))  # (it checked the file)
    async with open_client(server.url, token_for("alice")) as client:
        history = await client.request("get_thread_history", {"thread_id": thread_id})
        assert len(history["payload"]["messages"]) == 300
        damage_root_page(database, "messages")  # (the server reads its pages again)
        reply = await client.request("get_thread_history", {"thread_id": thread_id})
        assert reply["type"] == "error", reply
        assert reply["payload"] == {
            "code": "INTERNAL",
            "message": "storage is unavailable; could not read the data asked for",
        }
        assert (await client.request("ping"))["type"] == "pong"
    server.request_shutdown()


async def test_postgres_stopped_is_a_failed_read(
    nursery: trio.Nursery, postgres_server: PostgresServer, postgres_url: str
) -> None:
    server = await start_server(nursery, database=postgres_url)
    try:
        async with open_client(server.url, token_for("alice")) as client:
            assert (await client.request("list_threads"))["type"] == "threads"
            postgres_server.stop()
            reply = await client.request("list_threads")
            assert reply["type"] == "error", reply
            assert reply["payload"] == {
                "code": "UNAVAILABLE",
                "message": "the database is unavailable; could not read the data asked for",
            }
            assert (await client.request("ping"))["type"] == "pong"
    finally:
        if not postgres_server.running:
            postgres_server.start()
        server.request_shutdown()
