"""``python -m pipeline``: see ``pipeline.cli``."""

import sys

# The guard matters: stage processes are spawned, and spawning re-imports the main module; inside it, so that they
# do not import the command line (and what it imports) they never use.
if __name__ == "__main__":
    from pipeline.cli import main

    sys.exit(main())
