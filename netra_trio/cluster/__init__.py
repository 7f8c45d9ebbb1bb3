"""What the processes of a cluster agree on beyond events: connection slots per
user (and, with them, which processes are alive)."""
