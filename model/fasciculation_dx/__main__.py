"""``python -m fasciculation_dx``: the command line."""

from .cli import main

raise SystemExit(main())
