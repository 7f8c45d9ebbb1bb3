"""Error codes, close codes and the exceptions that carry them."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    INVALID_JSON = "INVALID_JSON"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    AGENT_BUSY = "AGENT_BUSY"
    INTERNAL = "INTERNAL"
    UNAVAILABLE = "UNAVAILABLE"  # a service the frame needs (Redis, the database) is unreachable
    UNAUTHORIZED = "UNAUTHORIZED"  # a handshake's credentials, or a refresh's token
    # handshake-only codes (HTTP bodies)
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
    SHUTTING_DOWN = "SHUTTING_DOWN"


class CloseCode(enum.IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SESSION_EXPIRED = 4001
    HEARTBEAT_LOST = 4002
    SLOW_CONSUMER = 4008
    EVICTED = 4009


class ProtocolError(Exception):
    """A client frame that gets an ``error`` reply; the connection stays open."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        correlation_id: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.correlation_id = correlation_id
        self.details = details


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message says which and why."""


class AuthError(Exception):
    """A handshake that cannot be authenticated. The message never holds the token."""


class StartupError(Exception):
    """A service the server needs (its database, Redis), or the agents it is
    told to load, cannot be used at start; the message names it (never a
    password)."""
