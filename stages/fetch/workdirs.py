"""Per-job work directories under a temp root, marked as ours, locked by their live job and removed by whoever holds
the lock. Nothing without the marker is ever deleted: the temp root is usually shared (the system temp directory)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from stages.fetch.errors import WorkdirUnavailable

logger = logging.getLogger(__name__)

WORKDIR_PREFIX: Final = "pipeline-"
WORKDIR_MARKER: Final = ".pipeline-job-workdir"
"""A file inside every job directory: what makes a ``pipeline-*`` entry ours to delete."""
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@contextlib.contextmanager
def job_workdir(tmp_root: Path, job_id: str) -> Iterator[Path]:
    """Create ``<tmp_root>/pipeline-<job_id>/`` for one job and remove it when the block ends, however it ends.

    While the block runs, the process holds an exclusive ``flock`` on the directory itself, so
    ``cleanup_stale_workdirs`` in any process keeps it; the kernel drops the lock when the owner dies (even by
    SIGKILL), which is what makes a crashed run's directory stale. A directory is only ever deleted by the holder of
    its lock: a leftover of an earlier attempt of the same job is replaced once its lock is free, and the directory
    is removed before the lock is released; a removal that fails is logged, never raised, so it cannot replace the
    block's own outcome (the fetcher may already have reported the job done). ``job_id`` must be a plain name
    (letters, digits, ``_.-``) so it cannot escape ``tmp_root``. A temp root that cannot hold the directory raises
    ``WorkdirUnavailable`` naming it; so does a foreign non-empty directory of the same name, which is left alone.
    """
    if not _JOB_ID.match(job_id):
        raise ValueError(f"job id {job_id!r} is not usable in a directory name")
    workdir = tmp_root / f"{WORKDIR_PREFIX}{job_id}"
    try:
        tmp_root.mkdir(parents=True, exist_ok=True)
        lock_fd = _create_locked_dir(workdir)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise WorkdirUnavailable(f"temp directory {tmp_root} cannot hold a job's clone: {reason}") from None
    try:
        yield workdir
    finally:
        try:
            shutil.rmtree(workdir)
        except OSError as exc:  # the job's own outcome stands; start-up cleanup removes the marked leftover
            logger.warning("a job directory could not be removed", extra={"workdir": str(workdir), "error": str(exc)})
        finally:
            os.close(lock_fd)


def _create_locked_dir(path: Path) -> int:
    """Create ``path`` afresh and return a descriptor holding an exclusive lock on it.

    A cleanup in another process may lock and delete the new directory before this process locks it; the identity
    check after locking notices that and starts over.
    """
    while True:
        _remove_entry(path, wait=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not _same_file(path, fd):
            os.close(fd)
            continue
        if not _is_marked(fd) and os.listdir(fd):
            os.close(fd)
            raise WorkdirUnavailable(f"{path} exists and was not created by this system; it is left alone")
        marker = os.open(WORKDIR_MARKER, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600, dir_fd=fd)
        os.close(marker)
        return fd


def cleanup_stale_workdirs(tmp_root: Path, active_job_ids: Iterable[str] = ()) -> list[Path]:
    """Remove the job directories under ``tmp_root`` left by crashed runs; return those removed.

    Removed: ``pipeline-*`` directories holding ``WORKDIR_MARKER`` whose lock is free (their job's process is gone),
    deleted while holding that lock so no job can be using them. Kept: directories of ``active_job_ids``, those
    locked by a live ``job_workdir`` (in any process), and everything without the marker: files, symlinks (never
    followed) and directories that other programs named ``pipeline-*`` (an embedded cluster's data or socket
    directory, a benchmark's database).
    """
    if not tmp_root.is_dir():
        return []
    active = {f"{WORKDIR_PREFIX}{job_id}" for job_id in active_job_ids}
    return [
        entry
        for entry in sorted(tmp_root.iterdir())
        if entry.name.startswith(WORKDIR_PREFIX) and entry.name not in active and _remove_entry(entry, wait=False)
    ]


def _remove_entry(path: Path, *, wait: bool) -> bool:
    """Remove a job directory under its lock (waiting for it, or giving up when it is held), if it is ours.

    Ours: it holds ``WORKDIR_MARKER``, or (when replacing a job's own directory, ``wait``) it is empty, which is
    what a crash between creating and marking it leaves. Returns whether something was removed. Concurrent
    removers are safe: whoever holds the lock deletes.
    """
    try:
        is_dir = stat.S_ISDIR(path.lstat().st_mode)
    except FileNotFoundError:
        return False
    if not is_dir:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:  # gone, or replaced by something that is not a directory since the lstat
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if not _same_file(path, fd) or not (_is_marked(fd) or (wait and not os.listdir(fd))):
            return False
        shutil.rmtree(path)
        return True
    finally:
        os.close(fd)


def _is_marked(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.stat(WORKDIR_MARKER, dir_fd=fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def _same_file(path: Path, fd: int) -> bool:
    try:
        on_disk = path.lstat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)
