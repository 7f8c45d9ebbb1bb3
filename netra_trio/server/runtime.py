"""Process-wide tuning: the open-file limit, raised before the server
listens, and the garbage collector, tuned once it is listening.

Each socket holds a file descriptor, and the usual soft limit (1,024) is far
below what one server process holds: past it, ``accept`` fails and new clients
wait in the listen backlog. :func:`raise_open_files_limit` lifts the soft limit
to the hard one, which is as far as a process may go by itself.

Start-up objects (modules, the converter, the pricing table, listeners) are
moved out of the collector's reach with ``gc.freeze()``, and the collector runs
less often: almost everything the server frees goes away by reference
counting, while the default thresholds (700, 10, 10) made full collections walk
every live connection, task and queued event several times a second under load.
Measured with ``gc.callbacks`` under ``make bench-quick``'s push load: the time in
collections fell from 11-29 % of the server's CPU (full collections of
~200 ms each) to ~4 % (no full collection); see ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import gc
import resource

import attrs

GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    gc.freeze()
    gc.set_threshold(*thresholds)


@attrs.frozen
class OpenFilesLimit:
    soft: int
    hard: int  # resource.RLIM_INFINITY (-1) for no limit
    raised_from: int | None  # the soft limit before, when it was raised
    error: str | None = None  # why it could not be raised


def raise_open_files_limit() -> OpenFilesLimit:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return OpenFilesLimit(soft, hard, None)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:  # an unlimited hard limit, on some systems
        return OpenFilesLimit(soft, hard, None, str(exc))
    return OpenFilesLimit(hard, hard, soft)
