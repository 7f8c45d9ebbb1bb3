"""Benchmark harness for netra-trio: a cheap load client, baseline servers, a
launcher for our server with a benchmark-only agent, and the scenario runner.

Run ``python -m benchmarks.run --help``. Nothing in ``netra_trio`` imports
this package; its extra dependencies come from ``pip install -e '.[bench]'``.
"""
