"""``storage``: a backend opened on the test's ``database`` (a SQLite file, then
a PostgreSQL database), closed after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from netra_trio.storage.base import Storage
from netra_trio.storage.opening import open_storage
from tests.databases import ServerDatabase


@pytest.fixture
async def storage(database: ServerDatabase) -> AsyncIterator[Storage]:
    opened = await open_storage(database.value)
    try:
        yield opened
    finally:
        await opened.close()
