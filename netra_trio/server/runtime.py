"""Process-wide tuning applied once the server is listening: the garbage
collector.

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

GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    gc.freeze()
    gc.set_threshold(*thresholds)
