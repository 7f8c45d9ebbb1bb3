"""netra-trio: a real-time WebSocket server for AI-agent products, on Trio.

The public API. Whatever does I/O (the server, router, client and JWT
authentication) is loaded on first use, so that importing the sans-IO core
(``netra_trio.core``) imports neither trio nor sockets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from netra_trio.config import Config as Config
from netra_trio.core.priority import Priority as Priority
from netra_trio.errors import CloseCode as CloseCode
from netra_trio.errors import ErrorCode as ErrorCode

if TYPE_CHECKING:
    from netra_trio.auth import Authenticator as Authenticator
    from netra_trio.auth import Principal as Principal
    from netra_trio.client import open_client as open_client
    from netra_trio.handlers.router import Router as Router
    from netra_trio.server.app import Server as Server

__version__ = "0.1.0"

_LAZY = {
    "Authenticator": "netra_trio.auth",
    "Principal": "netra_trio.auth",
    "Server": "netra_trio.server.app",
    "Router": "netra_trio.handlers.router",
    "open_client": "netra_trio.client",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'netra_trio' has no attribute {name!r}")
