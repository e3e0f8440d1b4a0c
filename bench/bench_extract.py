"""pytest-benchmark: parse alone vs parse+extract vs parse+extract+resolution+link over the npm corpus, and the
resolver alone on a synthetic 100 000-file monorepo.

Run: ``.venv/bin/pytest -n 0 bench/bench_extract.py --benchmark-enable`` (the corpus is built on first use with
``bench/corpus.py``, which needs npm). Each benchmark records MB/s, files/s and symbols/s in ``extra_info``;
compare the means to get the ratio to parse alone (``bench/extract_throughput.py`` prints it directly). ``-n 0``:
pytest-benchmark measures nothing under pytest-xdist, which the project's pytest options turn on.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable

import pytest
from corpus import build_corpus
from extract_throughput import Workload, extract_all, extract_resolve_link, load_workload, parse_all
from pytest_benchmark.fixture import BenchmarkFixture

from stages.resolve import ModuleResolver


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


def synthetic_monorepo(packages: int = 50, files_per_package: int = 2000) -> dict[str, str]:
    """A large commit: workspace packages with ``exports`` patterns, per-package tsconfigs extending a base."""
    files = {
        "tsconfig.base.json": json.dumps({"compilerOptions": {"baseUrl": ".", "paths": {"@x/*": ["packages/*/src"]}}})
    }
    for package in range(packages):
        root = f"packages/p{package}"
        files[f"{root}/package.json"] = json.dumps(
            {"name": f"@acme/p{package}", "exports": {".": "./src/index.ts", "./*": "./src/*.ts"}}
        )
        files[f"{root}/tsconfig.json"] = json.dumps({"extends": "../../tsconfig.base.json"})
        files[f"{root}/src/index.ts"] = ""
        for index in range(files_per_package):
            files[f"{root}/src/m{index // 50}/f{index}.ts"] = ""
    return files


def resolve_everything(files: dict[str, str], packages: int = 50, files_per_package: int = 2000) -> int:
    """Index the commit and resolve 100 000 specifiers (relative, workspace, workspace subpath, external)."""
    resolver = ModuleResolver.from_files(files, files.get)
    answered = 0
    for package in range(packages):
        for index in range(0, files_per_package, 4):
            importer = f"packages/p{package}/src/m{index // 50}/f{index}.ts"
            resolver.resolve(importer, f"./f{index + 1}.js")
            resolver.resolve(importer, f"@acme/p{(package + 1) % packages}")
            resolver.resolve(importer, f"@acme/p{(package + 3) % packages}/m0/f1")
            resolver.resolve(importer, "react")
            answered += 4
    return answered


def test_throughput__resolver_on_a_100k_file_monorepo(benchmark: BenchmarkFixture) -> None:
    files = synthetic_monorepo()
    answered = benchmark.pedantic(resolve_everything, args=(files,), rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    assert answered == 100_000
    if benchmark.stats is not None:
        benchmark.extra_info["files"] = len(files)
        benchmark.extra_info["resolutions/s"] = round(answered / benchmark.stats.stats.min)
