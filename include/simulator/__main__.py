"""`python -m include.simulator`: see include/simulator/cli.py."""

from include.simulator.cli import main

raise SystemExit(main())
