"""Start-up cost of the CLI as a user runs it: ``index`` of a 1-file repository and ``run --until-idle`` on an empty
queue, wall time of the whole command (interpreter start to exit), and where that time goes.

Usage: python bench/startup_bench.py [--reps N] [--peer REF]

Builds, in a temp directory, a private embedded cluster (fsync off), a config pointing at it, and a git repository
of one TypeScript file; then, per repetition, ``python -m pipeline index`` of a fresh copy of that repository (so
every run indexes a new repository, as a first ``index`` does) and ``python -m pipeline run --until-idle`` on the
queue those runs left empty. Prints median and range over the repetitions, and the median of each step of the
breakdown (read from the commands' own debug log lines, timed from the command's start).

``--peer REF`` runs the same commands, interleaved with ours in every repetition, on the tree of a git revision of
this repository (``git archive``; the built ``stages._native`` of this checkout is copied into it, which is right
only when ``stages/native`` is the same in both: the script says when it is not), each side on a database of its
own in the same cluster; both sides import their tree through PYTHONPATH. Compare the two sides of one run only:
this machine's speed drifts between runs (``--peer HEAD`` on an unchanged checkout shows the noise: the two sides
of one run differed by up to 10 % here).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "export function add(a: number, b: number): number {\n  return a + b;\n}\n"

# Breakdown steps: (label, logger, message); the time of a step is that of its log line's first (or, for the stage
# processes, last) occurrence, from the command's start.
MARKS = (
    ("worker started (imports, config, migrations, enqueue)", "pipeline.queue.worker", "worker started"),
    ("stage processes spawned", "pipeline.coordinator", "stage processes started"),
    ("fetcher ready", "pipeline.processes", "stage process started:fetch"),
    ("all stage processes ready", "pipeline.processes", "stage process started"),
    ("job committed", "pipeline.processes.writer", "job committed"),
    ("worker stopped", "pipeline.queue.worker", "worker stopped"),
)


@dataclass
class Side:
    """One tree under test: ours (this checkout) or a peer revision."""

    name: str
    environment: dict[str, str]
    config: Path
    walls: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    marks: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repository(path: Path) -> None:
    path.mkdir(parents=True)
    (path / "add.ts").write_text(SOURCE)
    git("init", "-q", cwd=path)
    git("add", ".", cwd=path)
    git("-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "one file", cwd=path)


def write_config(path: Path, work: Path, database: str) -> None:
    path.write_text(
        "[database.embedded]\n"
        f"data_dir = '{work / 'pg'}'\n"
        f"database = '{database}'\n"
        "fsync = false\n"
        "[index]\n"
        f"tmp_dir = '{work / 'jobs'}'\n"
        "[log]\n"
        "level = 'debug'\n"
        "format = 'json'\n"
    )


@contextmanager
def peer_tree(ref: str, work: Path) -> Iterator[Path]:
    tree = work / "peer-tree"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    for native in (ROOT / "stages").glob("_native*.so"):
        shutil.copy2(native, tree / "stages" / native.name)
    if subprocess.run(["git", "diff", "--quiet", ref, "--", "stages/native"], cwd=ROOT, check=False).returncode:
        print(f"note: stages/native differs between {ref} and this checkout; the peer runs this checkout's build")
    # compiled now, as this checkout's modules were when they were first imported, not during the first repetition
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "pipeline"), str(tree / "stages")], check=True)
    yield tree


def timed(side: Side, command: str, argv: list[str]) -> None:
    """Run ``python -m pipeline`` as a user would; record its wall time (until the command's process exits, as a
    shell waits for it; its output goes to files, so no pipe held open by a process it started counts) and the
    breakdown from its log lines."""
    cpu_before = _children_cpu()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.time()
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "--config", str(side.config), *argv],
            env=side.environment,
            cwd=side.config.parent,  # not this checkout: ``-m`` puts the working directory first on the path
            stdout=out,
            stderr=err,
        )
        returncode = process.wait()
        wall = time.time() - started
        err.seek(0)
        stderr = err.read()
    if returncode != 0:
        raise SystemExit(f"{side.name}: {command} exited {returncode}: {stderr[-2000:]}")
    side.walls.setdefault(command, []).append(wall)
    side.cpu.setdefault(command, []).append(_children_cpu() - cpu_before)
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("{"):
            continue
        record = orjson.loads(line)
        at = datetime.fromisoformat(record["ts"]).timestamp() - started
        for label, logger, message in MARKS:
            text = message.partition(":")
            if record.get("logger") != logger or record.get("msg") != text[0]:
                continue
            if text[2] and record.get("stage") != text[2]:
                continue
            if label == "all stage processes ready":
                found[label] = max(found.get(label, 0.0), at)
            else:
                found.setdefault(label, at)
    found["exited"] = wall
    for label, at in found.items():
        side.marks.setdefault(command, {}).setdefault(label, []).append(at)


def _children_cpu() -> float:
    """CPU seconds (user and system) of this process's waited-for children and their descendants: a command's
    whole process tree (the stage processes are waited for by their coordinator), not the Postgres server."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.3f} s  ({min(values):.3f}-{max(values):.3f})"


def report(sides: list[Side], reps: int) -> None:
    print(f"\nthe whole command, median (range) over {reps} repetitions; CPU: its whole process tree")
    for command in sides[0].walls:
        for side in sides:
            print(
                f"  {command:<26} {side.name:<5} wall {summary(side.walls[command])}   CPU {summary(side.cpu[command])}"
            )
        if len(sides) == 2:
            ratios = [
                statistics.median(sides[1].walls[command]) / statistics.median(sides[0].walls[command]),
                statistics.median(sides[1].cpu[command]) / statistics.median(sides[0].cpu[command]),
            ]
            print(f"  {'':<26} peer / ours: wall {ratios[0]:.2f}x, CPU {ratios[1]:.2f}x")
    for command in sides[0].walls:
        print(f"\nbreakdown of `{command}`: median time from the command's start")
        labels = [label for label, _, _ in MARKS if any(label in side.marks[command] for side in sides)]
        for label in [*labels, "exited"]:
            cells = "   ".join(
                f"{side.name} {statistics.median(side.marks[command][label]):6.3f} s"
                for side in sides
                if label in side.marks[command]
            )
            print(f"  {label:<56} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--peer", help="a git revision to measure side by side with this checkout")
    args = parser.parse_args()
    # Not under a "pipeline-" prefix: a fetcher removes such entries of its temp directory.
    work = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    work.chmod(0o755)  # the embedded cluster may run as another user, who must reach its data directory
    environment = {key: value for key, value in os.environ.items() if "DATABASE_URL" not in key}
    environment.pop("SUPABASE_DB_URL", None)
    try:
        with peer_tree(args.peer, work) if args.peer else _no_peer() as tree:
            # Both sides import their tree through PYTHONPATH, so neither pays for a lookup the other does not
            sides = [Side("ours", environment | {"PYTHONPATH": str(ROOT)}, work / "ours.toml")]
            write_config(sides[0].config, work, "bench_ours")
            if tree is not None:
                peer = Side("peer", environment | {"PYTHONPATH": str(tree)}, work / "peer.toml")
                write_config(peer.config, work, "bench_peer")
                sides.append(peer)
            for side in sides:
                where = subprocess.run(
                    [sys.executable, "-c", "import pipeline; print(pipeline.__file__)"],
                    env=side.environment,
                    cwd=work,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                print(f"{side.name}: {Path(where).parent.parent}")
            make_repository(work / "repo")
            for side in sides:  # initialise the cluster and migrate each side's database, outside the figures
                timed(side, "warm-up", ["db", "start"])
                side.walls.clear()
                side.cpu.clear()
                side.marks.clear()
            for rep in range(args.reps):
                for side in sides:
                    copy = work / f"repo-{side.name}-{rep}"
                    shutil.copytree(work / "repo", copy)
                    timed(side, "index (1 file)", ["index", str(copy)])
                    timed(side, "run --until-idle (empty)", ["run", "--until-idle"])
            report(sides, args.reps)
            print(f"\nmachine load average: {os.getloadavg()[0]:.2f}")
    finally:
        if (work / "pg").exists():
            subprocess.run(
                [sys.executable, "-m", "pipeline", "--config", str(work / "ours.toml"), "db", "stop"],
                cwd=ROOT,
                env=environment,
                capture_output=True,
                check=False,
            )
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def _no_peer() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()
