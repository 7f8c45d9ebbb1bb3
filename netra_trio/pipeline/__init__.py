"""The event pipeline: the event log (number, render once, store, publish) and
the deliverer (committed events to the user hubs of this process)."""
