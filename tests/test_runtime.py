"""Process-wide tuning: the collector's thresholds and the frozen start-up heap."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from netra_trio.server.runtime import GC_THRESHOLDS, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tune_gc_freezes_the_heap_and_raises_the_thresholds(restore_gc: None) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    kept = [object() for _ in range(10)]
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > len(kept)
    assert GC_THRESHOLDS[0] > 700 and GC_THRESHOLDS[2] > 10  # less often than the defaults
