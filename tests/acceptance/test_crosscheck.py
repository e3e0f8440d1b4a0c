"""Cross-check with the TypeScript compiler on our own fixture monorepo (tests/fixtures/crosscheck).

TypeScript 5.9.3 is installed with npm into ``bench/.cache/tsc`` on first use and reused afterwards.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from tests.bench_scripts import load_bench_script

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "crosscheck"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="the cross-check runs the TypeScript compiler, which needs node and npm on PATH",
)


def load_crosscheck() -> ModuleType:
    return load_bench_script("crosscheck")


@pytest.fixture(scope="module")
def crosscheck() -> ModuleType:
    return load_crosscheck()


@pytest.fixture(scope="module")
def dump(crosscheck: ModuleType) -> dict[str, Any]:
    result: dict[str, Any] = crosscheck.run_dump(FIXTURES, crosscheck.ensure_typescript())
    return result


def test_crosscheck__fixtures_meet_every_target(crosscheck: ModuleType, dump: dict[str, Any]) -> None:
    report = crosscheck.compare(FIXTURES, dump)
    assert report.typescript == "5.9.3"
    assert report.failures() == [], crosscheck.format_report(report)


def test_crosscheck__fixtures_exercise_every_category(crosscheck: ModuleType, dump: dict[str, Any]) -> None:
    report = crosscheck.compare(FIXTURES, dump)
    assert report.files == 27
    assert report.categories["declarations"].theirs > 100
    assert report.categories["import specifiers"].theirs > 40
    assert report.categories["resolved targets"].theirs > 25
    kinds = {name.removeprefix("declarations: ") for name in report.categories if name.startswith("declarations: ")}
    assert {"function", "class", "method", "property", "interface", "enum", "namespace", "module"} <= kinds


def test_crosscheck__fixtures_resolve_through_paths_extends_and_workspace_exports(dump: dict[str, Any]) -> None:
    resolutions = dump["files"]["apps/web/src/main.ts"]["resolutions"]
    assert resolutions["@acme/core"]["path"] == "packages/core/src/index.ts"
    assert resolutions["@acme/core/models/user"]["path"] == "packages/core/src/models/user.ts"
    assert resolutions["@routes/render.mjs"]["path"] == "apps/web/src/legacy/render.mjs"
    assert resolutions["./routes/render-page.js"]["path"] == "apps/web/src/routes/render-page.ts"


def test_crosscheck__a_missing_declaration_and_an_extra_import_are_caught(
    crosscheck: ModuleType, dump: dict[str, Any]
) -> None:
    from stages.extract import extract_source

    extractions = {name: extract_source(name, (FIXTURES / name).read_bytes()) for name in dump["files"]}
    vector, matrix = "packages/core/src/math/vector.ts", "packages/core/src/math/matrix.ts"
    extractions[vector] = msgspec.structs.replace(extractions[vector], symbols=extractions[vector].symbols[1:])
    extractions[matrix] = msgspec.structs.replace(
        extractions[matrix], imports=(*extractions[matrix].imports, extractions[matrix].imports[0])
    )
    report = crosscheck.compare(FIXTURES, dump, extractions=extractions)
    assert [item.split(":")[0] for item in report.categories["declarations"].only_theirs] == [vector]
    assert report.categories["import specifiers"].only_ours == [f"{matrix}: ('./vector.js', 1)"]
    assert report.categories["declarations"].recall < 1.0
    assert any("import specifiers precision" in failure for failure in report.failures())
