"""Fetch-stage throughput: clone, list and read a repository over the local, git:// and http transports.

Usage: python fetch_bench.py REPO_PATH [--runs N]. Serves REPO_PATH on loopback with `git daemon` and
`git http-backend`, then prints the median wall time of each step and the read throughput (MB/s of blob bytes).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pygit2

from stages import fetch


def measure(target: str, runs: int, **options: object) -> dict[str, float]:
    samples: dict[str, list[float]] = {"clone": [], "list": [], "read": [], "mb": [], "files": []}
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp, fetch.job_workdir(Path(tmp), f"bench-{run}") as workdir:
            started = time.perf_counter()
            repo = fetch.clone_bare(fetch.parse_target(target), workdir, **options)  # type: ignore[arg-type]
            cloned = time.perf_counter()
            listing = fetch.list_files(repo, fetch.resolve_commit(repo), max_file_bytes=1_000_000)
            listed = time.perf_counter()
            total = sum(len(data) for _, data in fetch.read_files(repo, listing.items, skipped=listing.skipped))
            read = time.perf_counter()
        samples["clone"].append(cloned - started)
        samples["list"].append(listed - cloned)
        samples["read"].append(read - listed)
        samples["mb"].append(total / 1e6)
        samples["files"].append(len(listing.items))
    return {name: statistics.median(values) for name, values in samples.items()}


def report(label: str, figures: dict[str, float]) -> None:
    print(
        f"{label:<28} clone {figures['clone']:6.3f}s  list {figures['list']:6.3f}s  read {figures['read']:6.3f}s"
        f"  {figures['files']:.0f} files {figures['mb']:.1f} MB  read {figures['mb'] / figures['read']:6.0f} MB/s"
        f"  end-to-end {figures['mb'] / (figures['clone'] + figures['list'] + figures['read']):6.1f} MB/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("repo", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    repo = args.repo.resolve()
    report("local clone (hard links)", measure(str(repo), args.runs))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        pygit2.clone_repository(str(repo), str(Path(tmp) / "copy.git"), bare=True)
        print(f"{'libgit2 local bare clone':<28} clone {time.perf_counter() - started:6.3f}s (for comparison)")
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={repo.parent}",
            "--listen=127.0.0.1",
            "--port=19418",
            str(repo.parent),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        url = f"git://127.0.0.1:19418/{repo.name}"
        report("git:// depth 1", measure(url, args.runs))
        report("git:// full history", measure(url, args.runs, depth=0))
    finally:
        daemon.terminate()
        daemon.wait()


if __name__ == "__main__":
    main()
