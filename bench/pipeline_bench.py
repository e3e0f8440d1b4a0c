"""End-to-end indexing throughput: the multiprocess pipeline against a single-process run over the same commit.

Indexes the npm corpus (``bench/corpus.py``: a local git repository of a few thousand real TS/JS files) twice:

1. in one process with ``pipeline.local.index_commit`` (read, parse+extract, link; no database), the baseline;
2. with the real pipeline (``python -m pipeline index`` semantics: coordinator, fetcher, N parsers, writer with
   binary COPY into Postgres, one transaction), on a private embedded cluster in a temp directory.

Prints files/s, MB/s, rows/s, the per-stage seconds the job recorded, the peak RSS of all pipeline processes (the
coordinator and its children, sampled every 50 ms), and the ratio of pipeline to single-process throughput.

Run: ``python bench/pipeline_bench.py [--parsers N] [--rounds R]`` (builds the corpus first if needed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgspec
import pygit2

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent))

from corpus import build_corpus  # noqa: E402 - bench scripts run from a checkout

from pipeline import index_jobs  # noqa: E402
from pipeline.config import Config, DatabaseConfig, EmbeddedConfig, IndexConfig  # noqa: E402
from pipeline.coordinator import Coordinator  # noqa: E402
from pipeline.db import connect  # noqa: E402
from pipeline.embedded_pg import EmbeddedPostgres  # noqa: E402
from pipeline.local import index_commit  # noqa: E402
from pipeline.migrate import migrate  # noqa: E402
from pipeline.queue.client import Queue  # noqa: E402
from stages.fetch import parse_target  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(root_pid: int) -> dict[int, tuple[int, float]]:
    """pid → (resident bytes, CPU seconds) for a process and all its descendants."""
    children: dict[int, list[int]] = {}
    usage: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(pid)
        cpu = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
        usage[pid] = (int(fields.get("VmRSS", "0 kB").split()[0]) * 1024, cpu)
    tree: dict[int, tuple[int, float]] = {}
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        if pid in usage:
            tree[pid] = usage[pid]
        stack.extend(children.get(pid, []))
    return tree


class PeakRss:
    """Samples this process tree in a thread: ``peak`` is the largest total RSS, ``cpu`` the last CPU seconds seen
    per process (children are sampled until they exit, so a short tail may be missed)."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            tree = process_tree(os.getpid())
            self.peak = max(self.peak, sum(rss for rss, _ in tree.values()))
            self.cpu.update({pid: cpu for pid, (_, cpu) in tree.items()})

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def single_process(repo_path: Path, commit: str) -> tuple[float, int, int]:
    """Seconds, files and rows of the in-process run (no database)."""
    repo = pygit2.Repository(str(repo_path))
    started = time.perf_counter()
    local = index_commit(repo, commit)
    seconds = time.perf_counter() - started
    rows = sum(
        len(f.extraction.symbols) + len(f.extraction.references) + len(f.extraction.imports) for f in local.files
    )
    return seconds, len(local.files), rows


def pipeline_run(
    config: Config, url: str, repo_path: Path, commit: str
) -> tuple[float, dict[str, object], int, dict[int, float]]:
    """Seconds, the job's stats, the peak RSS and CPU seconds per process of one pipeline run on a fresh schema."""
    with connect(url, "postgres", autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {config.database.schema} CASCADE")
    migrate(url, config.database.schema)
    with Queue(url, config.database.schema, config.queue) as queue, connect(url, config.database.schema) as conn:
        job_id = index_jobs.enqueue(conn, queue, parse_target(str(repo_path)), commit_sha=commit).job.id
        conn.commit()
    coordinator = Coordinator(config, until_index_job=job_id)
    with PeakRss() as rss:
        started = time.perf_counter()
        coordinator.run(install_signal_handlers=False)
        seconds = time.perf_counter() - started
    with connect(url, config.database.schema, autocommit=True) as conn:
        job = index_jobs.get(conn, job_id)
    assert job is not None
    if job.status != index_jobs.IndexJobStatus.COMPLETED:
        raise SystemExit(f"pipeline job ended {job.status}: {job.error_message}")
    return seconds, job.stats, rss.peak, rss.cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parsers", type=int, default=0, help="parser processes (0: one per CPU)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs of each")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)  # the baseline's own process
    args = parser.parse_args()

    repo_path = build_corpus()
    commit = str(pygit2.Repository(str(repo_path)).head.target)
    if args.single:
        print(msgspec.json.encode(min(single_process(repo_path, commit) for _ in range(args.rounds))).decode())
        return
    # The baseline runs in its own process, so its memory does not count in the pipeline's peak RSS.
    baseline = subprocess.run(
        [sys.executable, __file__, "--single", "--rounds", str(args.rounds)],
        capture_output=True,
        text=True,
        check=True,
    )
    single = tuple(msgspec.json.decode(baseline.stdout.splitlines()[-1]))
    workdir = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    workdir.chmod(0o755)
    server = EmbeddedPostgres(workdir / "pg", fsync=True)
    try:
        url = server.start()
        config = Config(
            database=DatabaseConfig(url=url, schema="bench", embedded=EmbeddedConfig()),
            index=IndexConfig(parsers=args.parsers, tmp_dir=str(workdir / "jobs")),
        )
        config = msgspec.structs.replace(config, log=msgspec.structs.replace(config.log, level="warning"))
        runs = [pipeline_run(config, url, repo_path, commit) for _ in range(args.rounds)]
        seconds, stats, _, cpu = min(runs, key=lambda run: run[0])
        peak = max(run[2] for run in runs)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    files = int(stats["files"])  # type: ignore[call-overload]
    megabytes = int(stats["bytes"]) / 1e6  # type: ignore[call-overload]
    rows = sum(int(stats[key]) for key in ("symbols", "references", "imports"))  # type: ignore[call-overload]
    single_seconds, single_files, _ = single
    print(f"corpus: {files} files, {megabytes:.1f} MB, {rows} rows (symbols+references+imports); cpus {os.cpu_count()}")
    print(
        f"single process : {single_seconds:6.2f} s  {single_files / single_seconds:7.0f} files/s  "
        f"{megabytes / single_seconds:5.2f} MB/s"
    )
    print(
        f"pipeline       : {seconds:6.2f} s  {files / seconds:7.0f} files/s  {megabytes / seconds:5.2f} MB/s  "
        f"{rows / seconds:8.0f} rows/s  (incl. COPY into Postgres and process start)"
    )
    print(f"stage seconds  : {stats['seconds']}")
    print(f"peak RSS       : {peak / 2**20:.0f} MB (coordinator and all stage processes)")
    print(
        f"CPU seconds    : {sum(cpu.values()):.1f} in the pipeline's processes: "
        f"{', '.join(f'{value:.1f}' for value in sorted(cpu.values(), reverse=True))}"
    )
    print(f"ratio          : {single_seconds / seconds:.2f}x the single-process throughput")


if __name__ == "__main__":
    main()
