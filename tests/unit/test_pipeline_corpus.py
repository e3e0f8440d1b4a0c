"""The end-to-end benchmark's corpus rules (bench/pipeline_corpus.py): which files it keeps and what the edit is.

The README's pipeline figures are only comparable between runs if these rules hold, so they are tested here without
the network: the tarball is built by the test.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from stages.extract import extract_source
from tests.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def corpus() -> ModuleType:
    return load_bench_script("pipeline_corpus")


def test_is_source__keeps_ts_tsx_js_mjs_only(corpus: ModuleType) -> None:
    kept = [path for path in ("a.ts", "a.tsx", "a.js", "a.mjs") if corpus.is_source(path, b"x\n")]
    dropped = [
        path for path in ("a.d.ts", "a.min.js", "a.cjs", "a.jsx", "a.json", "a.d.cts") if corpus.is_source(path, b"x\n")
    ]
    assert kept == ["a.ts", "a.tsx", "a.js", "a.mjs"]
    assert dropped == []


def test_is_source__drops_a_file_with_a_line_over_1000_characters(corpus: ModuleType) -> None:
    assert corpus.is_source("a.js", b"short\n" + b"x" * 1000 + b"\n")
    assert not corpus.is_source("a.js", b"short\n" + b"x" * 1001 + b"\n")
    assert corpus.is_source("a.js", ("é" * 1000).encode())  # characters, not bytes


def test_edit_selection__every_hundredth_file_in_sorted_order_from_the_first(corpus: ModuleType) -> None:
    paths = [f"packages/p/f{index:03}.ts" for index in range(250)]
    assert corpus.edit_selection(list(reversed(paths))) == [paths[0], paths[100], paths[200]]


@pytest.mark.parametrize("path", ["edited.ts", "edited.tsx", "edited.js", "edited.mjs"])
def test_edited_source__appends_an_exported_function_that_parses(corpus: ModuleType, path: str) -> None:
    original = b"export const before = 1"  # no final newline: the edit must not join the lines
    edited = corpus.edited_source(path, original, 7)
    assert edited.startswith(original + b"\n")
    extraction = extract_source(path, edited)
    assert not extraction.had_syntax_errors
    assert [(symbol.name, symbol.exported) for symbol in extraction.symbols] == [
        ("before", True),
        ("benchEdit7", True),
    ]


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_extract_sources__keeps_the_roots_and_writes_the_source_form_package_json(
    corpus: ModuleType, tmp_path: Path
) -> None:
    published = {"name": "p", "version": "1.0.0", "main": "dist/index.js", "exports": {".": "./dist/index.js"}}
    tarball = _tarball(
        tmp_path / "p.tgz",
        {
            "package.json": json.dumps(published).encode(),
            "src/index.ts": b"export const a = 1;\n",
            "src/util/b.js": b"export const b = 2;\n",
            "src/index.d.ts": b"export declare const a: number;\n",
            "src/bundle.js": b"x" * 2000,
            "dist/index.js": b"exports.a = 1;\n",
            "README.md": b"p\n",
        },
    )
    package = corpus.PinnedPackage("p", "1.0.0", ("src/",), source_entry="src/index.ts")
    destination = tmp_path / "out"
    sources = corpus.extract_sources(package, tarball, destination)
    assert sorted(sources) == ["src/index.ts", "src/util/b.js"]
    assert sorted(str(path.relative_to(destination)) for path in destination.rglob("*") if path.is_file()) == [
        "package.json",
        "src/index.ts",
        "src/util/b.js",
    ]
    assert json.loads((destination / "package.json").read_text()) == {
        "name": "p",
        "version": "1.0.0",
        "main": "src/index.ts",
        "types": "src/index.ts",
    }
