"""``python -m pipeline``: see ``pipeline.cli``."""

import signal
import sys

# The guard matters: stage processes are spawned, and spawning re-imports the main module; inside it, so that they
# do not import the command line (and what it imports) they never use.
if __name__ == "__main__":
    from pipeline.cli import main

    status = main()
    # The command is done and the interpreter only tears down from here, restoring the default action of the
    # signals it handled on the way: a late SIGINT or SIGTERM (a second one, just as a graceful stop finished)
    # would then end the process with the signal instead of its exit status.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(status)
