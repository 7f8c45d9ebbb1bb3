"""AG-UI agents as configured: ``NAME=URL`` entries and the bounds of a run's stream.

``--agui-agent NAME=URL`` is repeatable; ``NETRA_AGUI_AGENTS`` holds the
entries comma-separated. A name is 1 to 64 letters, digits, ``_``, ``-`` or
``.``, starting with a letter or a digit, and unique among the entries; a URL
is ``http://`` or ``https://`` with a host. Anything else is a
:class:`ConfigError` that names the entry (never a URL's password).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs

from netra_trio.errors import ConfigError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_USERINFO = re.compile(r"://[^/@\s]*@")

AguiEndpoints = tuple[tuple[str, str], ...]  # (name, URL)

CONNECT_TIMEOUT_S = 10.0  # TCP (and TLS) connect
FIRST_EVENT_TIMEOUT_S = 60.0  # from sending the request to the first event
IDLE_TIMEOUT_S = 120.0  # from asking for the next event to receiving it
MAX_EVENT_BYTES = 1024 * 1024  # one server-sent event
MAX_TOOL_ARGS_BYTES = 64 * 1024  # one tool call's joined arguments (UTF-8)


@attrs.frozen
class AguiLimits:
    """How long a run waits and how much it takes from its endpoint (the
    ``agui_*`` options; the run's total time is ``max_run_s``)."""

    connect_timeout_s: float = CONNECT_TIMEOUT_S
    first_event_timeout_s: float = FIRST_EVENT_TIMEOUT_S
    idle_timeout_s: float = IDLE_TIMEOUT_S
    max_event_bytes: int = MAX_EVENT_BYTES
    max_tool_args_bytes: int = MAX_TOOL_ARGS_BYTES


def parse_agui_agents(source: str, raw: Any) -> AguiEndpoints:
    """``NAME=URL`` entries: a comma-separated string (the environment) or a
    sequence with one entry per item (repeated flags)."""
    items = raw.split(",") if isinstance(raw, str) else [str(item) for item in raw]
    entries: list[tuple[str, str]] = []
    for item in (item.strip() for item in items):
        if not item:
            continue
        name, sep, url = item.partition("=")
        if not sep:
            raise ConfigError(f"{source}: expected NAME=URL, got {_safe(item)!r}")
        entries.append((name.strip(), url.strip()))
    if not entries:
        raise ConfigError(f"{source} must not be empty")
    return tuple(entries)


def check_agui_agents(entries: Sequence[tuple[str, str]]) -> None:
    """Every name valid and unique, every URL http(s) with a host."""
    seen: set[str] = set()
    for name, url in entries:
        if not NAME_PATTERN.fullmatch(name):
            raise ConfigError(
                f"agui-agent: {name!r} is not a valid agent name (1 to 64 letters, digits,"
                " '_', '-' or '.', starting with a letter or a digit)"
            )
        if name in seen:
            raise ConfigError(f"agui-agent: the name {name!r} is given twice")
        seen.add(name)
        if not _is_http_url(url):
            raise ConfigError(
                f"agui-agent {name}: the URL must be http:// or https:// with a host,"
                f" got {_safe(url)!r}"
            )


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - a port that is not a number raises ValueError
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def endpoint_for_logs(url: str) -> str:
    """``url`` without its user, password, query and fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _safe(text: str) -> str:
    """``text`` as quoted in an error: the user and password of a URL in it left out."""
    return _USERINFO.sub("://***@", text)
