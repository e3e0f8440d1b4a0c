"""Where a language's captures come from: the native matcher, or py-tree-sitter's query cursor.

Languages whose rows are built in Python (``LanguageSpec.rows``) get their captures from the native matcher
(stages/native/match.c: one walk, nodes handed over as ``stages._native.Node``). The other way would keep the C
module out of it: parse with py-tree-sitter's ``Parser`` and run the same query file with its ``QueryCursor``.
The row builder is the same either way, so this script times what differs — parse and captures — both ways over
the same files (one process, in memory, best of ``--rounds``), beside parsing alone and the whole extraction
(parse, captures and rows), and checks that both ways capture the same nodes.

Run: ``python bench/seam_bench.py --root DIR [--cpu]`` (e.g. ``bench/.cache/pycorpus``, ``bench/.cache/gocorpus``).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import tree_sitter

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent))

from stages import _native  # noqa: E402 - bench scripts run from a checkout
from stages.extract import ExtractionLimits, extract_source  # noqa: E402
from stages.languages import LANGUAGES, language_name_for_path, load_language, query_source  # noqa: E402
from stages.parse import ParseError, check_source, parse_source  # noqa: E402

LIMITS = ExtractionLimits()
CaptureKeys = dict[str, set[tuple[int, int, str]]]


def keys(captures: dict[str, Iterable[object]]) -> CaptureKeys:
    """Each capture name's nodes as (start, end, type), comparable across the two node types."""
    return {
        name: {(node.start_byte, node.end_byte, node.type) for node in nodes}  # type: ignore[attr-defined]
        for name, nodes in captures.items()
    }


def parse_alone(sources: dict[str, bytes]) -> None:
    for path, source in sources.items():
        try:
            parse_source(path, source)
        except ParseError:
            continue


def native_captures(language_name: str) -> Callable[[dict[str, bytes]], list[CaptureKeys]]:
    """Parse with stages._native and match with its one-walk matcher (what extraction does before the rows)."""
    language = load_language(language_name)
    plan = _native.QueryPlan(language.patterns.patterns, language.patterns.capture_names, None)

    def run(sources: dict[str, bytes]) -> list[CaptureKeys]:
        found: list[CaptureKeys] = []
        for path, source in sources.items():
            parsed = parse_source(path, source, limits=LIMITS.parse)
            nodes, _ = plan.run(parsed.tree, source, parsed.deadline)
            found.append(keys(nodes))
        return found

    return run


def cursor_captures(language_name: str) -> Callable[[dict[str, bytes]], list[CaptureKeys]]:
    """Parse with py-tree-sitter's Parser and run the same query file with its QueryCursor."""
    language = load_language(language_name)
    parser = tree_sitter.Parser(language.grammar)
    cursor = tree_sitter.QueryCursor(tree_sitter.Query(language.grammar, query_source(language.spec.query_name)))

    def run(sources: dict[str, bytes]) -> list[CaptureKeys]:
        return [keys(cursor.captures(parser.parse(source).root_node)) for source in sources.values()]

    return run


def extract_all(sources: dict[str, bytes]) -> None:
    for path, source in sources.items():
        extract_source(path, source, limits=LIMITS)


def parses(path: str, source: bytes) -> bool:
    """Whether the parse stage takes the file (its size, NUL bytes, UTF-8): the others are compared neither way."""
    try:
        check_source(path, source, LIMITS.parse)
    except ParseError:
        return False
    return True


def best_of(rounds: int, work: Callable[[], object], clock: Callable[[], float]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(rounds):
        gc.collect()
        started = clock()
        result = work()
        best = min(best, clock() - started)
    return best, result


def compare(name: str, sources: dict[str, bytes], rounds: int, clock: Callable[[], float]) -> None:
    """Print one language's row (MB/s): parse alone, parse + native captures, parse + cursor captures, the whole
    extraction, and how many files both ways capture alike."""
    megabytes = sum(map(len, sources.values())) / 1e6
    native, cursor = native_captures(name), cursor_captures(name)
    extract_all(sources)  # warm-up: grammars and queries compile once per process
    parse_seconds, _ = best_of(rounds, lambda: parse_alone(sources), clock)
    native_seconds, ours = best_of(rounds, lambda: native(sources), clock)
    cursor_seconds, theirs = best_of(rounds, lambda: cursor(sources), clock)
    extract_seconds, _ = best_of(rounds, lambda: extract_all(sources), clock)
    assert isinstance(ours, list)
    assert isinstance(theirs, list)
    same = sum(1 for mine, other in zip(ours, theirs, strict=True) if mine == other)
    print(
        f"{name:<10} {len(sources):>6} {megabytes:>6.1f} {megabytes / parse_seconds:>11.2f} "
        f"{megabytes / native_seconds:>15.2f} {megabytes / cursor_seconds:>15.2f} {megabytes / extract_seconds:>13.2f} "
        f"{same:>6}/{len(sources)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", action="store_true", help="time by CPU time (steadier on a shared machine)")
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    root = args.root.resolve()
    files = sorted(path for path in root.rglob("*") if path.is_file() and ".git" not in path.parts)
    print(f"corpus: {root}; best of {args.rounds} rounds, one process, {'CPU' if args.cpu else 'wall'} time; MB/s")
    header = ("language", "files", "MB", "parse", "parse+native", "parse+cursor", "extraction", "same")
    print("{:<10} {:>6} {:>6} {:>11} {:>15} {:>15} {:>13} {:>13}".format(*header))
    for name, spec in LANGUAGES.items():
        if spec.rows is None:
            continue
        sources = {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in files
            if language_name_for_path(path.name) == name and path.stat().st_size <= LIMITS.parse.max_bytes
        }
        sources = {path: source for path, source in sources.items() if parses(path, source)}
        if sources:
            compare(name, sources, args.rounds, clock)


if __name__ == "__main__":
    main()
