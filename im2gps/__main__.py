"""``python -m im2gps`` runs the command line."""

from im2gps.cli import main

raise SystemExit(main())
