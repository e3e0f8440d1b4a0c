"""End to end: the pipeline against ctags and the in-process runner, full and incremental, CPU, rows and memory.

On the corpus of ``bench/pipeline_corpus.py`` (11 pinned npm packages as one git repository, a base commit and an
edit commit that changes every 100th file, and the base tree twice over), each rep runs, one after the other:

1. ``ctags -R --fields=+n`` on the checked-out base tree (tags only, no database): the yardstick;
2. the in-process runner ``pipeline.local.run_local`` (clone, read, parse+extract, link in one process; no
   database), as its own Python process;
3. ``python -m pipeline index REPO --commit BASE`` on a fresh database (migrated beforehand, so nothing is reused
   and the migrations are not timed): the full index;
4. ``python -m pipeline index REPO --commit EDIT`` right after it on the same database: the incremental index;
5. the full index of the doubled corpus on a fresh database: memory growth;
6. ``index`` of a 1-file repository and ``run --until-idle`` on the then empty queue: start-up.

Every command is timed from start to exit, as a user sees it. The reps are interleaved (the machine's speed drifts),
and every figure is the median of the reps with their range; ratios are taken within a rep, then summarised.

What is counted, per pipeline command:
- CPU: every CPU-second of the command's processes (its own and its reaped children's, from ``getrusage``) and of
  Postgres (the postmaster and all its processes, ``/proc``) while the command ran. The **CPU floor** is that sum
  over the cores: the wall time the run could not go below with every core busy all along.
- Rows written: the per-table ``n_tup_ins + n_tup_upd + n_tup_del`` deltas of ``pg_stat_user_tables`` around the
  command; rows stored: the inserted ones. Postgres CPU per stored row divides the two.
- Peak RSS: the command and its descendants sampled every 100 ms, the largest sum and each process's largest;
  stage processes are named from the coordinator's "stage processes started" log record.
- Others' CPU: what the rest of the machine used meanwhile (``/proc/stat``). The machine is shared, so wall
  times move with it; CPU-seconds much less, and the report gives both.

Each pipeline command starts with Postgres idle (no autovacuum worker, no other session; waited for, bounded). All
runs use a private embedded cluster in a temp directory (fsync on), removed at the end.

Run: ``python bench/pipeline_bench.py [--reps 3] [--parsers 0]``. It prints the side-by-side table, the job stats,
and the issue's targets with our value next to each, as Markdown for the README.
"""

# ruff: noqa: RUF001 - the report prints multiplication signs, en dashes and micro signs, as the README does

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
for directory in (BENCH_DIR, PROJECT_DIR):
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))

from pipeline_corpus import PipelineCorpus, build_pipeline_corpus  # noqa: E402 - bench scripts run from a checkout

from pipeline.embedded_pg import EmbeddedPostgres  # noqa: E402

CORES = os.cpu_count() or 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
SAMPLE_SECONDS = 0.1
IDLE_TIMEOUT = 60.0  # how long a run waits for Postgres to go idle before it starts anyway (and says so)
COMMAND_TIMEOUT = 900.0
MB = 2**20
README_BEGIN = "<!-- pipeline_bench output: begin -->"
README_END = "<!-- pipeline_bench output: end -->"

RUN_LOCAL = (
    "import sys; from pathlib import Path; from pipeline.local import run_local; "
    "run_local(sys.argv[1], commit_sha=sys.argv[2], tmp_root=Path(sys.argv[3]))"
)


# -- processes: CPU and memory from /proc -----------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3… of ``/proc/PID/stat`` (after the command name), or None if the process is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children(pid: int) -> list[int]:
    """The live children of a process, from each of its threads' ``children`` file (no scan of all of /proc)."""
    found: list[int] = []
    try:
        tasks = list((Path("/proc") / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def process_tree(root_pid: int) -> dict[int, tuple[int, float]]:
    """pid → (resident bytes, CPU seconds of its own) for a process and all its live descendants."""
    tree: dict[int, tuple[int, float]] = {}
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        fields = _stat_fields(pid)
        if fields is None:
            continue
        tree[pid] = (int(fields[21]) * PAGE_BYTES, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
        stack.extend(children(pid))
    return tree


def server_cpu(postmaster_pid: int) -> float:
    """CPU seconds Postgres has used so far: the postmaster's own, its reaped children's (backends that exited:
    ``cutime``/``cstime``) and its live children's."""
    total = sum(cpu for _, cpu in process_tree(postmaster_pid).values())
    fields = _stat_fields(postmaster_pid)
    assert fields is not None, f"the postmaster {postmaster_pid} is gone"
    return total + (int(fields[13]) + int(fields[14])) / CLOCK_TICKS


class TreeSampler:
    """Samples a process tree in a thread every ``SAMPLE_SECONDS``: ``peak`` is the largest total RSS seen,
    ``peak_per_process`` each process's largest, ``cpu`` each process's last CPU seconds seen (a process is seen
    until it exits, so its last tenth of a second may be missed: totals come from ``getrusage``)."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.peak = 0
        self.peak_per_process: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)

    def sample(self) -> None:
        tree = process_tree(self.root_pid)
        self.peak = max(self.peak, sum(rss for rss, _ in tree.values()))
        for pid, (rss, cpu) in tree.items():
            self.peak_per_process[pid] = max(rss, self.peak_per_process.get(pid, 0))
            self.cpu[pid] = cpu

    def _run(self) -> None:
        self.sample()
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def machine_cpu() -> float:
    """CPU seconds all cores of the machine have been busy since boot (``/proc/stat``: everything but idle and
    iowait)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (and of what they reaped) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- Postgres: databases, idleness, row counters ----------------------------------------------------------------------


class Cluster:
    """The private cluster: fresh databases on demand, and what the runs read of it."""

    def __init__(self, server: EmbeddedPostgres) -> None:
        self.server = server
        pid = server.status().pid
        assert pid is not None, "the embedded cluster is not running"
        self.postmaster = pid

    def url(self, database: str) -> str:
        return self.server.url(database)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def wait_idle(self, database: str, *, timeout: float = IDLE_TIMEOUT) -> bool:
        """Wait until no autovacuum worker runs and no other session is connected to ``database``; False if that
        did not happen within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            while True:
                busy = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND "
                    "(backend_type = 'autovacuum worker' OR (backend_type = 'client backend' AND datname = %s))",
                    (database,),
                ).fetchone()
                assert busy is not None
                if busy[0] == 0:
                    return True
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)

    def row_counters(self, database: str) -> dict[str, tuple[int, int, int]]:
        """schema.table → (inserted, updated, deleted) rows so far, as the statistics collector has them."""
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            rows = conn.execute(
                "SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
            ).fetchall()
        return {name: (ins, upd, dele) for name, ins, upd, dele in rows}


@dataclass(frozen=True)
class Rows:
    """Rows one command wrote: per table (inserted, updated, deleted)."""

    per_table: dict[str, tuple[int, int, int]]

    @property
    def inserted(self) -> int:
        return sum(ins for ins, _, _ in self.per_table.values())

    @property
    def written(self) -> int:
        return sum(sum(counts) for counts in self.per_table.values())

    @staticmethod
    def between(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]) -> Rows:
        per_table: dict[str, tuple[int, int, int]] = {}
        for table, counts in after.items():
            previous = before.get(table, (0, 0, 0))
            delta = (counts[0] - previous[0], counts[1] - previous[1], counts[2] - previous[2])
            if any(delta):
                per_table[table] = delta
        return Rows(per_table)


# -- one timed command ------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One command, start to exit."""

    wall: float
    cpu: float  # the command's processes
    peak_rss: int  # summed over its processes
    peak_by_process: dict[str, int]
    cpu_by_process: dict[str, float]
    stdout: str
    machine_cpu: float  # every CPU-second the machine spent meanwhile, ours and others'
    postgres_cpu: float = 0.0
    rows: Rows = field(default_factory=lambda: Rows({}))
    job: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_floor(self) -> float:
        return (self.cpu + self.postgres_cpu) / CORES

    @property
    def machine_busy(self) -> float:
        """The share of all cores busy (ours, Postgres, others) during the run: near 100 %, a run's distance from
        its CPU floor is other work's, not idle waiting of its own."""
        return max(self.machine_cpu, self.cpu + self.postgres_cpu) / (CORES * self.wall)

    @property
    def others_cpu(self) -> float:
        """CPU-seconds other work on the machine took meanwhile (this machine is shared): what slows a run
        beyond its CPU floor without being its fault."""
        return max(self.machine_cpu - self.cpu - self.postgres_cpu, 0.0)


def stage_names(stderr: str) -> dict[int, str]:
    """pid → stage name from the coordinator's "stage processes started" log record (fetcher, parsers in order,
    writer); empty when the record is not there."""
    names: dict[int, str] = {}
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("msg") != "stage processes started":
            continue
        pids = record.get("pids") or []
        for index, pid in enumerate(pids):
            names[pid] = "fetch" if index == 0 else "write" if index == len(pids) - 1 else f"parse-{index - 1}"
    return names


def run_command(command: Sequence[str], environment: dict[str, str], name: str) -> Run:
    """Run ``command`` to its end, sampling its process tree; exit on failure, printing its stderr."""
    cpu_before, machine_before = children_cpu(), machine_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeSampler(process.pid) as sampler:
        try:
            stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise SystemExit(f"{name}: still running after {COMMAND_TIMEOUT:.0f} s: {' '.join(command)}") from None
    wall = time.perf_counter() - started
    cpu, machine = children_cpu() - cpu_before, machine_cpu() - machine_before
    if process.returncode != 0:
        raise SystemExit(f"{name}: exit {process.returncode}: {' '.join(command)}\n{stderr[-4000:]}")
    names = {process.pid: "command", **stage_names(stderr)}
    peak_by_process: dict[str, int] = {}
    cpu_by_process: dict[str, float] = {}
    for pid, peak in sampler.peak_per_process.items():
        label = names.get(pid, "other")
        peak_by_process[label] = peak_by_process.get(label, 0) + peak
        cpu_by_process[label] = cpu_by_process.get(label, 0.0) + sampler.cpu.get(pid, 0.0)
    return Run(wall, cpu, sampler.peak, peak_by_process, cpu_by_process, stdout, machine)


@dataclass
class Bench:
    """What every rep uses: the corpus, the cluster, the config, the commands' environment."""

    corpus: PipelineCorpus
    cluster: Cluster
    workdir: Path
    config: Path
    one_file_repo: Path

    def environment(self, database_url: str | None = None) -> dict[str, str]:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PIPELINE_")}
        if database_url is not None:
            environment["PIPELINE_DATABASE_URL"] = database_url
        return environment

    def pipeline(self, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "pipeline", "--config", str(self.config), *arguments]

    def ctags(self) -> Run:
        tags = self.workdir / "tags"
        run = run_command(
            ["ctags", "-R", "--fields=+n", "-f", str(tags), str(self.corpus.tree)], self.environment(), "ctags"
        )
        tags.unlink()
        return run

    def run_local(self) -> Run:
        command = [sys.executable, "-c", RUN_LOCAL, str(self.corpus.repo), self.corpus.base_commit, str(self.workdir)]
        return run_command(command, self.environment(), "run_local")

    def migrate(self, database: str) -> str:
        url = self.cluster.create_database(database)
        run_command(self.pipeline("db", "migrate"), self.environment(url), "db migrate")
        return url

    def with_postgres(self, database: str, command: list[str], name: str) -> Run:
        """Run a pipeline command against ``database`` once Postgres is idle; count Postgres's CPU meanwhile and
        the rows written."""
        if not self.cluster.wait_idle(database):
            print(f"warning: Postgres still busy after {IDLE_TIMEOUT:.0f} s; starting anyway", file=sys.stderr)
        counters = self.cluster.row_counters(database)
        postgres_before = server_cpu(self.cluster.postmaster)
        run = run_command(command, self.environment(self.cluster.url(database)), name)
        self.cluster.wait_idle(database, timeout=10.0)  # the command's backends flush their counters as they exit
        run.postgres_cpu = server_cpu(self.cluster.postmaster) - postgres_before
        run.rows = Rows.between(counters, self.cluster.row_counters(database))
        return run

    def index(self, database: str, repo: Path, commit: str | None) -> Run:
        """``pipeline index`` as a user runs it; the job's record is ``Run.job``."""
        command = self.pipeline("--json", "index", str(repo), *(["--commit", commit] if commit else []))
        run = self.with_postgres(database, command, f"index {repo.name} {commit or 'HEAD'}")
        run.job = json.loads(run.stdout)
        if run.job.get("status") != "completed":
            status, error = run.job.get("status"), run.job.get("error_message")
            raise SystemExit(f"index of {repo} at {commit or 'HEAD'}: the job ended {status}: {error}")
        if "write" not in run.peak_by_process:
            print(
                "warning: no 'stage processes started' log record with the stage pids: memory and CPU per process "
                "are shown as 'other'",
                file=sys.stderr,
            )
        return run

    def until_idle(self, database: str) -> Run:
        return self.with_postgres(database, self.pipeline("run", "--until-idle"), "run --until-idle")


@dataclass
class Rep:
    ctags: Run
    local: Run
    full: Run
    incremental: Run
    doubled: Run
    one_file: Run
    idle: Run


def run_rep(bench: Bench, rep: int) -> Rep:
    print(f"rep {rep + 1}: ctags", file=sys.stderr, end="", flush=True)
    ctags = bench.ctags()
    print(", run_local", file=sys.stderr, end="", flush=True)
    local = bench.run_local()
    print(", full", file=sys.stderr, end="", flush=True)
    database = f"bench_{rep}"
    bench.migrate(database)
    full = bench.index(database, bench.corpus.repo, bench.corpus.base_commit)
    print(", incremental", file=sys.stderr, end="", flush=True)
    incremental = bench.index(database, bench.corpus.repo, bench.corpus.edit_commit)
    bench.cluster.drop_database(database)
    print(", doubled", file=sys.stderr, end="", flush=True)
    bench.migrate(f"{database}_doubled")
    doubled = bench.index(f"{database}_doubled", bench.corpus.doubled_repo, bench.corpus.doubled_commit)
    bench.cluster.drop_database(f"{database}_doubled")
    print(", 1 file, until-idle", file=sys.stderr, flush=True)
    bench.migrate(f"{database}_small")
    one_file = bench.index(f"{database}_small", bench.one_file_repo, None)
    idle = bench.until_idle(f"{database}_small")
    bench.cluster.drop_database(f"{database}_small")
    return Rep(ctags, local, full, incremental, doubled, one_file, idle)


# -- the report -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measure over the reps: median and range."""

    values: tuple[float, ...]

    @staticmethod
    def of(reps: Sequence[Rep], measure: Callable[[Rep], float]) -> Figure:
        return Figure(tuple(measure(rep) for rep in reps))

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, form: str, scale: float = 1.0, suffix: str = "") -> str:
        low, high = min(self.values) * scale, max(self.values) * scale
        return f"{self.median * scale:{form}}{suffix} ({low:{form}}–{high:{form}})"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    rules = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rules, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def _memory(run: Run) -> str:
    order = sorted(run.peak_by_process.items(), key=lambda item: (item[0] != "command", item[0]))
    return ", ".join(f"{name} {peak / MB:.0f}" for name, peak in order)


def _cost_row(label: str, runs: Sequence[Run]) -> list[str]:
    """CPU, rows and memory of one kind of index run over the reps."""

    def fig(measure: Callable[[Run], float]) -> Figure:
        return Figure(tuple(measure(run) for run in runs))

    return [
        label,
        fig(lambda run: run.cpu).show(".1f"),
        fig(lambda run: run.postgres_cpu).show(".1f"),
        fig(lambda run: run.wall / run.cpu_floor).show(".2f", suffix="×"),
        fig(lambda run: run.machine_busy).show(".0f", scale=100, suffix=" %"),
        fig(lambda run: run.rows.written).show(",.0f"),
        fig(lambda run: run.rows.inserted).show(",.0f"),
        fig(lambda run: run.postgres_cpu / max(run.rows.inserted, 1)).show(".2f", scale=1e6),
        fig(lambda run: run.peak_rss).show(".0f", scale=1 / MB),
    ]


def _growth(reps: Sequence[Rep], process: str) -> Figure:
    """How much one process's peak RSS grows from the corpus to the doubled corpus."""
    return Figure.of(
        reps, lambda r: r.doubled.peak_by_process.get(process, 0) / max(r.full.peak_by_process[process], 1)
    )


def report(corpus: PipelineCorpus, reps: Sequence[Rep], parsers: int) -> str:
    """Markdown: between the README markers what the README shows (side by side, costs, memory, the targets), then
    the details (CPU per process, the jobs' stats, rows per table)."""

    def fig(measure: Callable[[Rep], float]) -> Figure:
        return Figure.of(reps, measure)

    lines: list[str] = [README_BEGIN]
    lines.append(
        f"Corpus: {corpus.files:,} files, {corpus.bytes / 1e6:.1f} MB (11 pinned npm packages); the edit commit "
        f"changes {corpus.edited_files} files; the doubled corpus is {2 * corpus.files:,} files. "
        f"{len(reps)} interleaved reps on {CORES} cores, {parsers or CORES} parsers; median (range)."
    )
    lines.append("")
    commands: list[tuple[str, Callable[[Rep], Run], bool]] = [
        ("`ctags -R --fields=+n` (tags only, no database)", lambda r: r.ctags, True),
        ("`run_local`: the in-process runner (no database)", lambda r: r.local, True),
        ("`pipeline index`, full (fresh database)", lambda r: r.full, True),
        ("`pipeline index`, incremental (the edit commit, right after)", lambda r: r.incremental, True),
        ("`pipeline index`, doubled corpus (fresh database)", lambda r: r.doubled, True),
        ("`pipeline index` of a 1-file repository", lambda r: r.one_file, False),
        ("`pipeline run --until-idle`, empty queue", lambda r: r.idle, False),
    ]
    rows = []
    for name, pick, compared in commands:
        runs = [pick(rep) for rep in reps]
        pairs = list(zip(runs, reps, strict=True))
        rows.append(
            [
                name,
                Figure(tuple(run.wall for run in runs)).show(".2f"),
                Figure(tuple(run.wall / rep.full.wall for run, rep in pairs)).show(".2f", suffix="×")
                if compared
                else "",
                Figure(tuple(run.cpu + run.postgres_cpu for run in runs)).show(".1f"),
                Figure(
                    tuple((run.cpu + run.postgres_cpu) / (rep.full.cpu + rep.full.postgres_cpu) for run, rep in pairs)
                ).show(".2f", suffix="×")
                if compared
                else "",
                Figure(tuple(run.others_cpu for run in runs)).show(".1f"),
            ]
        )
    header = ["command", "wall s", "÷ full index", "CPU-s (with Postgres)", "÷ full index", "others' CPU-s meanwhile"]
    lines.append(_table(header, rows, "lrrrrr"))
    lines.append("")
    cpu_rows = [
        _cost_row("full", [rep.full for rep in reps]),
        _cost_row("incremental", [rep.incremental for rep in reps]),
        _cost_row("doubled", [rep.doubled for rep in reps]),
    ]
    lines.append(
        _table(
            [
                "index",
                "CPU-s, its processes",
                "CPU-s, Postgres",
                "wall / CPU floor",
                "machine busy",
                "rows written",
                "rows inserted",
                "Postgres µs / inserted row",
                "peak RSS MB, summed",
            ],
            cpu_rows,
            "lrrrrrrrr",
        )
    )
    lines.append("")
    last = reps[-1]
    lines.append("Peak RSS per process, MB (last rep; fetch, parse-N and write are the stage processes):")
    lines.append("")
    for label, run in (("full", last.full), ("doubled", last.doubled)):
        lines.append(f"- {label}: {_memory(run)}")
    growth = {name: _growth(reps, name) for name in last.full.peak_by_process}
    lines.append(
        "- growth, doubled vs full: summed "
        + fig(lambda r: r.doubled.peak_rss / r.full.peak_rss).show(".2f", suffix="×")
        + "; "
        + ", ".join(f"{name} {figure.show('.2f', suffix='×')}" for name, figure in sorted(growth.items()))
    )
    lines.append("")
    lines.append(targets(reps))
    lines.append(README_END)
    lines.append("")
    lines.append("Details (last rep):")
    lines.append("")
    lines.append(f"- peak RSS per process, MB, incremental: {_memory(last.incremental)}")
    for label, run in (("full", last.full), ("incremental", last.incremental)):
        cpu = ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(run.cpu_by_process.items()))
        lines.append(f"- CPU seconds per process, {label} (sampled): {cpu}")
    for label, run in (("full", last.full), ("incremental", last.incremental), ("doubled", last.doubled)):
        lines.append(f"- the job's stats, {label}: `{json.dumps(run.job.get('stats'), separators=(',', ':'))}`")
    per_table = sorted(last.incremental.rows.per_table.items(), key=lambda item: -sum(item[1]))
    lines.append(
        "- rows written per table, incremental (inserted/updated/deleted): "
        + ", ".join(f"{table.split('.')[-1]} {i:,}/{u:,}/{d:,}" for table, (i, u, d) in per_table)
    )
    return "\n".join(lines)


def targets(reps: Sequence[Rep]) -> str:
    """The issue's targets table with our value next to each."""

    def row(measure: str, ours: str, target: str, met: bool, beyond: str = "") -> list[str]:
        return [measure, ours, target, beyond, "met" if met else "**missed**"]

    def fig(measure: Callable[[Rep], float]) -> Figure:
        return Figure.of(reps, measure)

    vs_ctags = fig(lambda r: r.full.wall / r.ctags.wall)
    vs_local = fig(lambda r: r.local.wall / r.full.wall)
    vs_floor = fig(lambda r: r.full.wall / r.full.cpu_floor)
    incremental_wall = fig(lambda r: r.incremental.wall / r.full.wall)
    incremental_rows = fig(lambda r: r.incremental.rows.written / r.full.rows.written)
    per_row = fig(lambda r: r.full.postgres_cpu / r.full.rows.inserted * 1e6)
    peak = fig(lambda r: r.full.peak_rss / MB)
    growth = fig(lambda r: r.doubled.peak_rss / r.full.peak_rss)
    one_file = fig(lambda r: r.one_file.wall)
    idle = fig(lambda r: r.idle.wall)
    rows = [
        row(
            "full index vs `ctags -R --fields=+n`",
            vs_ctags.show(".2f", suffix="× slower"),
            "≤ 2.5×",
            vs_ctags.median <= 2.5,
            "≤ 1.8×",
        ),
        row(
            "`pipeline index` speed-up over `run_local`",
            vs_local.show(".2f", suffix="×"),
            "≥ 1.2×",
            vs_local.median >= 1.2,
        ),
        row(
            "wall time vs the CPU floor (with Postgres)",
            vs_floor.show(".2f", suffix="×"),
            "≤ 1.15×",
            vs_floor.median <= 1.15,
        ),
        row(
            "re-index after the 1 % commit: wall time",
            incremental_wall.show(".1f", scale=100, suffix=" %"),
            "≤ 5 %",
            incremental_wall.median <= 0.05,
            "≤ 2 %",
        ),
        row(
            "re-index after the 1 % commit: rows written",
            incremental_rows.show(".1f", scale=100, suffix=" %"),
            "≤ 5 %",
            incremental_rows.median <= 0.05,
            "≤ 2 %",
        ),
        row("Postgres CPU per stored row", per_row.show(".2f", suffix=" µs"), "≤ 2.5 µs", per_row.median <= 2.5),
        row("peak RSS, all processes summed", peak.show(".0f", suffix=" MB"), "≤ 300 MB", peak.median <= 300),
        row("peak RSS growth when the corpus doubles", growth.show(".2f", suffix="×"), "≤ ×1.1", growth.median <= 1.1),
        row("`index` of a 1-file repository", one_file.show(".2f", suffix=" s"), "≤ 0.7 s", one_file.median <= 0.7),
        row("`run --until-idle` on an empty queue", idle.show(".2f", suffix=" s"), "≤ 1.0 s", idle.median <= 1.0),
    ]
    return _table(["measure", "ours: median (range)", "target", "beyond", ""], rows, "lrrrl")


# -- main -------------------------------------------------------------------------------------------------------------


@contextmanager
def private_cluster(workdir: Path) -> Iterator[Cluster]:
    server = EmbeddedPostgres(workdir / "pg", fsync=True)
    server.start()
    try:
        yield Cluster(server)
    finally:
        server.stop()


def one_file_repository(path: Path) -> Path:
    """A git repository with one small TypeScript file: what start-up costs."""
    path.mkdir()
    (path / "index.ts").write_text("export function one(value: number): number {\n  return value + 1;\n}\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "init", "--quiet"], cwd=path, check=True)
    subprocess.run([*git, "add", "--all"], cwd=path, check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "one file"], cwd=path, check=True)
    return path


def ensure_ctags() -> None:
    """Install universal-ctags with apt when ``ctags`` is missing (the bench needs it as its yardstick)."""
    if shutil.which("ctags") is None:
        installed = subprocess.run(["apt-get", "install", "-y", "universal-ctags"], check=False)
        if installed.returncode != 0:
            raise SystemExit("`ctags` is missing and `apt-get install -y universal-ctags` failed (apt-get update?)")
    version = subprocess.run(["ctags", "--version"], capture_output=True, text=True, check=True).stdout
    if "Universal Ctags" not in version:
        raise SystemExit(f"`ctags` is not universal-ctags: {version.splitlines()[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="interleaved reps of every command (default 3)")
    parser.add_argument("--parsers", type=int, default=0, help="parser processes (default 0: one per CPU)")
    args = parser.parse_args()

    ensure_ctags()
    corpus = build_pipeline_corpus()
    workdir = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    workdir.chmod(0o755)  # the cluster's own user must reach its data directory
    try:
        config = workdir / "bench.toml"
        config.write_text(
            f"[index]\nparsers = {args.parsers}\ntmp_dir = '{workdir / 'jobs'}'\n"
            "[log]\nlevel = 'info'\nformat = 'json'\n"
        )
        with private_cluster(workdir) as cluster:
            bench = Bench(corpus, cluster, workdir, config, one_file_repository(workdir / "one-file"))
            reps = [run_rep(bench, rep) for rep in range(args.reps)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(report(corpus, reps, args.parsers))


if __name__ == "__main__":
    main()
