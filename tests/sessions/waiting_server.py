"""``python -m tests.sessions.waiting_server serve ...``: the ``netra-trio``
command, its supervisor replaced by an agent that waits in a tool call for
ever (runs that a ``kill -9`` is sure to cut off)."""

from __future__ import annotations

import sys

from netra_trio.cli import main
from tests.helpers import agents_with, waiting_agent

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], agents=agents_with(supervisor=waiting_agent())))
