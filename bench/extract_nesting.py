"""Parse and extraction time of deeply nested files: 20,000 nested functions, ``require(`` calls and namespaces.

Extraction must be linear in the size of the tree at any depth; this prints, per kind, the file's size and the
median over ``--rounds`` of parse and extraction seconds (no time limit applies here).

Run: ``python bench/extract_nesting.py [--depth 20000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent))

from stages.extract import extract_parsed  # noqa: E402 - bench scripts run from a checkout
from stages.parse import ParseLimits, parse_source  # noqa: E402

KINDS = {
    "function": (b"function f() {\n", b"", b"}\n"),
    "require": (b"require(\n", b"'x'", b")\n"),
    "namespace": (b"namespace a {\n", b"", b"}\n"),
}
NO_LIMIT = ParseLimits(parse_timeout_seconds=3600.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"| nesting ({args.depth:,} levels) | bytes | parse s | extract s |")
    print("| --- | ---: | ---: | ---: |")
    for kind, (opening, inner, closing) in KINDS.items():
        source = opening * args.depth + inner + closing * args.depth
        parse_seconds, extract_seconds = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            parsed = parse_source("nested.ts", source, limits=NO_LIMIT)
            parsed_at = time.perf_counter()
            extraction = extract_parsed(parsed)
            extract_seconds.append(time.perf_counter() - parsed_at)
            parse_seconds.append(parsed_at - started)
            assert extraction.error is None, extraction.error
        print(
            f"| {kind} | {len(source):,} | {statistics.median(parse_seconds):.3f} "
            f"| {statistics.median(extract_seconds):.3f} |"
        )


if __name__ == "__main__":
    main()
