"""netra-trio: a real-time WebSocket server for AI-agent products, on Trio."""

from netra_trio.auth import Authenticator as Authenticator
from netra_trio.auth import Principal as Principal
from netra_trio.config import Config as Config
from netra_trio.core.priority import Priority as Priority
from netra_trio.errors import CloseCode as CloseCode
from netra_trio.errors import ErrorCode as ErrorCode
from netra_trio.handlers.router import Router as Router
from netra_trio.server.app import Server as Server

__version__ = "0.1.0"
