"""Fixtures for the end-to-end tier: the server of the pytest plugin
(netra_trio/testing.py: ``netra_server``, a SQLite file of its own, options
per test with ``@pytest.mark.netra_options``) with the tests' secret and
generous rates, and a factory of more servers for the tests that need
several, or options known only once the test runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trio

from netra_trio.server.app import Server
from netra_trio.testing import RunningServer
from tests.helpers import GENEROUS_RATES, SECRET, start_server

ServerFactory = Callable[..., Awaitable[Server]]


@pytest.fixture
def netra_secret() -> str:
    """The tests' secret, so that ``token_for`` signs tokens the server accepts."""
    return SECRET


@pytest.fixture
def netra_options(netra_options: dict[str, Any]) -> dict[str, Any]:
    """Generous rates, so tests of other behaviour do not meet the rate limits;
    a test's ``netra_options`` marker (the rate-limit tests) wins."""
    return {**GENEROUS_RATES, **netra_options}


@pytest.fixture
def server(netra_server: RunningServer) -> Server:
    return netra_server.server


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
