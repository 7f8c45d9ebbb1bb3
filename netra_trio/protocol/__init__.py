"""The wire protocol: typed messages, one converter, and the frame codec."""
