"""End-to-end indexing throughput: the multiprocess pipeline against a single-process run over the same commit.

Indexes the npm corpus (``bench/corpus.py``: a local git repository of a few thousand real TS/JS files) twice:

1. in one process with ``pipeline.local.index_commit`` (read, parse+extract, link; no database), the baseline;
2. with the real pipeline, as a user runs it: ``python -m pipeline index REPO --commit SHA`` (coordinator,
   fetcher, N parsers, writer with binary COPY into Postgres, one transaction) against a private embedded cluster
   in a temp directory; the wall time includes starting the processes.

Prints files/s, MB/s, rows/s, the per-stage seconds the job recorded, the peak RSS of all pipeline processes (the
command and its children, sampled every 200 ms), CPU seconds per process, and the ratio of pipeline to
single-process throughput.

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

from pipeline.db import connect  # noqa: E402
from pipeline.embedded_pg import EmbeddedPostgres  # noqa: E402
from pipeline.local import index_commit  # noqa: E402
from pipeline.migrate import migrate  # noqa: E402
from stages.write import FileRow, SnapshotWriter  # noqa: E402

SCHEMA = "bench"

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


def server_cpu(postmaster_pid: int) -> float:
    """CPU seconds Postgres has used so far: the postmaster's own, its reaped children's (backends that exited:
    ``cutime``/``cstime``) and its live children's."""
    total = 0.0
    for pid, (_, cpu) in process_tree(postmaster_pid).items():
        total += cpu
        if pid == postmaster_pid:
            stat = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(stat[13]) + int(stat[14])) / CLOCK_TICKS
    return total


class PeakRss:
    """Samples a process tree in a thread: ``peak`` is the largest total RSS, ``cpu`` the last CPU seconds seen
    per process (children are sampled until they exit, so a short tail may be missed)."""

    def __init__(self, root_pid: int, every: float = 0.2) -> None:
        self.root_pid = root_pid
        self.every = every
        self.peak = 0
        self.peak_per_process: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            tree = process_tree(self.root_pid)
            self.peak = max(self.peak, sum(rss for rss, _ in tree.values()))
            self.cpu.update({pid: cpu for pid, (_, cpu) in tree.items()})
            for pid, (rss, _) in tree.items():
                self.peak_per_process[pid] = max(rss, self.peak_per_process.get(pid, 0))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def single_process(repo_path: Path, commit: str, url: str | None) -> tuple[float, int, float]:
    """Seconds and files of the in-process run; with ``url``, also the seconds to store it as the writer does
    (one transaction of binary COPY, on a fresh schema)."""
    repo = pygit2.Repository(str(repo_path))
    started = time.perf_counter()
    local = index_commit(repo, commit)
    seconds = time.perf_counter() - started
    if url is None:
        return seconds, len(local.files), 0.0
    with connect(url, "postgres", autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    migrate(url, SCHEMA)
    started = time.perf_counter()
    with connect(url, SCHEMA) as conn:
        repository = conn.execute(
            "INSERT INTO repositories (full_name, git_url) VALUES ('corpus', 'corpus') RETURNING id"
        ).fetchone()
        assert repository is not None
        writer = SnapshotWriter(conn, repository_id=repository[0], commit_sha=local.commit_sha)
        writer.begin()
        for file_idx, file in enumerate(local.files):
            writer.add_file(
                FileRow(file_idx=file_idx, path=file.path, blob_oid=file.blob_oid, extraction=file.extraction)
            )
        writer.finish(local.linked.linked, local.linked.package_versions)
        conn.commit()
    return seconds, len(local.files), time.perf_counter() - started


def pipeline_run(
    config_path: Path, url: str, repo_path: Path, commit: str, postmaster_pid: int
) -> tuple[float, dict[str, object], int, dict[int, float], float]:
    """Seconds, the job's stats, the peak RSS, CPU seconds per process of one ``index`` run on a fresh schema, and
    the CPU seconds Postgres used meanwhile."""
    with connect(url, "postgres", autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    env = {**os.environ, "PIPELINE_DATABASE_URL": url}
    command = [sys.executable, "-m", "pipeline", "index", str(repo_path), "--commit", commit, "--json"]
    server_cpu_before = server_cpu(postmaster_pid)
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--config", str(config_path)],
        cwd=BENCH_DIR.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    with PeakRss(process.pid) as rss:
        stdout, _ = process.communicate()
    seconds = time.perf_counter() - started
    job = msgspec.json.decode(stdout)
    if process.returncode != 0 or job["status"] != "completed":
        raise SystemExit(f"pipeline job ended {job['status']}: {job['error_message']}")
    print(
        "peak RSS per process (MB): "
        + ", ".join(
            f"{'command' if pid == process.pid else pid}: {value / 2**20:.0f}"
            for pid, value in sorted(rss.peak_per_process.items(), key=lambda item: -item[1])
        ),
        file=sys.stderr,
    )
    return seconds, job["stats"], rss.peak, rss.cpu, server_cpu(postmaster_pid) - server_cpu_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parsers", type=int, default=0, help="parser processes (0: one per CPU)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs of each")
    parser.add_argument("--single", help=argparse.SUPPRESS)  # the baseline's own process, given the database URL
    args = parser.parse_args()

    repo_path = build_corpus()
    commit = str(pygit2.Repository(str(repo_path)).head.target)
    if args.single:
        baselines = [single_process(repo_path, commit, args.single) for _ in range(args.rounds)]
        best = [min(r[0] for r in baselines), baselines[0][1], min(r[2] for r in baselines)]
        print(msgspec.json.encode(best).decode())
        return
    workdir = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    workdir.chmod(0o755)
    server = EmbeddedPostgres(workdir / "pg", fsync=True)
    try:
        url = server.start()
        # The baseline runs in its own process, so its memory does not count in the pipeline's peak RSS.
        baseline = subprocess.run(
            [sys.executable, __file__, "--single", url, "--rounds", str(args.rounds)],
            capture_output=True,
            text=True,
            check=True,
        )
        single = tuple(msgspec.json.decode(baseline.stdout.splitlines()[-1]))
        config_path = workdir / "bench.toml"
        config_path.write_text(
            f"[database]\nschema = '{SCHEMA}'\n[index]\nparsers = {args.parsers}\ntmp_dir = '{workdir / 'jobs'}'\n"
            "[log]\nlevel = 'warning'\nformat = 'json'\n"
        )
        postmaster = server.status().pid
        assert postmaster is not None
        runs = [pipeline_run(config_path, url, repo_path, commit, postmaster) for _ in range(args.rounds)]
        seconds, stats, _, cpu, postgres_cpu = min(runs, key=lambda run: run[0])
        peak = max(run[2] for run in runs)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    files = int(stats["files"])  # type: ignore[call-overload]
    megabytes = int(stats["bytes"]) / 1e6  # type: ignore[call-overload]
    rows = sum(int(stats[key]) for key in ("symbols", "references", "imports"))  # type: ignore[call-overload]
    single_seconds, single_files, store_seconds = single
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
    print(f"peak RSS       : {peak / 2**20:.0f} MB (the index command and all its processes)")
    cores = os.cpu_count() or 1
    total_cpu = sum(cpu.values()) + postgres_cpu
    print(
        f"CPU seconds    : {sum(cpu.values()):.1f} in the pipeline's processes: "
        f"{', '.join(f'{value:.1f}' for value in sorted(cpu.values(), reverse=True))}; {postgres_cpu:.1f} in Postgres"
    )
    print(
        f"CPU floor      : {total_cpu / cores:6.2f} s  (all that CPU spread over {cores} cores; the wall time is "
        f"{total_cpu / cores / seconds:.0%} busy)"
    )
    print(f"single + store : {single_seconds + store_seconds:6.2f} s  (the same, then stored in one process)")
    print(
        f"ratio          : {single_seconds / seconds:.2f}x the single-process throughput without storing, "
        f"{(single_seconds + store_seconds) / seconds:.2f}x with storing"
    )


if __name__ == "__main__":
    main()
