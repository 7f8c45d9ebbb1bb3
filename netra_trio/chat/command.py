"""The ``chat`` subcommand's options, and running it.

The token is ``--token`` (or ``NETRA_TOKEN``); without one, tokens for
``--user`` are made with the development secret, as ``netra-trio token``
makes them (``--jwt-secret``, ``--secret-file``, or the secret file), one
for each connection and refresh, so that a session lasts as long as it is
used.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping

import trio
from rich.console import Console

from netra_trio.chat.app import chat
from netra_trio.client.base import TokenProvider

DEFAULT_URL = "ws://127.0.0.1:8765/ws"
TOKEN_TTL_S = 3600.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("chat", help="talk to the agents from a terminal")
    parser.add_argument(
        "--url",
        default=None,
        help=f"the server's WebSocket URL (env NETRA_URL, default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token", default=None, help="a token (env NETRA_TOKEN; default: made for --user)"
    )
    parser.add_argument("--user", default="alice", help="the user to make tokens for (alice)")
    parser.add_argument(
        "--agent", default=None, help="start this agent with each message (default: the supervisor)"
    )
    parser.add_argument("--jwt-secret", dest="jwt_secret", default=None)
    parser.add_argument("--secret-file", dest="secret_file", default=None)


def run(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    issuer: Callable[[], Callable[[str, float], str]],
) -> int:
    """Chat as ``args`` say; ``issuer`` gives the function that signs a
    token for a user (called only when no token is given)."""
    url = args.url or environ.get("NETRA_URL") or DEFAULT_URL
    token: str | TokenProvider | None = args.token or environ.get("NETRA_TOKEN")
    if token is None:
        issue = issuer()
        user = args.user
        token = lambda: issue(user, TOKEN_TTL_S)  # noqa: E731 - a fresh token per call
    console = Console(highlight=False)
    try:
        return trio.run(lambda: chat(url, token, console=console, agent=args.agent))
    except KeyboardInterrupt:
        console.print()
        return 130
