"""PostgreSQL storage on a real server: conformance."""

from __future__ import annotations

from netra_trio.storage.postgres import PostgresStorage
from tests.storage.conformance import check_storage


async def test_postgres_conforms(postgres_url: str) -> None:
    storage = await PostgresStorage.open(postgres_url)
    try:
        await check_storage(storage)
    finally:
        await storage.close()
