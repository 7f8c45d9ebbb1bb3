"""Fixtures of the AG-UI tests: a real AG-UI endpoint on loopback."""

from __future__ import annotations

import pytest
import trio

from tests.agui.endpoint import AguiEndpoint


@pytest.fixture
async def endpoint(nursery: trio.Nursery) -> AguiEndpoint:
    started: AguiEndpoint = await nursery.start(AguiEndpoint().serve)
    return started
