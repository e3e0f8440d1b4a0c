"""Per-job work directories under a temp root, locked by their live job and removed by whoever holds the lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

WORKDIR_PREFIX: Final = "pipeline-"
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@contextlib.contextmanager
def job_workdir(tmp_root: Path, job_id: str) -> Iterator[Path]:
    """Create ``<tmp_root>/pipeline-<job_id>/`` for one job and remove it when the block ends, however it ends.

    While the block runs, the process holds an exclusive ``flock`` on the directory itself, so
    ``cleanup_stale_workdirs`` in any process keeps it; the kernel drops the lock when the owner dies (even by
    SIGKILL), which is what makes a crashed run's directory stale. A directory is only ever deleted by the holder of
    its lock: a leftover of an earlier attempt of the same job is replaced once its lock is free, and the directory
    is removed before the lock is released. ``job_id`` must be a plain name (letters, digits, ``_.-``) so it cannot
    escape ``tmp_root``.
    """
    if not _JOB_ID.match(job_id):
        raise ValueError(f"job id {job_id!r} is not usable in a directory name")
    workdir = tmp_root / f"{WORKDIR_PREFIX}{job_id}"
    tmp_root.mkdir(parents=True, exist_ok=True)
    lock_fd = _create_locked_dir(workdir)
    try:
        yield workdir
    finally:
        try:
            shutil.rmtree(workdir)
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
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_file(path, fd):
            return fd
        os.close(fd)


def cleanup_stale_workdirs(tmp_root: Path, active_job_ids: Iterable[str] = ()) -> list[Path]:
    """Remove the ``pipeline-*`` entries under ``tmp_root`` left by crashed runs; return those removed.

    Kept: directories of ``active_job_ids`` and directories locked by a live ``job_workdir`` (in any process).
    Anything else with the prefix is removed: directories while holding their lock, so no job can be using them;
    plain files and symlinks are unlinked, never followed.
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
    """Remove a workdir entry; a directory only under its lock (waiting for it, or giving up when it is held).

    Returns whether something was removed. Concurrent removers are safe: whoever holds the lock deletes.
    """
    try:
        is_dir = stat.S_ISDIR(path.lstat().st_mode)
    except FileNotFoundError:
        return False
    if not is_dir:
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return False
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:  # gone, or replaced by something that is not a directory since the lstat
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if not _same_file(path, fd):
            return False
        shutil.rmtree(path)
        return True
    finally:
        os.close(fd)


def _same_file(path: Path, fd: int) -> bool:
    try:
        on_disk = path.lstat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)
