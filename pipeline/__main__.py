"""``python -m pipeline``: see ``pipeline.cli``."""

import sys

from pipeline.cli import main

# The guard matters: stage processes are spawned, and spawning re-imports the main module.
if __name__ == "__main__":
    sys.exit(main())
