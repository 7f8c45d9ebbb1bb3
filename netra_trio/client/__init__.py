"""Python clients of the netra protocol.

- :func:`connect` (Trio) and :func:`netra_trio.client.asyncio.connect`
  (asyncio, with the ``asyncio`` extra): clients for applications. They
  reconnect and resume by themselves, so a caller iterating events sees each
  ``seq`` exactly once, in order; frames are typed (:class:`ServerFrame`);
  errors are the classes below. Guide: docs/clients.md.
- :func:`open_client`, :class:`NetraClient` and :func:`open_websocket`: the
  frame-level Trio client, for testing the protocol itself frame by frame
  (plain dicts, no reconnect).

Whatever needs trio or asyncio is imported on first use, so that importing
the sans-IO core (``netra_trio.client.core``) or the asyncio client loads
no Trio shell.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from netra_trio.client.base import TokenProvider as TokenProvider
from netra_trio.client.core.backoff import ReconnectPolicy as ReconnectPolicy
from netra_trio.client.errors import ClientError as ClientError
from netra_trio.client.errors import ConnectFailed as ConnectFailed
from netra_trio.client.errors import ConnectionClosed as ConnectionClosed
from netra_trio.client.errors import ConnectionLost as ConnectionLost
from netra_trio.client.errors import HandshakeRejected as HandshakeRejected
from netra_trio.client.errors import MalformedFrame as MalformedFrame
from netra_trio.client.errors import ProtocolError as ProtocolError
from netra_trio.client.errors import RequestTimeout as RequestTimeout
from netra_trio.client.errors import TokenUnavailable as TokenUnavailable
from netra_trio.client.streams import ConnectionChanges as ConnectionChanges
from netra_trio.client.streams import EventStream as EventStream
from netra_trio.client.streams import RunStream as RunStream
from netra_trio.client.subscriptions import BacklogFull as BacklogFull
from netra_trio.protocol.server_frames import ServerFrame as ServerFrame

if TYPE_CHECKING:
    from netra_trio.client.asyncio import AsyncioClient as AsyncioClient
    from netra_trio.client.frames import NetraClient as NetraClient
    from netra_trio.client.frames import open_client as open_client
    from netra_trio.client.trio import TrioClient as TrioClient
    from netra_trio.client.trio import connect as connect
    from netra_trio.client.websocket import open_websocket as open_websocket

_LAZY = {
    "connect": "netra_trio.client.trio",
    "TrioClient": "netra_trio.client.trio",
    "AsyncioClient": "netra_trio.client.asyncio",
    "NetraClient": "netra_trio.client.frames",
    "open_client": "netra_trio.client.frames",
    "open_websocket": "netra_trio.client.websocket",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'netra_trio.client' has no attribute {name!r}")
