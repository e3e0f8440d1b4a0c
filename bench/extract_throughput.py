"""Throughput per core of parse alone vs parse+extract vs parse+extract+resolution+link, per language.

Every stage runs in this one process over the same files held in memory (reading from disk is not timed), so
the figures are per core. Each measurement is the best of ``--rounds`` runs (the machine may be shared).
Printed: MB/s, files/s and symbols/s per pipeline, and each one's throughput as a ratio to parse alone, for all
files and then for each language's files.

Run: ``python bench/extract_throughput.py [--cpu]`` (``--cpu``: CPU time instead of wall; the npm corpus, built
by ``bench/corpus.py``), or ``--root DIR`` for any checkout or corpus (``bench/.cache/pycorpus``, built by
``bench/pycorpus.py``; ``bench/.cache/gocorpus``, by ``bench/gocorpus.py``). Every file of a registered language
is measured, except files over the parse stage's size limit (refused unread).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent))

from corpus import build_corpus  # noqa: E402 - bench scripts run from a checkout

from stages.extract import extract_source  # noqa: E402
from stages.fetch.context import is_config_path  # noqa: E402
from stages.languages import language_name_for_path  # noqa: E402
from stages.link import link  # noqa: E402
from stages.models import FileExtraction  # noqa: E402
from stages.parse import ParseError, ParseLimits, parse_source  # noqa: E402
from stages.resolvers import CommitResolver  # noqa: E402


@dataclass(frozen=True)
class Workload:
    """The corpus in memory: source files to process, and every file path with the configs' texts."""

    sources: dict[str, bytes]
    all_paths: list[str]
    config_texts: dict[str, str]

    @property
    def total_bytes(self) -> int:
        return sum(len(source) for source in self.sources.values())

    def only(self, language: str) -> Workload:
        """The same workload with only one language's source files."""
        sources = {path: source for path, source in self.sources.items() if language_name_for_path(path) == language}
        return Workload(sources, self.all_paths, self.config_texts)


def load_workload(root: Path) -> Workload:
    all_paths = sorted(
        path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file() and ".git" not in path.parts
    )
    sources = {
        path: (root / path).read_bytes()
        for path in all_paths
        if language_name_for_path(path) is not None and (root / path).stat().st_size <= ParseLimits().max_bytes
    }  # a file over the size limit is refused unread: counting its bytes would flatter every rate
    config_texts = {
        path: (root / path).read_text(encoding="utf-8", errors="replace") for path in all_paths if is_config_path(path)
    }
    return Workload(sources, all_paths, config_texts)


def parse_all(workload: Workload) -> int:
    """Parse every file; returns the number of files parsed."""
    parsed = 0
    for path, source in workload.sources.items():
        try:
            parse_source(path, source)
        except ParseError:
            continue
        parsed += 1
    return parsed


def extract_all(workload: Workload) -> list[FileExtraction]:
    return [extract_source(path, source) for path, source in workload.sources.items()]


def extract_resolve_link(workload: Workload) -> list[FileExtraction]:
    """The whole per-commit work: extract every file, then resolve every import and link the commit."""
    extractions = extract_all(workload)
    resolver = CommitResolver.from_files(workload.all_paths, workload.config_texts.get)
    link(extractions, resolver)
    return extractions


def resolve_and_link(workload: Workload, extractions: list[FileExtraction]) -> object:
    """Resolution and linking alone, over extractions made beforehand."""
    resolver = CommitResolver.from_files(workload.all_paths, workload.config_texts.get)
    return link(extractions, resolver)


def best_of(rounds: int, work: Callable[[], object], clock: Callable[[], float]) -> tuple[float, object]:
    """The shortest time by ``clock`` of ``rounds`` runs (with the collector run before each), and the last result."""
    best = float("inf")
    result: object = None
    for _ in range(rounds):
        gc.collect()
        started = clock()
        result = work()
        best = min(best, clock() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="checkout to measure (default: the npm corpus)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--cpu", action="store_true", help="time by this process's CPU time (steadier on a shared machine) not wall"
    )
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    root = args.root.resolve() if args.root else build_corpus()
    workload = load_workload(root)
    extract_all(workload)  # warm-up: grammars and queries compile once per process
    languages = sorted({language for path in workload.sources if (language := language_name_for_path(path))})
    print(f"corpus: {root}")
    print(f"best of {args.rounds} rounds, one process (per core), {'CPU' if args.cpu else 'wall'} time")
    measure("all files", workload, args.rounds, clock)
    if len(languages) > 1:
        for language in languages:
            measure(language, workload.only(language), args.rounds, clock)


def measure(title: str, workload: Workload, rounds: int, clock: Callable[[], float]) -> None:
    """Print one workload's table: parse alone, parse+extract and the whole per-commit work."""
    megabytes = workload.total_bytes / 1e6
    files = len(workload.sources)
    parse_seconds, _ = best_of(rounds, lambda: parse_all(workload), clock)
    extract_seconds, extractions = best_of(rounds, lambda: extract_all(workload), clock)
    full_seconds, _ = best_of(rounds, lambda: extract_resolve_link(workload), clock)
    assert isinstance(extractions, list)
    link_seconds, _ = best_of(rounds, lambda: resolve_and_link(workload, extractions), clock)
    symbols = sum(len(extraction.symbols) for extraction in extractions)
    errors = sum(1 for extraction in extractions if extraction.error is not None)

    print(f"\n{title}: {files} files, {megabytes:.1f} MB, {symbols} symbols, {errors} files with errors")
    print(f"{'pipeline':<32} {'seconds':>8} {'MB/s':>7} {'files/s':>8} {'symbols/s':>10} {'vs parse':>9}")
    for name, seconds in (
        ("parse alone", parse_seconds),
        ("parse+extract", extract_seconds),
        ("parse+extract+resolve+link", full_seconds),
    ):
        symbol_rate = "" if name == "parse alone" else f"{symbols / seconds:>10.0f}"
        print(
            f"{name:<32} {seconds:>8.2f} {megabytes / seconds:>7.2f} {files / seconds:>8.0f} {symbol_rate:>10} "
            f"{parse_seconds / seconds:>9.0%}"
        )
    imports = sum(len(extraction.imports) for extraction in extractions)
    print(f"resolve+link alone (after extraction): {link_seconds:.2f} s for {imports} imports of {files} files")


if __name__ == "__main__":
    main()
