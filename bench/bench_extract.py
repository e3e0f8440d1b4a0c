"""pytest-benchmark: parse alone vs parse+extract vs parse+extract+resolution+link over the npm corpus.

Run: ``.venv/bin/pytest bench/bench_extract.py --benchmark-enable`` (the corpus is built on first use with
``bench/corpus.py``, which needs npm). Each benchmark records MB/s, files/s and symbols/s in ``extra_info``;
compare the means to get the ratio to parse alone (``bench/extract_throughput.py`` prints it directly).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest
from corpus import build_corpus
from extract_throughput import Workload, extract_all, extract_resolve_link, load_workload, parse_all
from pytest_benchmark.fixture import BenchmarkFixture


@pytest.fixture(scope="module")
def workload() -> Workload:
    if shutil.which("npm") is None:
        pytest.skip("npm is needed to fetch the corpus tarballs")
    return load_workload(build_corpus())


def run_and_record(benchmark: BenchmarkFixture, workload: Workload, work: Callable[[Workload], object]) -> None:
    extract_all(workload)  # grammars and queries compile once per process, outside the timing
    benchmark.pedantic(work, args=(workload,), rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    if benchmark.stats is None:  # --benchmark-disable: ran once, nothing measured
        return
    seconds = benchmark.stats.stats.min
    symbols = sum(len(extraction.symbols) for extraction in extract_all(workload))
    benchmark.extra_info["MB/s"] = round(workload.total_bytes / 1e6 / seconds, 2)
    benchmark.extra_info["files/s"] = round(len(workload.sources) / seconds)
    benchmark.extra_info["symbols/s"] = round(symbols / seconds)


pytestmark = pytest.mark.timeout(900)  # three rounds over the whole corpus take minutes on a loaded machine


def test_throughput__parse_alone(benchmark: BenchmarkFixture, workload: Workload) -> None:
    run_and_record(benchmark, workload, parse_all)


def test_throughput__parse_and_extract(benchmark: BenchmarkFixture, workload: Workload) -> None:
    run_and_record(benchmark, workload, extract_all)


def test_throughput__parse_extract_resolve_and_link(benchmark: BenchmarkFixture, workload: Workload) -> None:
    run_and_record(benchmark, workload, extract_resolve_link)
