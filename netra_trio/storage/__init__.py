"""Persistence: threads, messages, runs and the per-user event log."""
