"""``python -m tests.server.fd_limited_server serve ...``: the ``netra-trio``
command in a process that may hold at most ``FD_LIMIT`` file descriptors, so
that a test can run it out of them with idle sockets.

Both limits are lowered (the server raises its soft limit to the hard one at
start); with ``FD_LIMIT_SOFT_ONLY=1`` in the environment only the soft limit
is, so that a test can see the server raise it."""

from __future__ import annotations

import os
import resource
import sys

from netra_trio.cli import main

FD_LIMIT = 128

if __name__ == "__main__":
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = FD_LIMIT if hard == resource.RLIM_INFINITY else min(FD_LIMIT, hard)
    soft_only = os.environ.get("FD_LIMIT_SOFT_ONLY") == "1"
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard if soft_only else limit))
    raise SystemExit(main(sys.argv[1:]))
