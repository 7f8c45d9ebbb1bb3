"""PostgreSQL storage on a real server: conformance (the same checks as
SQLite's)."""

from __future__ import annotations

import pytest

from netra_trio.storage.postgres import PostgresStorage
from netra_trio.storage.records import Retention
from tests.storage.conformance import (
    OpenStorage,
    check_concurrent_writers,
    check_event_store,
    check_retention_by_age,
    check_retention_by_count,
    check_run_store,
    check_session_store,
    check_storage,
    check_thread_store,
)


def _opener(url: str) -> OpenStorage:
    """Opens another storage (another machine) on the database at ``url``."""

    async def open_storage(retention: Retention) -> PostgresStorage:
        return await PostgresStorage.open(url, retention=retention)

    return open_storage


async def test_postgres_conforms(postgres_url: str) -> None:
    storage = await PostgresStorage.open(postgres_url)
    try:
        await check_storage(storage)
    finally:
        await storage.close()


@pytest.mark.parametrize("store", ["threads", "runs", "events", "sessions"])
async def test_each_store_conforms_on_a_database_of_its_own(postgres_url: str, store: str) -> None:
    storage = await PostgresStorage.open(postgres_url)
    try:
        if store == "threads":
            await check_thread_store(storage.threads)
        elif store == "runs":
            await check_run_store(storage.runs, storage.threads)
        elif store == "events":
            await check_event_store(storage.events)
        else:
            await check_session_store(storage.sessions)
    finally:
        await storage.close()


async def test_retention_by_count_conforms(postgres_url: str) -> None:
    await check_retention_by_count(_opener(postgres_url))


async def test_retention_by_age_conforms(postgres_url: str) -> None:
    await check_retention_by_age(_opener(postgres_url))


async def test_concurrent_writers_on_several_machines_conform(postgres_url: str) -> None:
    await check_concurrent_writers(_opener(postgres_url))
