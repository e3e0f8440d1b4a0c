"""Code search latency: ``search_code`` over the pipeline bench corpus (``bench/pipeline_corpus.py``), indexed once.

Indexes the corpus's base commit with ``python -m pipeline index`` on a private embedded cluster (fsync on, in a temp
directory removed at the end), then times each query of ``QUERIES`` ``--reps`` times, round-robin so that the
machine's drift spreads over all of them, on one connection (warm, as the API's pooled ones are): the time from the
call to its result, as the REST handler spends it. Beside each search, in the same round, its peer: ``git grep``
of the same pattern over the same commit (every match, not the first 50: the scan a search without an index does).
Prints median and range per query, as Markdown.

Run: ``python bench/search_bench.py [--reps 15]``.
"""

# ruff: noqa: RUF001 - the report prints en dashes, as the README does

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
for directory in (BENCH_DIR, PROJECT_DIR):
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))

from pipeline_corpus import build_pipeline_corpus  # noqa: E402 - bench scripts run from a checkout

from pipeline.code_search import search_code  # noqa: E402
from pipeline.db import connect  # noqa: E402
from pipeline.embedded_pg import EmbeddedPostgres  # noqa: E402

SCHEMA = "pipeline"
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("selective literal", {"q": "switchMap"}),
    ("selective literal, case-sensitive", {"q": "switchMap", "case_sensitive": True}),
    ("common word", {"q": "function"}),
    ("regular expression", {"q": r"export\s+function\s+pipe\w*", "regex": True}),
    ("literal under a path", {"q": "Observable", "path": "packages/rxjs"}),
    ("literal, glob", {"q": "Vector3", "path": "**/*.ts"}),
    ("no trigram (2 characters)", {"q": "=>"}),
]


def git_grep(repo: Path, commit: str, options: dict[str, Any]) -> list[str]:
    """The ``git grep`` command that searches ``commit`` of ``repo`` as ``search_code`` does with ``options``."""
    command = ["git", "-C", str(repo), "grep", "-n", "-I", "-P" if options.get("regex") else "-F"]
    if not options.get("case_sensitive"):
        command.append("-i")
    command += ["-e", options["q"], commit]
    path = options.get("path")
    if path:
        command += ["--", f":(glob){path}" if "*" in path else path]
    return command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15, help="timed searches per query (default 15)")
    args = parser.parse_args()
    corpus = build_pipeline_corpus()
    workdir = Path(tempfile.mkdtemp(prefix="search-bench-"))
    workdir.chmod(0o755)  # the cluster's own user must reach its data directory
    server = EmbeddedPostgres(workdir / "pg", fsync=True)
    url = server.start()
    try:
        config = workdir / "bench.toml"
        config.write_text(f"[index]\ntmp_dir = '{workdir / 'jobs'}'\n[log]\nlevel = 'warning'\n")
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PIPELINE_")}
        environment["PIPELINE_DATABASE_URL"] = url
        command = [sys.executable, "-m", "pipeline", "--config", str(config), "index", str(corpus.repo)]
        subprocess.run(
            [*command, "--commit", corpus.base_commit],
            cwd=PROJECT_DIR,
            env=environment,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with connect(url, SCHEMA, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            repository = str(conn.execute("SELECT id FROM repositories").fetchone()[0])  # type: ignore[index]
        seconds: dict[str, list[float]] = {name: [] for name, _ in QUERIES}
        grep_seconds: dict[str, list[float]] = {name: [] for name, _ in QUERIES}
        found: dict[str, tuple[int, bool]] = {}
        with connect(url, SCHEMA, autocommit=True) as conn:
            for _ in range(args.reps):
                for name, options in QUERIES:
                    started = time.perf_counter()
                    result = search_code(conn, repository, **options)
                    seconds[name].append(time.perf_counter() - started)
                    found[name] = (len(result.items), result.truncated)
                    started = time.perf_counter()
                    command = git_grep(corpus.repo, corpus.base_commit, options)
                    grep = subprocess.run(command, check=False, capture_output=True)
                    grep_seconds[name].append(time.perf_counter() - started)
                    if grep.returncode not in (0, 1):  # 1: no match
                        raise RuntimeError(f"git grep failed for {name}: {grep.stderr.decode()[-300:]}")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"Corpus: {corpus.files:,} files, {corpus.bytes / 2**20:.1f} MB; {args.reps} searches per query, limit 50.\n")
    print("| query | parameters | lines (truncated) | search_code ms, median (range) | `git grep` ms, median (range) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, options in QUERIES:
        lines, truncated = found[name]
        shown = ", ".join(f"{key}={value!r}" for key, value in options.items())
        print(
            f"| {name} | `{shown}` | {lines}{' (yes)' if truncated else ''} |"
            f" {_median_range(seconds[name])} | {_median_range(grep_seconds[name])} |"
        )


def _median_range(seconds: list[float]) -> str:
    times = [value * 1000 for value in seconds]
    return f"{statistics.median(times):.1f} ({min(times):.1f}–{max(times):.1f})"


if __name__ == "__main__":
    main()
