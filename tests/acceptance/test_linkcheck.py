"""Link check against the TypeScript language service, on the fixture monorepo and on a hand-made repository.

TypeScript 5.9.3 is installed with npm into ``bench/.cache/tsc`` on first use and reused afterwards (as for
``test_crosscheck``); the language service's answers are cached in a temporary directory.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

import msgspec
import pytest

from tests.bench_scripts import load_bench_script

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "crosscheck"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="the link check runs the TypeScript language service, which needs node and npm on PATH",
)

TINY = {
    "tsconfig.json": '{"compilerOptions": {"module": "esnext", "moduleResolution": "bundler", "strict": true}}\n',
    "a.ts": """\
export class A {
  m(): void {}
}
export class B {
  constructor(readonly x: number) {}
}
export function f(): A {
  return new A();
}
export function o(x: string): void;
export function o(x: number): void;
export function o(x: unknown): void {}
""",
    "b.ts": """\
import { A, B, f, o } from "./a";
const s = "é😀"; f();
const a = new A();
a.m();
function g(p: A) {
  p.m();
}
missing();
new B(1);
o(1);
const list = [new A()];
list[0].m();
""",
}


def load_linkcheck() -> ModuleType:
    return load_bench_script("linkcheck")


@pytest.fixture(scope="module")
def linkcheck() -> ModuleType:
    module = load_linkcheck()
    module.ensure_typescript()
    return module


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    for name, text in TINY.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("linkcheck-cache")


def outcomes_of(report: object) -> dict[tuple[str, int, str], str]:
    return {(o.path, o.line, o.name): o.outcome for o in report.outcomes}  # type: ignore[attr-defined]


def test_linkcheck__fixtures_have_no_wrong_link(linkcheck: ModuleType, cache: Path) -> None:
    report = linkcheck.compare(FIXTURES, cache_dir=cache)
    overall = report.rows["overall"]
    assert report.files == 27
    assert overall.references == 196
    assert overall.linked > 100
    assert overall.precision == 1.0, linkcheck.format_classes(FIXTURES, report, classes=10, examples=3)
    assert overall.theirs["ours"] > overall.linked
    assert {"call (plain)", "call (other member)", "new", "type", "jsx"} <= {
        name for name, row in report.rows.items() if row.theirs["ours"] > 0
    }


def test_linkcheck__hand_made_repository_gives_the_exact_outcomes(
    linkcheck: ModuleType, tiny: Path, cache: Path
) -> None:
    report = linkcheck.compare(tiny, cache_dir=cache)
    assert outcomes_of(report) == {
        ("a.ts", 7, "A"): "ok",
        ("a.ts", 8, "A"): "ok",
        ("b.ts", 2, "f"): "ok",  # after a non-BMP character: UTF-16 offsets
        ("b.ts", 3, "A"): "ok",
        ("b.ts", 4, "m"): "ok",  # `a` is a `new A()`
        ("b.ts", 5, "A"): "ok",
        ("b.ts", 6, "m"): "ok",  # `p` is an `A`
        ("b.ts", 8, "missing"): "none",
        ("b.ts", 9, "B"): "ok",  # the language service names the constructor, we the class
        ("b.ts", 10, "o"): "ok",  # it names the implementation, we an overload
        ("b.ts", 11, "A"): "ok",
        ("b.ts", 12, "m"): "missed",  # an element of an array: not followed
    }
    overall = report.rows["overall"]
    assert (overall.references, overall.linked, overall.correct, overall.theirs["ours"]) == (12, 10, 10, 11)
    assert overall.recall == 10 / 11
    assert report.rows["calls (all)"].recall == 4 / 5
    missed = {o.cls for o in report.outcomes if o.outcome == "missed"}
    assert missed == {"call (other member) | other | LS→method | root module variable"}
    assert [o.column for o in report.outcomes if o.name == "f" and o.path == "b.ts"] == [18]


def test_linkcheck__a_wrong_link_counts_against_precision_and_shows_in_the_diff(
    linkcheck: ModuleType, tiny: Path, cache: Path, tmp_path: Path
) -> None:
    from stages.extract import extract_source

    extraction = extract_source("b.ts", (tiny / "b.ts").read_bytes())
    call_of_f = next(i for i, r in enumerate(extraction.references) if r.name == "f")
    references = list(extraction.references)
    references[call_of_f] = msgspec.structs.replace(references[call_of_f], name="A")
    broken = linkcheck.compare(
        tiny, cache_dir=cache, extractions={"b.ts": msgspec.structs.replace(extraction, references=tuple(references))}
    )
    assert broken.asked == 0
    wrong = [o for o in broken.outcomes if o.outcome == "wrong"]
    assert [(o.line, o.cls) for o in wrong] == [(2, "call (plain) | none | ours→class, LS→function | root other file")]
    assert broken.rows["overall"].precision == 9 / 10
    assert broken.failures()[0].startswith("overall precision 90.00%")

    old = tmp_path / "old.json"
    old.write_text(json.dumps(broken.as_json()))
    fixed = linkcheck.compare(tiny, cache_dir=cache)
    diff = linkcheck.format_diff(tiny, fixed, json.loads(old.read_text()), examples=1)
    assert "1 references changed" in diff
    assert "won (wrong → ok)" in diff
    assert "b.ts:2:18" in diff
