"""Git servers on 127.0.0.1 for the fetch tests: ``git daemon``, smart HTTP(S) in front of ``git http-backend``, and
raw socket servers that misbehave on purpose (trickle, stay silent, flood refs, send garbage, cut a pack short).

Every server binds an ephemeral loopback port, serves from threads and stops on ``close()``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pygit2

ZERO_OID = "0" * 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited at start-up"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


@contextlib.contextmanager
def git_daemon(root: Path) -> Iterator[str]:
    """``git://127.0.0.1:<port>`` serving every repository under ``root``."""
    port = free_port()
    process = subprocess.Popen(
        [
            *["git", "daemon", "--reuseaddr", "--export-all", "--informative-errors"],
            *[f"--base-path={root}", "--listen=127.0.0.1", f"--port={port}", str(root)],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"git://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """``(key, certificate)`` for 127.0.0.1, 127.0.0.2 and localhost; the certificate is its own trust anchor."""
    key, certificate = directory / "key.pem", directory / "certificate.pem"
    subprocess.run(
        [
            *["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"],
            *["-addext", "subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost"],
            *["-keyout", str(key), "-out", str(certificate)],
        ],
        check=True,
        capture_output=True,
    )
    return key, certificate


@contextlib.contextmanager
def trusted_by_libgit2(certificate: Path) -> Iterator[None]:
    """libgit2 in this process trusts only ``certificate`` inside the block; its previous trust store after."""
    previous = (pygit2.settings.ssl_cert_file, pygit2.settings.ssl_cert_dir)
    pygit2.settings.set_ssl_cert_locations(str(certificate), None)
    try:
        yield
    finally:
        pygit2.settings.set_ssl_cert_locations(*previous)


def tls_context(key: Path, certificate: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return context


@dataclass
class Seen:
    """What a server received: every request's path and ``Authorization`` header."""

    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def authorizations(self) -> list[str]:
        return [header for _, header in self.requests if header is not None]

    def saw_token(self, token: str) -> bool:
        encoded = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        return any(encoded in header or token in header for header in self.authorizations())


class GitHttpServer:
    """Smart HTTP in front of ``git http-backend``.

    With ``token``, demands ``x-access-token:<token>`` basic auth (401 otherwise). With ``demand_auth`` and no
    matching token, every request is answered 401, so a client that has one must offer it. ``redirect_to`` answers
    every authorised request with a 302 to that base URL and the same path. ``status`` answers every request with
    that status instead of serving.
    """

    def __init__(
        self,
        project_root: Path,
        token: str | None,
        *,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        redirect_to: Callable[[], str] | None = None,
        status: int | None = None,
    ) -> None:
        expected = None if token is None else "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
        self.seen = Seen()
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet."""

            def do_GET(self) -> None:
                self.serve()

            def do_POST(self) -> None:
                self.serve()

            def answer(self, status: int, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def serve(self) -> None:
                seen.requests.append((self.path, self.headers.get("Authorization")))
                if status is not None:
                    self.answer(status)
                    return
                if expected is not None and self.headers.get("Authorization") != expected:
                    self.answer(401, {"WWW-Authenticate": 'Basic realm="git"'})
                    return
                if redirect_to is not None:
                    self.answer(302, {"Location": redirect_to() + self.path})
                    return
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                environ = {
                    "PATH": os.environ["PATH"],
                    "GIT_PROJECT_ROOT": str(project_root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "REQUEST_METHOD": self.command,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                }
                output = subprocess.run(
                    ["git", "http-backend"], input=body, env=environ, capture_output=True, check=True
                ).stdout
                head, _, payload = output.partition(b"\r\n\r\n")
                code = 200
                headers: list[tuple[str, str]] = []
                for line in head.decode().split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        code = int(value.split()[0])
                    else:
                        headers.append((name, value.strip()))
                self.send_response(code)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.host_port = f"{host}:{self.server.server_address[1]}"
        self.url = f"{scheme}://{self.host_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def pkt_line(payload: bytes) -> bytes:
    return f"{len(payload) + 4:04x}".encode() + payload


def advertisement(refs: int, *, oid: str = "1" * 40) -> Iterator[bytes]:
    """A protocol-v0 ref advertisement of ``refs`` branches (all at ``oid``), in chunks, ending with a flush."""
    capabilities = b"multi_ack thin-pack side-band side-band-64k ofs-delta shallow no-progress include-tag"
    yield pkt_line(f"{oid} HEAD\0".encode() + capabilities + b" symref=HEAD:refs/heads/b0\n")
    chunk: list[bytes] = []
    for index in range(refs):
        chunk.append(pkt_line(f"{oid} refs/heads/b{index}\n".encode()))
        if len(chunk) == 4096:
            yield b"".join(chunk)
            chunk = []
    yield b"".join(chunk) + b"0000"


Behaviour = Callable[[socket.socket, threading.Event], None]
"""What a raw server does with one accepted connection; the event is set when the server closes."""


class RawServer:
    """A TCP server on 127.0.0.1 running ``behaviour`` on each connection in a thread of its own."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port: int = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.connections = 0
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, args=(behaviour,), daemon=True)
        self._accepter.start()

    def url(self, scheme: str, path: str = "/repo.git") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _accept(self, behaviour: Behaviour) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(behaviour, connection), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, behaviour: Behaviour, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            behaviour(connection, self.stopped)

    def close(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._accepter.join(timeout=10)
        for thread in self._threads:
            thread.join(timeout=10)


def read_request(connection: socket.socket) -> bytes:
    """The first bytes a client sends (a git:// request line, or HTTP request headers)."""
    connection.settimeout(5)
    return connection.recv(65536)


def trickle(interval: float) -> Behaviour:
    """Answer a git:// request with a valid but endless ref advertisement, one byte every ``interval`` seconds."""

    def behaviour(connection: socket.socket, stopped: threading.Event) -> None:
        read_request(connection)
        for chunk in advertisement(1_000_000):
            for byte in chunk:
                if stopped.wait(interval):
                    return
                connection.sendall(bytes([byte]))

    return behaviour


def silent(connection: socket.socket, stopped: threading.Event) -> None:
    """Accept, read the request, never answer."""
    read_request(connection)
    stopped.wait(30)


def flood_refs(refs: int) -> Behaviour:
    """Answer a git:// request with an advertisement of ``refs`` refs, then wait for the client to hang up."""

    def behaviour(connection: socket.socket, stopped: threading.Event) -> None:
        read_request(connection)
        for chunk in advertisement(refs):
            if stopped.is_set():
                return
            connection.sendall(chunk)
        connection.settimeout(30)
        while connection.recv(65536):
            pass

    return behaviour


def garbage(connection: socket.socket, stopped: threading.Event) -> None:
    """Answer with bytes that are neither pkt-lines nor HTTP."""
    read_request(connection)
    connection.sendall(b"\xff\xfe this is not git \x00\x01\x02" * 50)


def cutting_proxy(upstream_port: int, *, keep_bytes: int) -> Behaviour:
    """Forward to ``upstream_port``, but close after the upstream has sent ``keep_bytes`` bytes (a cut pack)."""

    def behaviour(connection: socket.socket, stopped: threading.Event) -> None:
        with socket.create_connection(("127.0.0.1", upstream_port), timeout=10) as upstream:
            sent = 0

            def client_to_upstream() -> None:
                with contextlib.suppress(OSError):
                    while data := connection.recv(65536):
                        upstream.sendall(data)

            forward = threading.Thread(target=client_to_upstream, daemon=True)
            forward.start()
            while sent < keep_bytes and (data := upstream.recv(min(65536, keep_bytes - sent))):
                connection.sendall(data)
                sent += len(data)
            connection.shutdown(socket.SHUT_RDWR)
            upstream.close()
            forward.join(timeout=10)

    return behaviour


def endless_refs(connection: socket.socket, stopped: threading.Event) -> None:
    """Answer a git:// request with a ref advertisement that never ends (the same block of refs, again and again:
    libgit2 keeps every advertised ref, duplicates included)."""
    read_request(connection)
    first, *_ = advertisement(0)
    block = b"".join(pkt_line(f"{'2' * 40} refs/heads/b{index}\n".encode()) for index in range(4096))
    connection.sendall(first)
    while not stopped.is_set():
        connection.sendall(block)
