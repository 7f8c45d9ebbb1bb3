"""The AG-UI ``RunAgentInput`` of a run: what is POSTed to the endpoint.

camelCase as AG-UI expects: ``threadId`` and ``runId`` are this server's,
``messages`` the thread's stored messages (roles ``user`` and ``assistant``,
ids the stored message ids), oldest first, ending with the run's new user
message. The request that started the run has already stored that message,
so it is the last one of the history; only when it is not (a run started some
other way) is it added, with the id ``RUN_ID:input``. ``state`` is ``{}``; ``tools``,
``context`` and ``forwardedProps`` are empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from netra_trio.storage.records import MessageRecord

_ROLES = ("user", "assistant")


def run_input(
    thread_id: str, run_id: str, history: Sequence[MessageRecord], new_input: Any
) -> dict[str, Any]:
    messages = [
        {"id": m.message_id, "role": m.role, "content": m.content}
        for m in history
        if m.role in _ROLES
    ]
    text = input_text(new_input)
    last = messages[-1] if messages else None
    if text and (last is None or (last["role"], last["content"]) != ("user", text)):
        messages.append({"id": f"{run_id}:input", "role": "user", "content": text})
    return {
        "threadId": thread_id,
        "runId": run_id,
        "state": {},
        "messages": messages,
        "tools": [],
        "context": [],
        "forwardedProps": {},
    }


def input_text(value: Any) -> str:
    """A run's input as the text of its user message (as the request stored it)."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()
