"""`python -m shared.cli`: the operator CLI (shared/cli/__init__.py)."""

import sys

from shared.cli import main

if __name__ == "__main__":  # imported (e.g. by a walk over shared's modules), it does nothing
    sys.exit(main())
