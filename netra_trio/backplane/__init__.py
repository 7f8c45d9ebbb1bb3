"""Backplanes: how committed events reach the processes that hold their users."""
