"""AG-UI agents: remote AG-UI endpoints run as agents of this server (``docs/agui.md``).

``--agui-agent NAME=URL`` registers NAME; ``agent.agui_agents(config)`` makes
those agents. The modules: ``settings`` (the option and its bounds),
``run_input`` (what is POSTed), ``stream`` (the HTTP client side),
``mapping`` with ``actions`` and ``fields`` (AG-UI events to this protocol's
events, sans-IO), ``agent`` (the agent callable). This package's own import
imports nothing, so that the configuration can read ``settings`` without
loading the HTTP client (or Trio).
"""
