"""``python -m tests.server.fd_limited_server serve ...``: the ``netra-trio``
command in a process that may hold at most ``FD_LIMIT`` file descriptors, so
that a test can run it out of them with idle sockets."""

from __future__ import annotations

import resource
import sys

from netra_trio.cli import main

FD_LIMIT = 128

if __name__ == "__main__":
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = FD_LIMIT if hard == resource.RLIM_INFINITY else min(FD_LIMIT, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    raise SystemExit(main(sys.argv[1:]))
