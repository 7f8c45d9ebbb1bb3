"""The terminal client, ``netra-trio chat``: ``view.py`` prints runs on a rich console."""
