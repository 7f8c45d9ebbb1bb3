"""Fixtures: a running server on loopback, and the server's log records."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import trio

from netra_trio.logs import LOGGER_NAME
from netra_trio.server.app import Server
from tests.helpers import start_server


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[Server]:
    srv = await start_server(nursery)
    yield srv
    srv.request_shutdown()


@pytest.fixture
def netra_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of the ``netra_trio`` logger, down to DEBUG, also when an
    earlier in-process CLI run turned propagation off."""
    logger = logging.getLogger(LOGGER_NAME)
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    attached = not logger.propagate
    if attached:
        logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        if attached:
            logger.removeHandler(caplog.handler)
