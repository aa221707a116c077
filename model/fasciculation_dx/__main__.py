"""``python -m fasciculation_dx``: the command line."""

from .cli.main import main

raise SystemExit(main())
