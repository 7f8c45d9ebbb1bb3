"""Examples of agents written outside the server (see ``docs/agents.md``)."""
