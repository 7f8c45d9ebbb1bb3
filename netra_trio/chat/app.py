"""``netra-trio chat``: a terminal session with the agents, on the reconnecting Trio client.

:func:`chat` connects with a token (or a token provider, so that a long
session refreshes its token by itself), then runs two tasks until the input
ends (Ctrl-D) or the client gives up:

- one reads the lines typed (on a worker thread: a terminal's input is a
  blocking read) and starts a run of each, as a ``user_message`` (or as
  ``start_agent`` of ``--agent``) on the thread of the run before, so that a
  conversation goes on;
- one shows every agent event of the user as it comes (``view.py``): the runs
  started here and in any other tab or client of the same user.

The client reconnects and resumes by itself, so across a dropped connection
or a server restart each event is shown once; the connection's changes are
noted on their own line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import trio
from rich.console import Console

from netra_trio.chat.view import AgentPayload, RunPrinter
from netra_trio.client import (
    ClientError,
    ConnectionLost,
    ProtocolError,
    RequestTimeout,
    connect,
)
from netra_trio.client.base import BaseClient, TokenProvider

AGENT_PAYLOADS = AgentPayload.__args__
GREETING = "Type a message and press Enter; Ctrl-D quits."

ReadLine = Callable[[], str]


async def chat(
    url: str,
    token: str | TokenProvider,
    *,
    console: Console,
    agent: str | None = None,
    read_line: ReadLine = sys.stdin.readline,
) -> int:
    """Talk to the server at ``url`` until the input ends: 0, or 1 when the
    client could not connect or gave up (the reason printed)."""
    printer = RunPrinter(console)
    try:
        async with connect(url, token) as client:
            user = client.established.user_id
            printer.note(f"connected to {url} as {user}. {GREETING}")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_show_events, client, printer)
                nursery.start_soon(_note_connection, client, printer)
                await _send_lines(client, printer, agent, read_line)
                nursery.cancel_scope.cancel()
    except ClientError as exc:
        printer.note(f"netra-trio chat: {exc}", "bold red")
        return 1
    return 0


async def _send_lines(
    client: BaseClient, printer: RunPrinter, agent: str | None, read_line: ReadLine
) -> None:
    thread_id: str | None = None
    while line := await trio.to_thread.run_sync(read_line, abandon_on_cancel=True):
        text = line.strip()
        if text:
            thread_id = await _start(client, printer, text, agent, thread_id)


async def _start(
    client: BaseClient, printer: RunPrinter, text: str, agent: str | None, thread_id: str | None
) -> str | None:
    """Start a run of ``text``; the thread to go on with (the run's, once it started)."""
    run = client.run(text, agent=agent, thread_id=thread_id)
    try:
        first = await anext(run)  # (the events are shown as every event is)
    except (ProtocolError, RequestTimeout, ConnectionLost) as exc:
        printer.note(f"not started: {exc}", "red")
        return thread_id
    finally:
        run.close()
    return first.thread_id or thread_id


async def _show_events(client: BaseClient, printer: RunPrinter) -> None:
    async for event in client.events():
        if isinstance(event.payload, AGENT_PAYLOADS):
            printer.show(event.payload)


async def _note_connection(client: BaseClient, printer: RunPrinter) -> None:
    async for connected in client.connection_changes():
        if connected:
            printer.note(f"reconnected (events after seq {client.last_seq} resumed)", "green")
        else:
            printer.note("connection lost: reconnecting…", "yellow")
