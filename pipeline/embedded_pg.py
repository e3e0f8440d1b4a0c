"""A private Postgres cluster for development, demos and tests: initialised on first use, reused afterwards.

Guarantees:
- The server listens only on a unix socket in a private directory (no TCP port to clash with).
- When this process runs as root, ``initdb`` and the server run as an unprivileged user (``postgres`` if that system
  user exists, else ``nobody``); the data directory is owned by that user. No system user is ever created.
- If that user cannot reach the requested data directory (for example a checkout under a root-only home), or the
  socket path would be too long for a unix socket, a directory under the system temp dir is used instead and logged.
- Concurrent ``start`` calls (threads or processes) serialise on a lock file: one cluster, started once.
- A stale ``postmaster.pid`` left by a crash (its pid dead, or reused by a process that is not this cluster's
  postmaster) is removed before starting.
- ``initdb``, ``pg_ctl`` and the server get only an allow-listed environment (``server_environment``): the server
  outlives the command that started it, and must not carry that command's secrets (access tokens, URLs).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import importlib.util
import logging
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from pipeline.config import EmbeddedConfig
from pipeline.errors import EmbeddedPostgresError

logger = logging.getLogger(__name__)

PORT = 5432  # only names the socket file; nothing listens on TCP
SUPERUSER = "postgres"
# sun_path is 108 bytes on Linux; keep a margin below it for ".s.PGSQL.5432.lock".
MAX_SOCKET_DIR_BYTES = 100 - len(f"/.s.PGSQL.{PORT}.lock")
# What the server tools need of the caller's environment: where programs are, the locale, the time zone.
ENVIRONMENT_ALLOWED = ("PATH", "LANG", "LANGUAGE", "TZ")
ENVIRONMENT_ALLOWED_PREFIXES = ("LC_",)
INSTALL_HINT = (
    "install the PostgreSQL server (Debian/Ubuntu: `apt-get install postgresql`), "
    "or `pip install 'repo-indexer-pipeline[pgserver]'`, or set PIPELINE_PG_BIN to a directory containing initdb"
)


@dataclass(frozen=True)
class ServerUser:
    """The OS identity the server runs as; ``None`` fields mean 'the current process identity'."""

    name: str
    uid: int
    gid: int

    @property
    def is_current(self) -> bool:
        return self.uid == os.geteuid()


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    pid: int | None
    data_dir: Path
    socket_dir: Path
    user: str
    url: str


def find_bin_dir(configured: str = "", environ: Mapping[str, str] | None = None) -> Path:
    """Locate Postgres server binaries: PIPELINE_PG_BIN, then config, then ``pg_config --bindir``, then the newest
    ``/usr/lib/postgresql/*/bin``, then the optional ``pgserver`` wheel. Raises with an install hint if none."""
    environ = os.environ if environ is None else environ
    candidates: list[tuple[str, Path]] = []
    if environ.get("PIPELINE_PG_BIN"):
        candidates.append(("PIPELINE_PG_BIN", Path(environ["PIPELINE_PG_BIN"])))
    if configured:
        candidates.append(("database.embedded.bin_dir", Path(configured)))
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(("pg_config --bindir", Path(result.stdout.strip())))
    versioned = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path)],
        reverse=True,
    )
    candidates.extend(("/usr/lib/postgresql", Path(path)) for path in versioned)
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        candidates.append(("pgserver wheel", Path(spec.origin).parent / "pginstall" / "bin"))
    for origin, path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
        if origin in ("PIPELINE_PG_BIN", "database.embedded.bin_dir"):
            raise EmbeddedPostgresError(f"{origin}={path}: no initdb and pg_ctl there; {INSTALL_HINT}")
    looked = ", ".join(f"{origin} ({path})" for origin, path in candidates) or "nowhere"
    raise EmbeddedPostgresError(f"no PostgreSQL server binaries found (looked in: {looked}); {INSTALL_HINT}")


def server_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment ``initdb``, ``pg_ctl`` and the server run with: the allow-listed variables of ``environ``
    (default: this process's), nothing else."""
    environ = os.environ if environ is None else environ
    return {
        name: value
        for name, value in environ.items()
        if name in ENVIRONMENT_ALLOWED or name.startswith(ENVIRONMENT_ALLOWED_PREFIXES)
    }


def choose_server_user(run_as: str = "") -> ServerUser | None:
    """The unprivileged user to run the server as when we are root; ``None`` when we are not root."""
    if os.geteuid() != 0:
        return None
    names = [run_as] if run_as else ["postgres", "nobody"]
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid == 0:
            raise EmbeddedPostgresError(f"database.embedded.run_as={name!r} is root; Postgres refuses to run as root")
        return ServerUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid)
    raise EmbeddedPostgresError(
        f"running as root and no unprivileged user to run Postgres as (tried: {', '.join(names)}); "
        "create one or run as a normal user"
    )


def can_reach(path: Path, user: ServerUser | None) -> bool:
    """Whether ``user`` can traverse every ancestor of ``path`` (mode bits; ACLs are not consulted)."""
    if user is None:
        return True
    groups = set(os.getgrouplist(user.name, user.gid))
    for ancestor in [path, *path.parents]:
        try:
            info = ancestor.stat()
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(info.st_mode):
            return False
        if info.st_uid == user.uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


def _fallback_dir(requested: Path, purpose: str) -> Path:
    digest = hashlib.sha256(str(requested).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"pipeline-{purpose}-{digest}"


class EmbeddedPostgres:
    """Manage one private cluster. Cheap to construct; nothing happens until ``start``/``stop``/``status``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        bin_dir: Path | None = None,
        run_as: str = "",
        database: str = "pipeline",
        fsync: bool = True,
        start_timeout: float = 60.0,
    ) -> None:
        self.requested_data_dir = data_dir.expanduser().absolute()
        self._bin_dir = bin_dir
        self.user = choose_server_user(run_as)
        self.database = database
        self.fsync = fsync
        self.start_timeout = start_timeout
        self.data_dir = self._effective_data_dir()
        self.socket_dir = self._effective_socket_dir()

    @classmethod
    def from_config(cls, config: EmbeddedConfig) -> EmbeddedPostgres:
        return cls(
            Path(config.data_dir),
            bin_dir=Path(config.bin_dir) if config.bin_dir else None,
            run_as=config.run_as,
            database=config.database,
            fsync=config.fsync,
            start_timeout=config.start_timeout,
        )

    # -- locations ------------------------------------------------------------------------------------------------

    def _effective_data_dir(self) -> Path:
        requested = self.requested_data_dir
        if can_reach(requested.parent, self.user):
            return requested
        return _fallback_dir(requested, "pg") / "data"

    def _effective_socket_dir(self) -> Path:
        if len(os.fsencode(self.data_dir)) <= MAX_SOCKET_DIR_BYTES:
            return self.data_dir
        return _fallback_dir(self.data_dir, "pgsock")

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None or not (self._bin_dir / "initdb").is_file():
            self._bin_dir = find_bin_dir(str(self._bin_dir or ""))
        return self._bin_dir

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def url(self, database: str | None = None) -> str:
        """A libpq URL for the cluster, usable by psql and psycopg (unix socket, trust auth)."""
        return f"postgresql://{SUPERUSER}@/{quote(database or self.database)}?host={quote(str(self.socket_dir))}"

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> str:
        """Initialise if needed, start if not running, create the database; return its URL. Idempotent."""
        with self._lock():
            self._prepare_dirs()
            if not (self.data_dir / "PG_VERSION").is_file():
                self._initdb()
            self._write_managed_settings()
            if self._running_pid() is None:
                self._start_server()
            self._ensure_database()
        return self.url()

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are disconnected, data is safe). No-op if not running."""
        with self._lock():
            if self._running_pid() is None:
                return
            result = self._run([str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])
            if result.returncode != 0:
                raise EmbeddedPostgresError(f"pg_ctl stop failed for {self.data_dir}: {result.stderr.strip()}")
            logger.info("embedded postgres stopped", extra={"data_dir": str(self.data_dir)})

    def status(self) -> ClusterStatus:
        pid = self._running_pid(remove_stale=False)
        return ClusterStatus(
            running=pid is not None,
            pid=pid,
            data_dir=self.data_dir,
            socket_dir=self.socket_dir,
            user=self.user.name if self.user else pwd.getpwuid(os.geteuid()).pw_name,
            url=self.url(),
        )

    # -- steps ----------------------------------------------------------------------------------------------------

    @contextmanager
    def _lock(self) -> Iterator[None]:
        lock_path = self.data_dir.parent / f".{self.data_dir.name}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _prepare_dirs(self) -> None:
        if self.data_dir != self.requested_data_dir:
            logger.warning(
                "data directory not reachable by the server user; using a temp location",
                extra={"requested": str(self.requested_data_dir), "data_dir": str(self.data_dir)},
            )
        if self.socket_dir != self.data_dir:
            logger.info("socket path too long inside the data directory", extra={"socket_dir": str(self.socket_dir)})
        for directory in {self.data_dir, self.socket_dir}:
            self._private_dir(directory)

    def _private_dir(self, directory: Path) -> None:
        """``directory`` (created if missing), readable by the server user alone."""
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        if self.user is not None:
            os.chown(directory, self.user.uid, self.user.gid)

    def _initdb(self) -> None:
        """Initialise the cluster in a staging directory beside the data directory, then rename it onto the (empty)
        data directory: an initdb interrupted halfway (a signal, a crash) never leaves a data directory that looks
        initialised (``PG_VERSION`` is written early) but cannot start; the next start initialises afresh."""
        started = time.monotonic()
        staging = self.data_dir.parent / f".{self.data_dir.name}.initdb"
        shutil.rmtree(staging, ignore_errors=True)  # what an interrupted initdb left
        self._private_dir(staging)
        command = [
            str(self.bin_dir / "initdb"),
            "-D",
            str(staging),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ]
        if not self.fsync:
            command.append("--no-sync")
        result = self._run(command)
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed in {self.data_dir}: {result.stderr.strip()[-2000:]}")
        with (staging / "postgresql.conf").open("a") as conf:
            conf.write("\n# Settings managed by the pipeline (rewritten at every start).\ninclude 'pipeline.conf'\n")
        try:
            staging.rename(self.data_dir)  # replaces the data directory only while it is empty
        except OSError as exc:
            raise EmbeddedPostgresError(
                f"cannot initialise {self.data_dir}: it holds files but no cluster ({exc.strerror}); "
                "move them away or choose another data directory"
            ) from None
        logger.info(
            "embedded postgres initialised",
            extra={"data_dir": str(self.data_dir), "seconds": round(time.monotonic() - started, 3)},
        )

    def _write_managed_settings(self) -> None:
        settings = {
            "listen_addresses": "''",
            "port": str(PORT),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "unix_socket_permissions": "0700",
            "max_connections": "200",
            "fsync": "on" if self.fsync else "off",
            "full_page_writes": "on" if self.fsync else "off",
            "synchronous_commit": "on" if self.fsync else "off",
        }
        path = self.data_dir / "pipeline.conf"
        path.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        if self.user is not None:
            os.chown(path, self.user.uid, self.user.gid)

    def _running_pid(self, *, remove_stale: bool = True) -> int | None:
        """The postmaster's pid if this cluster is running; removes a stale ``postmaster.pid`` (under the lock)."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            first_line = pid_file.read_text().split("\n", 1)[0]
        except FileNotFoundError:
            return None
        pid = int(first_line) if first_line.strip().isdigit() else None
        if pid is not None and _is_postmaster_of(pid, self.data_dir):
            return pid
        if not remove_stale:
            return None
        logger.warning("removing stale postmaster.pid", extra={"data_dir": str(self.data_dir), "stale_pid": pid})
        pid_file.unlink(missing_ok=True)
        for lock in self.socket_dir.glob(".s.PGSQL.*.lock"):
            lock.unlink(missing_ok=True)
        return None

    def _start_server(self) -> None:
        started = time.monotonic()
        deadline = started + self.start_timeout
        while True:
            remaining = max(1, int(deadline - time.monotonic()))
            result = self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(remaining),
                ]
            )
            if result.returncode == 0:
                break
            log_tail = self._log_tail()
            # Backends of a killed postmaster can hold the old shared memory for a moment: wait for them.
            if "shared memory block is still in use" in log_tail and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise EmbeddedPostgresError(
                f"embedded postgres failed to start in {self.data_dir} (log {self.log_file}): {log_tail[-1500:]}"
            )
        logger.info(
            "embedded postgres started",
            extra={
                "data_dir": str(self.data_dir),
                "socket_dir": str(self.socket_dir),
                "user": self.status().user,
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    def _ensure_database(self) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database]).fetchone()
            if exists is None:
                # Another client of the same cluster may create it between the check and here: that is fine.
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no server log)"

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        environment = server_environment()
        if self.user is None or self.user.is_current:
            return subprocess.run(command, capture_output=True, text=True, check=False, cwd="/", env=environment)
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
            env=environment,
            user=self.user.uid,
            group=self.user.gid,
            extra_groups=[],
        )


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is alive and is a postgres process serving ``data_dir`` (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    if not cmdline or not os.path.basename(cmdline[0]).startswith((b"postgres", b"postmaster")):
        return False
    try:
        return Path(f"/proc/{pid}/cwd").resolve() == data_dir.resolve()
    except OSError:
        return os.fsencode(data_dir) in cmdline
