"""What every baseline server does with a client frame, framework-free.

- A ``push`` command (``{"type":"push","payload":{"n":N,"thought_chars":C}}``)
  is answered with N ``agent_thinking``-shaped frames of the same fields and
  size as netra-trio's, each encoded with orjson when it is sent, with its
  own ``seq`` and ``timestamp`` (Unix seconds at encode), as fast as the
  framework's send path takes them. Nothing is stored.
- Anything else is echoed back unchanged (the ``rtt`` baseline: plain echo).

Baselines never verify tokens and never import netra-trio (except the
FastAPI ``agents`` baseline, which runs the same agent code, see there).
"""

from __future__ import annotations

import itertools
import resource
import time
import uuid
from collections.abc import Iterator

import orjson

PUSH_PREFIX = '{"type":"push"'
_ids = itertools.count(1)


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def thought_text(chars: int) -> str:
    base = "Comparing the per-token price of each candidate model against the current spend. "
    return (base * (chars // len(base) + 1))[:chars]


def is_push(text: str) -> bool:
    return text.startswith(PUSH_PREFIX)


def push_frames(text: str) -> Iterator[str]:
    """The frames answering one push command, each encoded as it is taken."""
    payload = orjson.loads(text).get("payload", {})
    n = max(0, min(int(payload.get("n", 100)), 100_000))
    thought = thought_text(int(payload.get("thought_chars", 120)))
    thread_id = f"t-{uuid.uuid4().hex[:16]}"
    run_id = f"r-{uuid.uuid4().hex[:16]}"
    for step in range(1, n + 1):
        yield orjson.dumps(
            {
                "type": "agent_thinking",
                "payload": {"agent_name": "bench_emit", "thought": thought, "step": step},
                "message_id": f"s-{next(_ids)}",
                "thread_id": thread_id,
                "run_id": run_id,
                "seq": step,
                "timestamp": time.time(),
            }
        ).decode()
