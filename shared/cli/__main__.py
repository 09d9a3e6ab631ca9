"""`python -m shared.cli`: the operator CLI (shared/cli/__init__.py)."""

import sys

from shared.cli import main

sys.exit(main())
