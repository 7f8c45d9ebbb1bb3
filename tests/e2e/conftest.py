"""Fixtures for the end-to-end tier: servers with config overrides, and captured server logs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trio

from netra_trio.server.app import Server
from tests.helpers import start_server

ServerFactory = Callable[..., Awaitable[Server]]


@pytest.fixture
async def make_server(nursery: trio.Nursery) -> AsyncIterator[ServerFactory]:
    """Start real servers on loopback port 0 with Config overrides; shut them down after."""
    servers: list[Server] = []

    async def factory(**overrides: Any) -> Server:
        server = await start_server(nursery, **overrides)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.request_shutdown()
