"""Fixtures: a running server on loopback, torn down by graceful shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from netra_trio.server.app import Server
from tests.helpers import start_server


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[Server]:
    srv = await start_server(nursery)
    yield srv
    srv.request_shutdown()
