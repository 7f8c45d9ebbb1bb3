"""The sans-IO core: plain objects that take ``now`` and return decisions.

Nothing in this package imports trio or touches a socket; the Trio shell in
``netra_trio.server`` wires these decisions to nurseries, scopes and channels.
"""
