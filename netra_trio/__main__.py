"""``python -m netra_trio`` runs the command line."""

from netra_trio.cli import main

raise SystemExit(main())
