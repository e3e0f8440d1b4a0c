"""Where a language's captures come from: the native matcher, or py-tree-sitter's query cursor.

Languages whose rows are built in Python (``LanguageSpec.rows``) get their captures from the native matcher
(stages/native/match.c: one walk, nodes handed over as ``stages._native.Node``). The other way would keep the C
module out of it: parse with py-tree-sitter's ``Parser`` and run the same query file with its ``QueryCursor``,
then give the same row builder those nodes. This script times both over the same files (one process, in memory,
best of ``--rounds``), beside parsing alone, and checks that both give the same rows.

Run: ``python bench/seam_bench.py --root DIR [--cpu]`` (e.g. ``bench/.cache/pycorpus``, ``bench/.cache/gocorpus``).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

import tree_sitter

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent))

from stages.extract import ExtractionLimits, extract_source  # noqa: E402 - bench scripts run from a checkout
from stages.languages import LANGUAGES, language_name_for_path, load_language, query_source  # noqa: E402
from stages.models import FileExtraction  # noqa: E402
from stages.parse import ParseError, parse_source  # noqa: E402
from stages.syntax import Captures, Rows, Steps, TextLimits  # noqa: E402

LIMITS = ExtractionLimits()
TEXT_LIMITS = TextLimits(LIMITS.max_signature_chars, LIMITS.max_doc_chars, LIMITS.max_qualifier_chars)


def parse_alone(sources: dict[str, bytes]) -> None:
    for path, source in sources.items():
        try:
            parse_source(path, source)
        except ParseError:
            continue


def native_path(sources: dict[str, bytes]) -> list[FileExtraction]:
    return [extract_source(path, source) for path, source in sources.items()]


def py_tree_sitter_path(language_name: str) -> Callable[[dict[str, bytes]], list[Rows]]:
    """Parse and query with py-tree-sitter, then build rows with the language's own row builder."""
    language = load_language(language_name)
    build = language.spec.rows
    assert build is not None
    parser = tree_sitter.Parser(language.grammar)
    cursor = tree_sitter.QueryCursor(tree_sitter.Query(language.grammar, query_source(language.spec.query_name)))

    def run(sources: dict[str, bytes]) -> list[Rows]:
        rows: list[Rows] = []
        for path, source in sources.items():
            tree = parser.parse(source)
            nodes = cursor.captures(tree.root_node)
            ordered = {name: sorted(found, key=lambda node: node.start_byte) for name, found in nodes.items()}
            captures = Captures(path, source, tree.root_node, ordered, TEXT_LIMITS, Steps(float("inf")))
            rows.append(build(captures))
        return rows

    return run


def best_of(rounds: int, work: Callable[[], object], clock: Callable[[], float]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(rounds):
        gc.collect()
        started = clock()
        result = work()
        best = min(best, clock() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", action="store_true", help="time by CPU time (steadier on a shared machine)")
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    root = args.root.resolve()
    files = sorted(path for path in root.rglob("*") if path.is_file() and ".git" not in path.parts)
    print(f"corpus: {root}; best of {args.rounds} rounds, one process, {'CPU' if args.cpu else 'wall'} time")
    header = ("language", "files", "MB", "parse MB/s", "native MB/s", "py-ts MB/s", "same rows")
    print("{:<10} {:>6} {:>6} {:>11} {:>12} {:>11} {:>10}".format(*header))
    for name, spec in LANGUAGES.items():
        if spec.rows is None:
            continue
        sources = {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in files
            if language_name_for_path(path.name) == name and path.stat().st_size <= LIMITS.parse.max_bytes
        }
        if sources:
            compare(name, sources, args.rounds, clock)


def compare(name: str, sources: dict[str, bytes], rounds: int, clock: Callable[[], float]) -> None:
    """Print one language's row: parse alone, the native matcher's path, py-tree-sitter's, and rows that agree."""
    megabytes = sum(map(len, sources.values())) / 1e6
    their_path = py_tree_sitter_path(name)
    native_path(sources)  # warm-up: grammars and queries compile once per process
    parse_seconds, _ = best_of(rounds, lambda: parse_alone(sources), clock)
    native_seconds, ours = best_of(rounds, lambda: native_path(sources), clock)
    theirs_seconds, theirs = best_of(rounds, lambda: their_path(sources), clock)
    assert isinstance(ours, list)
    assert isinstance(theirs, list)
    same = sum(
        1
        for extraction, rows in zip(ours, theirs, strict=True)
        if (extraction.symbols, extraction.imports, extraction.exports, extraction.references) == rows
    )
    print(
        f"{name:<10} {len(sources):>6} {megabytes:>6.1f} {megabytes / parse_seconds:>11.2f} "
        f"{megabytes / native_seconds:>12.2f} {megabytes / theirs_seconds:>11.2f} {same:>5}/{len(sources)}"
    )


if __name__ == "__main__":
    main()
