"""The conformance checks, each run on a SQLite file and on a PostgreSQL
database (the ``database`` fixture): every backend keeps the same contract."""

from __future__ import annotations

import pytest

from netra_trio.storage.base import Storage
from netra_trio.storage.opening import open_storage
from netra_trio.storage.records import Retention
from tests.databases import ServerDatabase
from tests.storage.conformance import (
    check_event_store,
    check_run_endings,
    check_run_store,
    check_session_store,
    check_storage,
    check_thread_store,
)
from tests.storage.conformance_event_log import (
    OpenStorage,
    check_concurrent_writers,
    check_dropped_seqs_stay_taken,
    check_retention_by_age,
    check_retention_by_count,
    check_run_endings_past_retention,
)


def _opener(database: ServerDatabase) -> OpenStorage:
    """Opens another storage (another process, another machine) on ``database``."""

    async def opened(retention: Retention) -> Storage:
        return await open_storage(database.value, retention=retention)

    return opened


async def test_the_backend_conforms(storage: Storage) -> None:
    await check_storage(storage)


@pytest.mark.parametrize("store", ["threads", "runs", "events", "sessions", "endings"])
async def test_each_store_conforms_on_a_database_of_its_own(storage: Storage, store: str) -> None:
    if store == "threads":
        await check_thread_store(storage.threads)
    elif store == "runs":
        await check_run_store(storage.runs, storage.threads)
    elif store == "events":
        await check_event_store(storage.events)
    elif store == "endings":
        await check_run_endings(storage)
    else:
        await check_session_store(storage.sessions)


async def test_retention_by_count_conforms(database: ServerDatabase) -> None:
    await check_retention_by_count(_opener(database))


async def test_retention_by_age_conforms(database: ServerDatabase) -> None:
    await check_retention_by_age(_opener(database))


async def test_run_endings_past_retention_conform(database: ServerDatabase) -> None:
    await check_run_endings_past_retention(_opener(database))


async def test_dropped_seqs_stay_taken(database: ServerDatabase) -> None:
    await check_dropped_seqs_stay_taken(_opener(database))


# (with a count of 2, a stale writer's seqs were mostly dropped already)
@pytest.mark.parametrize("keep", [None, 2])
async def test_concurrent_writers_conform(database: ServerDatabase, keep: int | None) -> None:
    await check_concurrent_writers(_opener(database), keep=keep)
