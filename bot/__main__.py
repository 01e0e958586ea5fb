"""`python -m bot` runs the command line, the same as `newsbot`."""

from bot.cli import main

raise SystemExit(main())
