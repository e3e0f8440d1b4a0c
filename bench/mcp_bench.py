"""Latency of an MCP tool call against the REST request it mirrors, side by side on one server: the real app under
uvicorn on an embedded Postgres, a small repository indexed by the real pipeline; REST with httpx (one connection),
``mcp-raw`` the same httpx client POSTing the JSON-RPC call to ``/mcp`` (the server's share), and the SDK's client
over streamable HTTP (``mcp-http``, one session) and over stdio (``mcp-stdio``, a ``python -m pipeline mcp``
process).

Run: ``python bench/mcp_bench.py [--calls N] [--reps R]``; prints, per question, the median time of one call in
each rep, then the median and range over the reps.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.append(str(BENCH_DIR.parent))

import anyio  # noqa: E402 - bench scripts run from a checkout
import httpx  # noqa: E402
import msgspec  # noqa: E402
import pygit2  # noqa: E402
import uvicorn  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from pipeline import index_jobs  # noqa: E402
from pipeline.api.app import create_app  # noqa: E402
from pipeline.config import Config, load_config  # noqa: E402
from pipeline.coordinator import Coordinator  # noqa: E402
from pipeline.db import connect  # noqa: E402
from pipeline.embedded_pg import EmbeddedPostgres  # noqa: E402
from pipeline.migrate import migrate  # noqa: E402
from pipeline.queue.client import Queue  # noqa: E402
from stages.fetch import parse_target  # noqa: E402

UTIL_TS = """\
export function helper(n: number): number {
  return n * 2;
}
export class Box {
  open(): number {
    return helper(1);
  }
}
"""
MAIN_TS = """\
import { helper, Box } from './util';
export function main(): number {
  return helper(2) + new Box().open();
}
"""
SOURCES = {"src/util.ts": UTIL_TS, "src/main.ts": MAIN_TS, "package.json": '{"dependencies": {"react": "^18.2.0"}}'}
REPO = "bench/app"
# (tool, its arguments, the REST path and query answering the same question)
QUESTIONS: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("search_symbols", {"q": "helper"}, f"/repositories/{REPO}/symbols", {"q": "helper"}),
    ("get_definition", {"path": "src/main.ts", "line": 3, "column": 9}, f"/repositories/{REPO}/definition",
     {"path": "src/main.ts", "line": 3, "column": 9}),
    ("file_outline", {"path": "src/util.ts"}, f"/repositories/{REPO}/files/src/util.ts/outline", {}),
    ("search_code", {"q": "helper("}, f"/repositories/{REPO}/search", {"q": "helper("}),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per question, transport and rep")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)  # uvicorn's access log, the SDK's per-request lines
    workdir = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
    workdir.chmod(0o755)
    server = EmbeddedPostgres(workdir / "pg", fsync=False, database="postgres")
    server.start()
    try:
        url = server.url("postgres")
        migrate(url, "pipeline")
        config_file = workdir / "bench.toml"
        config_file.write_text('[database]\nschema = "pipeline"\n[log]\nlevel = "warning"\n')
        base = load_config(config_file, environ={})
        config = msgspec.structs.replace(
            base,
            database=msgspec.structs.replace(base.database, url=url, schema="pipeline"),
            index=msgspec.structs.replace(base.index, parsers=1, jobs=1, tmp_dir=str(workdir / "work")),
            api=msgspec.structs.replace(base.api, allow_local_targets=True),
        )
        index_repository(config, workdir / "app")
        samples = measure(config, config_file, args.calls, args.reps)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"one call, ms: median of {args.calls} calls per rep; median and range over {args.reps} reps")
    for (question, transport), medians in samples.items():
        spread = f"{min(medians):.2f}-{max(medians):.2f}"
        print(f"  {question:<15} {transport:<10} {statistics.median(medians):6.2f}  ({spread})")


def index_repository(config: Config, path: Path) -> None:
    repo = pygit2.init_repository(str(path), initial_head="main")
    index = pygit2.Index()
    for name, text in SOURCES.items():
        index.add(pygit2.IndexEntry(name, repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB))
    signature = pygit2.Signature("Bench", "bench@example.test", 1_700_000_000, 0)
    repo.create_commit("HEAD", signature, signature, "bench", index.write_tree(repo), [])
    with connect(config.database.url, "pipeline", autocommit=True) as conn, Queue.from_config(config) as queue:
        job = index_jobs.enqueue(conn, queue, parse_target(str(path))).job
        if Coordinator(config, until_idle=True).run(install_signal_handlers=False) != 0:
            raise SystemExit("the index run failed")
        conn.execute("UPDATE repositories SET full_name = %s WHERE id = %s", [REPO, job.repository_id])


def measure(config: Config, config_file: Path, calls: int, reps: int) -> dict[tuple[str, str], list[float]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(config, environ={})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    stdio = StdioServerParameters(
        command=sys.executable,
        args=["-m", "pipeline", "mcp", "--config", str(config_file)],
        env={**os.environ, "PIPELINE_DATABASE_URL": config.database.url},
        cwd=BENCH_DIR.parent,
    )
    samples: dict[tuple[str, str], list[float]] = {}
    try:
        with httpx.Client(base_url=base) as http:
            for _ in range(reps):
                for tool, arguments, path, params in QUESTIONS:
                    request = http.build_request("GET", path, params=params)
                    samples.setdefault((tool, "rest"), []).append(timed(calls, partial(rest, http, request)))
                    raw = http.build_request(
                        "POST",
                        "/mcp",
                        json={
                            "jsonrpc": "2.0",
                            "id": 1,
                            "method": "tools/call",
                            "params": {"name": tool, "arguments": {"repository": REPO, **arguments}},
                        },
                        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"},
                    )
                    samples.setdefault((tool, "mcp-raw"), []).append(timed(calls, partial(rest, http, raw)))
                    for transport, target in (("mcp-http", f"{base}/mcp"), ("mcp-stdio", stdio)):
                        median = anyio.run(tool_timing, target, tool, {"repository": REPO, **arguments}, calls)
                        samples.setdefault((tool, transport), []).append(median)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    return samples


def rest(http: httpx.Client, request: httpx.Request) -> None:
    response = http.send(request)
    if response.status_code != 200 or b'"isError":true' in response.content:
        raise SystemExit(f"{request.url}: {response.status_code} {response.text}")


def timed(calls: int, once: Callable[[], None]) -> float:
    """The median milliseconds of one of ``calls`` calls (after ten to warm up)."""
    times = []
    for number in range(calls + 10):
        started = time.perf_counter()
        once()
        if number >= 10:
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def tool_timing(target: Any, tool: str, arguments: dict[str, Any], calls: int) -> float:
    async with Client(target, read_timeout_seconds=60) as client:
        await client.list_tools()
        return await timed_async(calls, lambda: call(client, tool, arguments))


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> None:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise SystemExit(f"{tool}: {result.content}")


async def timed_async(calls: int, once: Callable[[], Awaitable[None]]) -> float:
    times = []
    for number in range(calls + 10):
        started = time.perf_counter()
        await once()
        if number >= 10:
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
