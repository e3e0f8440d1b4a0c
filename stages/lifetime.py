"""Dying with the parent process: shared by the pipeline's stage processes and the fetch stage's clone child.

Kept free of heavy imports so that a child can arm it before it imports anything else.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Final

PR_SET_PDEATHSIG: Final = 1  # linux/prctl.h
EXIT_ORPHANED: Final = 75  # a child whose parent was already gone when it started


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent ends, and exit now if ``parent`` is already gone.

    Checking after arming closes the race with a parent that died before: this process was then re-parented and
    its parent pid is no longer ``parent``. The kernel's "parent" is the *thread* that started the process, so it
    must be started by a thread that outlives it. Elsewhere than on Linux only the check runs.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(errno)}")
    if os.getppid() != parent:
        os._exit(EXIT_ORPHANED)
