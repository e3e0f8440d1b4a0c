"""The Go cross-check on a small module written here (every construct): 100 %, and a doctored result is caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench_scripts import load_bench_script

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("go") is None, reason="the Go cross-check runs go/parser (.ci/run installs golang)"
)

MODULE = {
    "go.mod": "module example.com/m\n\ngo 1.19\n\nrequire github.com/pkg/errors v0.9.1\n",
    "main.go": """\
// Package main runs.
package main

import (
\t"fmt"
\tf "fmt"
\t. "strings"
\t_ "embed"
\t"example.com/m/util"
\t"github.com/pkg/errors/sub"
)

const (
\tA = iota
\tB
\tc, d = 1, 2
)

var x, Y int = 1, 2

type Kind int
type Alias = util.Thing

type Pair[K comparable, V any] struct {
\tKey K
\t*Embedded
\tutil.Other
\ta, b int
}

type Embedded struct{}

type Runner interface {
\tfmt.Stringer
\tRun() error
}

func (p *Pair[K, V]) Get() K { return p.Key }

func main() { f.Println(ToUpper("x"), sub.X, util.New()) }
""",
    "util/util.go": "package util\n\ntype Thing struct{}\ntype Other struct{}\n\nfunc New() *Thing { return nil }\n",
}


def write_module(root: Path) -> Path:
    for path, text in MODULE.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root


def test_gocheck__every_construct_matches_go_parser(tmp_path: Path) -> None:
    corpus = write_module(tmp_path / "corpus")
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gocheck.py"), str(corpus), "--check", "--cache", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("precision 100.000 %  recall 100.000 %") == 3


def test_gocheck__a_doctored_extraction_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gocheck = load_bench_script("gocheck")
    corpus = write_module(tmp_path / "corpus")
    real = gocheck.extract_source

    def without_last_symbol(path: str, source: bytes) -> object:
        extraction = real(path, source)
        return type(extraction)(
            **{**{f: getattr(extraction, f) for f in extraction.__struct_fields__}, "symbols": extraction.symbols[:-1]}
        )

    monkeypatch.setattr(gocheck, "extract_source", without_last_symbol)
    categories, _ = gocheck.compare(corpus, tmp_path / "c")
    assert categories["declarations"].missing == 2
    assert categories["declarations"].recall < gocheck.TARGETS["declarations"]
    assert categories["imports"].recall == 100.0
