"""What ``netra_trio.client`` exports, and what importing it loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import netra_trio.client
from netra_trio.client import asyncio as asyncio_client
from netra_trio.client import frames, trio, websocket

PROBE = """
import json, sys
__import__(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(module: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(proc.stdout))


def test_the_clients_and_the_frame_level_names_are_exported() -> None:
    assert netra_trio.client.connect is trio.connect
    assert netra_trio.client.TrioClient is trio.TrioClient
    assert netra_trio.client.AsyncioClient is asyncio_client.AsyncioClient
    assert netra_trio.client.open_client is frames.open_client
    assert netra_trio.client.NetraClient is frames.NetraClient
    assert netra_trio.client.open_websocket is websocket.open_websocket
    with pytest.raises(AttributeError, match="has no attribute 'conect'"):
        netra_trio.client.conect  # noqa: B018 - a misspelling


def test_the_asyncio_client_loads_no_trio() -> None:
    loaded = loaded_by("netra_trio.client.asyncio")
    assert "websockets" in loaded
    assert not {name for name in loaded if name == "trio" or name.startswith("trio.")}


def test_the_package_loads_neither_event_loop_until_a_client_is_used() -> None:
    loaded = loaded_by("netra_trio.client")
    assert not {m for m in loaded if m.split(".")[0] in ("trio", "websockets", "asyncio")}
