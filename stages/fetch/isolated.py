"""A network clone in a process of its own: killed at its deadline, bounded in memory, the only holder of the token.

Why a process and not a thread: libgit2 blocks in C while it reads from the server, and a thread blocked there
cannot be interrupted, so a server trickling a byte just under ``git_io_timeout`` would hold it for ever. A child
process is killed at the deadline, and its data segment can be bounded, so a flood of refs or a huge answer fails
there with ``LimitExceeded`` instead of growing the fetcher. The child also kills itself (``SIGALRM``, default
action) a few seconds after the deadline, so it cannot outlive a fetcher that died.

The token reaches the child through its stdin pipe only: never its argv, and every environment variable whose
value contains the token is left out of its environment. Errors come back as the ``FetchError`` class and message
the child raised.
"""

from __future__ import annotations

import math
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Final

import msgspec
import pygit2

from stages.fetch.clone import CLONE_DIR, clone_bare, set_network_timeouts
from stages.fetch.errors import FetchDeadlineExceeded, FetchError, TransportError
from stages.fetch.targets import RepoTarget, scrub

_CHILD_SELF_KILL_GRACE: Final = 5  # seconds past the deadline after which the child's own alarm ends it
_CHILD_COMMAND: Final = ("-c", "from stages.fetch.isolated import child_main; child_main()")
_IMPORT_ROOT: Final = str(Path(__file__).resolve().parents[2])
"""The directory holding the ``stages`` package, so the child imports this code even when it is not installed."""


class CloneRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What the child needs: ``clone_bare``'s arguments, libgit2's timeouts and the child's own bounds."""

    target: RepoTarget
    workdir: str
    token: str | None
    token_hosts: list[str]
    ref: str | None
    commit_sha: str | None
    depth: int | None
    max_refs: int | None
    connect_timeout: float
    io_timeout: float
    deadline: float
    memory_bytes: int | None


class CloneOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The child's answer: ``error`` is the name of the ``FetchError`` class it raised, ``None`` on success."""

    error: str | None = None
    message: str = ""


def clone_isolated(
    target: RepoTarget,
    workdir: Path,
    *,
    deadline: float,
    connect_timeout: float,
    io_timeout: float,
    token: str | None = None,
    token_hosts: Collection[str] = (),
    depth: int | None = None,
    ref: str | None = None,
    commit_sha: str | None = None,
    max_refs: int | None = None,
    memory_bytes: int | None = None,
) -> pygit2.Repository:
    """``clone_bare`` in a child process that is killed after ``deadline`` seconds; returns the opened clone.

    Raises what ``clone_bare`` raises, ``FetchDeadlineExceeded`` (retryable) at the deadline, and
    ``TransportError`` (retryable) if the child dies without an answer. ``memory_bytes`` bounds the child's data
    segment (a server's answer that does not fit raises ``LimitExceeded``).
    """
    request = CloneRequest(
        target=target,
        workdir=str(workdir),
        token=token,
        token_hosts=list(token_hosts),
        ref=ref,
        commit_sha=commit_sha,
        depth=depth,
        max_refs=max_refs,
        connect_timeout=connect_timeout,
        io_timeout=io_timeout,
        deadline=deadline,
        memory_bytes=memory_bytes,
    )
    environment = {name: value for name, value in os.environ.items() if not (token and token in value)}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, (_IMPORT_ROOT, environment.get("PYTHONPATH"))))
    child = subprocess.Popen(
        [sys.executable, *_CHILD_COMMAND],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        close_fds=True,
    )
    try:
        answer, errors = child.communicate(msgspec.msgpack.encode(request), timeout=deadline)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise FetchDeadlineExceeded(
            f"fetching {target.url} exceeded the fetch deadline of {deadline:g} s (the server is too slow)"
        ) from None
    try:
        outcome = msgspec.msgpack.decode(answer, type=CloneOutcome)
    except msgspec.DecodeError:
        last_line = scrub(errors.decode(errors="replace").strip().rpartition("\n")[2], token)
        raise TransportError(
            f"the clone process for {target.url} ended without an answer ({_describe_exit(child.returncode)})"
            + (f": {last_line}" if last_line else "")
        ) from None
    if outcome.error is not None:
        raise _error_class(outcome.error)(outcome.message)
    return pygit2.Repository(str(workdir / CLONE_DIR))


def child_main() -> None:
    """Body of the child: read one ``CloneRequest`` from stdin, clone, write one ``CloneOutcome`` to stdout."""
    request = msgspec.msgpack.decode(sys.stdin.buffer.read(), type=CloneRequest)
    signal.alarm(math.ceil(request.deadline) + _CHILD_SELF_KILL_GRACE)
    if request.memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_DATA, (request.memory_bytes, request.memory_bytes))
    set_network_timeouts(connect_seconds=request.connect_timeout, io_seconds=request.io_timeout)
    try:
        clone_bare(
            request.target,
            Path(request.workdir),
            token=request.token,
            token_hosts=request.token_hosts,
            depth=request.depth,
            ref=request.ref,
            commit_sha=request.commit_sha,
            max_refs=request.max_refs,
        )
        outcome = CloneOutcome()
    except FetchError as exc:
        outcome = CloneOutcome(error=type(exc).__name__, message=str(exc))
    except Exception as exc:  # anything else still answers, so the parent can tell the user what went wrong
        message = scrub(f"{type(exc).__name__}: {exc}", request.token).replace(request.workdir, "the clone")
        message = f"fetching {request.target.url} failed: {message}"
        outcome = CloneOutcome(error=TransportError.__name__, message=message)
    sys.stdout.buffer.write(msgspec.msgpack.encode(outcome))
    sys.stdout.buffer.flush()


def _error_class(name: str) -> type[FetchError]:
    classes: list[type[FetchError]] = [FetchError]
    for cls in classes:
        if cls.__name__ == name:
            return cls
        classes.extend(cls.__subclasses__())
    return TransportError


def _describe_exit(returncode: int) -> str:
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"
