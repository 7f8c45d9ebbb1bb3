"""A real store with gates: the first call of a gated method waits
until the test lets it go (before the store is asked, or after it answered),
so that a test can put two callers' reads and writes in the order it needs."""

from __future__ import annotations

from typing import Any

import trio


class Gate:
    """``reached`` is set as the held call gets to the gate, ``go`` lets it
    on, ``done`` is set once it has returned (or raised)."""

    def __init__(self, *, after: bool = False) -> None:
        self.after = after  # held once the store has answered, not before it is asked
        self.reached, self.go, self.done = trio.Event(), trio.Event(), trio.Event()


class GatedStore:
    def __init__(self, store: Any, **gates: Gate) -> None:
        self._store = store
        self._gates = gates

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._store, name)
        gate = self._gates.get(name)
        if gate is None or gate.reached.is_set():
            return call

        async def gated(*args: Any, **kwargs: Any) -> Any:
            try:
                if not gate.after:
                    gate.reached.set()
                    await gate.go.wait()
                result = await call(*args, **kwargs)
                if gate.after:
                    gate.reached.set()
                    await gate.go.wait()
                return result
            finally:
                gate.done.set()

        return gated
