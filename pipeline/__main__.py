"""``python -m pipeline``: see ``pipeline.cli``."""

import atexit
import contextlib
import os
import signal
import sys

# The guard matters: stage processes are spawned, and spawning re-imports the main module; inside it, so that they
# do not import the command line (and what it imports) they never use.
if __name__ == "__main__":
    status: int | None = None  # set once ``main`` has returned

    def _exit_without_teardown() -> None:
        """Registered first, so it runs last of the exit handlers (logging's, multiprocess's, temp files'): once
        they ran, end the process with the status ``main`` returned instead of tearing the interpreter down, which
        takes 50-150 ms with the database driver, git and the terminal library loaded, for nothing. When ``main``
        did not return (``--help``, an exception), the interpreter exits as usual and reports it."""
        if status is None:
            return
        with contextlib.suppress(OSError):  # a closed pipe: what was left to print is lost either way
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)

    atexit.register(_exit_without_teardown)
    from pipeline.cli import main

    status = main()
    # The command is done: a late SIGINT or SIGTERM (a second one, just as a graceful stop finished) must not end
    # the process with the signal instead of its exit status.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(status)
