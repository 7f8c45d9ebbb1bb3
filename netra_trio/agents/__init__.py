"""Agents: triage, optimization and the supervisor, and the tools they call."""
