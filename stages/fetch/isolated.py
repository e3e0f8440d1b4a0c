"""A network clone in a process of its own: killed at its deadline, bounded in memory, the only holder of the token.

Why a process and not a thread: libgit2 blocks in C while it reads from the server, and a thread blocked there
cannot be interrupted, so a server trickling a byte just under ``git_io_timeout`` would hold it for ever. A child
process is killed at the deadline, and its data segment can be bounded, so a flood of refs or a huge answer fails
there with ``LimitExceeded`` instead of growing the fetcher.

The child never outlives its parent: before anything else it asks the kernel to SIGKILL it when the thread that
started it ends (``stages.lifetime.die_with_parent``: a fetcher killed mid-clone takes its clones with it), and its
own alarm (``SIGALRM``, default action) ends it a few seconds after the deadline whatever happens. A ``CloneCancel``
kills it on demand (an aborted job). It writes no core file, which would hold the token.

The token reaches the child through its stdin pipe only, never its argv nor its environment. The child talks to
hostile servers, so its environment is built from an allow-list (``CHILD_ENVIRONMENT``: what Python, libgit2,
OpenSSL and an ssh agent read), not copied: database URLs and other secrets of the fetcher never reach it, and a
variable whose value holds the token is left out even if allowed. Errors come back as the ``FetchError`` class
and message the child raised.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Final

import msgspec
import pygit2

from stages.fetch.clone import CLONE_DIR, clone_bare, set_network_timeouts
from stages.fetch.errors import CloneCancelled, FetchDeadlineExceeded, FetchError, LimitExceeded, TransportError
from stages.fetch.targets import RepoTarget, scrub

logger = logging.getLogger(__name__)

_CHILD_SELF_KILL_GRACE: Final = 5  # seconds past the deadline after which the child's own alarm ends it
_CHILD_COMMAND: Final = (
    "-c",
    "import sys; from stages.lifetime import die_with_parent; die_with_parent(int(sys.argv[1]));"
    " from stages.fetch.isolated import child_main; child_main()",
)
"""Arms the parent-death signal before importing anything heavy; the parent's pid is the one argument."""
_IMPORT_ROOT: Final = str(Path(__file__).resolve().parents[2])
"""The directory holding the ``stages`` package, so the child imports this code even when it is not installed."""
CHILD_ENVIRONMENT: Final = frozenset(
    {
        "PATH",
        "HOME",  # libgit2's global git config and ~/.ssh
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "LD_LIBRARY_PATH",  # a Python or libgit2 installed outside the system's library path
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "XDG_CONFIG_HOME",  # libgit2's global git config
        "SSL_CERT_FILE",  # OpenSSL's CA bundle, which libgit2's https uses
        "SSL_CERT_DIR",
        "SSH_AUTH_SOCK",  # the ssh agent, the one credential used for ssh URLs
        "http_proxy",  # libgit2 reads proxies from the environment
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
    }
)
"""The environment variables the clone child gets from the fetcher (and any ``LC_*``); nothing else."""


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
    """The child's answer: ``error`` is the name of the ``FetchError`` class it raised, ``None`` on success;
    ``peak_memory_bytes`` is the child's own peak resident size (logged, so a bound can be chosen from real runs)."""

    error: str | None = None
    message: str = ""
    peak_memory_bytes: int = 0


class CloneCancel:
    """Lets another thread end a running ``clone_isolated``: ``cancel`` kills its child now, or as soon as it starts,
    and the clone raises ``CloneCancelled``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self.cancelled = False

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._child is not None:
                self._child.kill()

    def _started(self, child: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._child = child
            if self.cancelled:
                child.kill()


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
    cancel: CloneCancel | None = None,
) -> pygit2.Repository:
    """``clone_bare`` in a child process that is killed after ``deadline`` seconds; returns the opened clone.

    Raises what ``clone_bare`` raises, ``FetchDeadlineExceeded`` (retryable) at the deadline, and
    ``TransportError`` (retryable) if the child dies without an answer. ``memory_bytes`` bounds the child's data
    segment (a server's answer that does not fit raises ``LimitExceeded``). ``cancel`` kills the child from another
    thread (``CloneCancelled``).
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
    environment = _child_environment(os.environ, token)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, (_IMPORT_ROOT, environment.get("PYTHONPATH"))))
    child = subprocess.Popen(
        [sys.executable, *_CHILD_COMMAND, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        close_fds=True,
    )
    if cancel is not None:
        cancel._started(child)
    try:
        answer, errors = child.communicate(msgspec.msgpack.encode(request), timeout=deadline)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise FetchDeadlineExceeded(
            f"fetching {target.url} exceeded the fetch deadline of {deadline:g} s (the server is too slow)"
        ) from None
    if cancel is not None and cancel.cancelled:
        raise CloneCancelled(f"fetching {target.url} was cancelled")
    try:
        outcome = msgspec.msgpack.decode(answer, type=CloneOutcome)
    except msgspec.DecodeError:
        last_line = scrub(errors.decode(errors="replace").strip().rpartition("\n")[2], token)
        raise TransportError(
            f"the clone process for {target.url} ended without an answer ({_describe_exit(child.returncode)})"
            + (f": {last_line}" if last_line else "")
        ) from None
    logger.debug("clone process finished", extra={"peak_memory_bytes": outcome.peak_memory_bytes})
    if outcome.error is not None:
        raise _error_class(outcome.error)(outcome.message)
    return pygit2.Repository(str(workdir / CLONE_DIR))


def child_main() -> None:
    """Body of the child (started by ``_CHILD_COMMAND``): read one ``CloneRequest`` from stdin, clone, write one
    ``CloneOutcome`` to stdout."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # before the token is read: a core dump would hold it
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
        error, message = None, ""
    except FetchError as exc:
        error, message = type(exc).__name__, str(exc)
    except MemoryError:  # outside libgit2 calls too (building the list of advertised refs)
        error, message = LimitExceeded.__name__, f"{request.target.url} sent more than the fetch may hold in memory"
    except Exception as exc:  # anything else still answers, so the parent can tell the user what went wrong
        description = scrub(f"{type(exc).__name__}: {exc}", request.token).replace(request.workdir, "the clone")
        error, message = TransportError.__name__, f"fetching {request.target.url} failed: {description}"
    outcome = CloneOutcome(error=error, message=message, peak_memory_bytes=_peak_resident_bytes())
    sys.stdout.buffer.write(msgspec.msgpack.encode(outcome))
    sys.stdout.buffer.flush()


def _peak_resident_bytes() -> int:
    """This process's own peak resident size (``VmHWM``), 0 where ``/proc`` does not say.

    Not ``getrusage``: its ``ru_maxrss`` survives ``exec`` and so includes the parent's size at ``fork``.
    """
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # reported in kB
    return 0


def _child_environment(parent: Mapping[str, str], token: str | None) -> dict[str, str]:
    """The allow-listed part of ``parent`` (see ``CHILD_ENVIRONMENT``), without any value holding ``token``."""
    return {
        name: value
        for name, value in parent.items()
        if (name in CHILD_ENVIRONMENT or name.startswith("LC_")) and not (token and token in value)
    }


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
