"""The sans-IO client core: URLs, tokens, resume bookkeeping, backoff and the
reconnect decisions. Imports no trio, no asyncio and no sockets; every
method that depends on time takes ``now`` (Unix seconds)."""
