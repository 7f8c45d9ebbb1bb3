"""The Trio shell: nurseries, channels and sockets wired to the sans-IO core."""
