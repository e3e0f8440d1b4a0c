"""Incremental indexing end to end (real git repositories, stage processes and Postgres): a job parses only the
files whose results are not stored, relinks only what a change can affect, and leaves exactly the index a full
index of the same commit leaves — checked over generated commit histories against the in-process indexer and
against a fresh full index."""

from __future__ import annotations

import posixpath
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import TupleRow

from pipeline.config import Config
from pipeline.coordinator import Coordinator
from pipeline.index_jobs import IndexJob, IndexJobStatus
from pipeline.integrity import check_integrity
from pipeline.local import index_commit
from tests.integration.pipeline import harness
from tests.integration.pipeline.harness import MAX_FILE_BYTES, enqueue
from tests.integration.pipeline.index_dump import differences, local_index, stored_index
from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository

pytestmark = pytest.mark.slow

TERMINAL = {IndexJobStatus.COMPLETED, IndexJobStatus.FAILED, IndexJobStatus.SKIPPED, IndexJobStatus.CANCELLED}


@pytest.fixture
def pipeline_config(config: Config, tmp_path: Path) -> Config:
    return harness.pipeline_config(config, tmp_path)


@pytest.fixture
def coordinator(pipeline_config: Config) -> Iterator[Coordinator]:
    """One coordinator for the whole test, so that each job costs its own work, not a start-up."""
    coordinator = Coordinator(pipeline_config)
    outcome: list[int] = []
    thread = threading.Thread(
        target=lambda: outcome.append(coordinator.run(install_signal_handlers=False)), name="test-coordinator"
    )
    thread.start()
    try:
        yield coordinator
    finally:
        coordinator.stop(timeout=10)
        thread.join(timeout=60)
        assert not thread.is_alive(), "the coordinator did not stop"
        assert outcome == [0]


def index_and_wait(
    config: Config, conn: psycopg.Connection[TupleRow], target: str, commit: str, **options: Any
) -> IndexJob:
    job_id = enqueue(config, target, commit_sha=commit, **options)
    deadline = time.monotonic() + 60
    while True:
        job = harness.job(conn, job_id)
        if job.status in TERMINAL:
            assert job.status is IndexJobStatus.COMPLETED, f"{job.status}: {job.error_message}"
            return job
        assert time.monotonic() < deadline, f"index job {job_id} did not end within 60 s ({job.status})"
        time.sleep(0.05)


def expected_index(repo_path: Path, commit: str) -> dict[str, Any]:
    return local_index(index_commit(pygit2.Repository(str(repo_path)), commit, max_file_bytes=MAX_FILE_BYTES))


def assert_same_index(conn: psycopg.Connection[TupleRow], job: IndexJob, expected: dict[str, Any]) -> None:
    """The stored index is the commit's full index, and every reference in it holds (``db check``)."""
    found = differences(stored_index(conn, job.repository_id), expected)
    assert not found, f"the stored index differs from a full index of the commit: {found}"
    report = check_integrity(conn)
    assert report.clean, [check for check in report.checks if check.violations]
    # the totals the writer keeps in the snapshot (what GET /repositories shows) are what it holds
    kept, counted = conn.execute(
        """SELECT jsonb_build_array((s.stats ->> 'files')::int, (s.stats ->> 'symbols')::int,
                      (s.stats ->> 'references')::int, (s.stats ->> 'reference_links')::int),
                  jsonb_build_array(
                      (SELECT count(*) FROM snapshot_files f WHERE f.snapshot_id = s.id),
                      (SELECT count(*) FROM snapshot_files f JOIN symbols y ON y.file_result_id = f.file_result_id
                       WHERE f.snapshot_id = s.id),
                      (SELECT count(*) FROM snapshot_files f JOIN refs r ON r.file_result_id = f.file_result_id
                       WHERE f.snapshot_id = s.id),
                      (SELECT count(*) FROM reference_links l WHERE l.snapshot_id = s.id))
           FROM repositories p JOIN snapshots s ON s.id = p.current_snapshot_id WHERE p.id = %s""",
        [job.repository_id],
    ).fetchone() or (None, None)
    assert kept == counted, "the snapshot's totals drifted from its rows"


# ---- examples -----------------------------------------------------------------------------------------------


def test_incremental__a_second_commit_parses_and_relinks_only_what_changed(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], coordinator: Coordinator, tmp_path: Path
) -> None:
    path = tmp_path / "app"
    repo = new_repository(path)
    extra = {f"src/leaf{n}.ts": f"export function leaf{n}(): number {{ return {n}; }}\n" for n in range(20)}
    first = commit_files(repo, {**SOURCES_V1, **extra}, "first")
    full = index_and_wait(pipeline_config, conn, str(path), first)
    changed = {**SOURCES_V1, **extra, "src/leaf3.ts": "export function leaf3(): number { return 33; }\n"}
    second = commit_files(repo, changed, "second")
    snapshot_before = conn.execute(
        "SELECT current_snapshot_id FROM repositories WHERE id = %s", [full.repository_id]
    ).fetchone()

    job = index_and_wait(pipeline_config, conn, str(path), second)

    stats = job.stats
    assert stats["incremental"] is True
    assert stats["files_parsed"] == 1
    assert stats["files_not_parsed"] == stats["files"] - 1 == full.stats["files"] - 1
    assert stats["files_changed"] == 1
    assert stats["files_relinked"] == 1  # no file imports leaf3
    assert stats["rows_written"] < full.stats["rows_written"] / 10
    assert stats["symbols"] == full.stats["symbols"]
    assert stats["references"] == full.stats["references"]
    assert stats["reference_links"] == full.stats["reference_links"]
    snapshot_after = conn.execute(
        "SELECT current_snapshot_id, s.commit_sha FROM repositories r JOIN snapshots s ON s.id = r.current_snapshot_id"
        " WHERE r.id = %s",
        [full.repository_id],
    ).fetchone()
    assert snapshot_after == (snapshot_before[0] if snapshot_before else None, second)
    assert_same_index(conn, job, expected_index(path, second))


def test_incremental__a_file_imported_through_a_barrel_relinks_its_importers(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], coordinator: Coordinator, tmp_path: Path
) -> None:
    path = tmp_path / "barrel"
    repo = new_repository(path)
    files: dict[str, bytes | str] = {
        "src/impl.ts": "export function run(): void {}\nexport function stop(): void {}\n",
        "src/index.ts": "export * from './impl';\n",
        "src/user.ts": "import { run, stop } from './index';\nexport function go(): void { run(); stop(); }\n",
        "src/other.ts": "export const unrelated = 1;\n",
    }
    index_and_wait(pipeline_config, conn, str(path), commit_files(repo, files, "first"))
    # `run` moves down a line: every link to it (through the barrel) must follow, the unrelated file stays
    files["src/impl.ts"] = "export function stop(): void {}\nexport function run(): void {}\n"
    second = commit_files(repo, files, "second")

    job = index_and_wait(pipeline_config, conn, str(path), second)

    assert job.stats["incremental"] is True
    assert job.stats["files_relinked"] == 3  # impl, the barrel re-exporting it, and its importer
    assert_same_index(conn, job, expected_index(path, second))


class Edit(NamedTuple):
    """One file rewritten, and the files whose cross-file rows may change with it."""

    path: str
    text: str
    relinked: set[str]


@pytest.mark.usefixtures("coordinator")
@pytest.mark.parametrize(
    ("files", "edit"),
    [
        pytest.param(
            {
                "src/x.ts": "export function f() {}\n",
                "src/b.ts": "export { g as h } from './x';\nexport { f } from './x';\n",
                "src/user.ts": "import { h } from './b';\nh();\n",
                "src/other.ts": "import { f } from './b';\nf();\n",
            },
            # `g` is new: only who looks it up (renamed `h`) is relinked
            Edit(
                "src/x.ts", "export function f() {}\nexport function g() {}\n", {"src/x.ts", "src/b.ts", "src/user.ts"}
            ),
            id="a name declared at the end follows its renamed re-exports",
        ),
        pytest.param(
            {
                "src/x.ts": "export const a = 1;\nexport class C { m() {} }\n",
                "src/user.ts": "import { C } from './x';\nC.n();\n",
                "src/other.ts": "import { a } from './x';\nconsole.log(a);\n",
            },
            # `C` gained a member: who links to `C` may now find it
            Edit("src/x.ts", "export const a = 1;\nexport class C { m() {} n() {} }\n", {"src/x.ts", "src/user.ts"}),
            id="a declaration that gains members relinks the files linking to it",
        ),
        pytest.param(
            {
                "src/x.ts": "export function f() {}\nexport function g() {}\n",
                "src/b.ts": "export * from './x';\n",
                "src/user.ts": "import { g } from './b';\ng();\n",
                "src/side.ts": "import './b';\n",
            },
            # symbols moved: every name, but only importers by name
            Edit(
                "src/x.ts", "export function g() {}\nexport function f() {}\n", {"src/x.ts", "src/b.ts", "src/user.ts"}
            ),
            id="moved declarations relink every importer by name, through star re-exports",
        ),
        pytest.param(
            {
                "src/z.ts": "export class Store { get() {} }\n",
                "src/x.ts": "import { Store } from './z';\nexport class Editor { store: Store = new Store(); }\n",
                "src/y.ts": "import { Editor } from './x';\nexport function f(e: Editor) { e.store.put(); }\n",
                "src/other.ts": "export const unrelated = 1;\n",
            },
            # `Store` gained a member: y reaches it only through x's field type, never naming `Store`
            Edit(
                "src/z.ts",
                "export class Store { get() {} put() {} }\n",
                {"src/z.ts", "src/x.ts", "src/y.ts"},
            ),
            id="a member reached through another file's type hint relinks the files reading that hint",
        ),
        pytest.param(
            {
                "src/z.ts": "export class Base { run() {} }\nexport class Other { run() {} }\n",
                "src/x.ts": "import { Base, Other } from './z';\nexport class Mid extends Base {}\n",
                "src/y.ts": "import { Mid } from './x';\nexport function f(m: Mid) { m.run(); }\n",
                "src/other.ts": "export const unrelated = 1;\n",
            },
            # Mid now extends Other: y's `m.run()` moves, though y's own text and imports are the same
            Edit(
                "src/x.ts",
                "import { Base, Other } from './z';\nexport class Mid extends Other {}\n",
                {"src/x.ts", "src/y.ts"},
            ),
            id="a changed base relinks the files that found members through it",
        ),
        pytest.param(
            {
                "src/x.ts": "export function f() {}\n",
                "src/index.ts": "export * as T from './x';\n",
                "src/user.ts": "import { T } from './index';\nT.g();\n",
                "src/other.ts": "export const unrelated = 1;\n",
            },
            # the namespace `T` gained `g`
            Edit(
                "src/x.ts",
                "export function f() {}\nexport function g() {}\n",
                {"src/x.ts", "src/index.ts", "src/user.ts"},
            ),
            id="a module re-exported whole relinks the files importing it by that name",
        ),
        pytest.param(
            {
                "src/z.ts": "export class Store { get() { return 1; } }\n",
                "src/x.ts": "import { Store } from './z';\nexport class Editor { store: Store = new Store(); }\n",
                "src/y.ts": "import { Editor } from './x';\nexport function f(e: Editor) { e.store.get(); }\n",
            },
            # only a body changed: what y reads of z (declarations, hints) is the same
            Edit("src/z.ts", "export class Store { get() { return 2; } }\n", {"src/z.ts"}),
            id="a function body edited relinks none of the files reading the file's declarations",
        ),
    ],
)
def test_incremental__only_the_files_a_change_can_affect_are_relinked(
    pipeline_config: Config,
    conn: psycopg.Connection[TupleRow],
    tmp_path: Path,
    files: dict[str, bytes | str],
    edit: Edit,
) -> None:
    path = tmp_path / "repo"
    repo = new_repository(path)
    index_and_wait(pipeline_config, conn, str(path), commit_files(repo, files, "first"))
    second = commit_files(repo, {**files, edit.path: edit.text}, "second")

    job = index_and_wait(pipeline_config, conn, str(path), second)

    assert job.stats["incremental"] is True
    assert job.stats["files_relinked"] == len(edit.relinked)
    assert_same_index(conn, job, expected_index(path, second))


def test_incremental__a_config_change_relinks_everything_and_force_writes_a_full_snapshot(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], coordinator: Coordinator, tmp_path: Path
) -> None:
    path = tmp_path / "configs"
    repo = new_repository(path)
    index_and_wait(pipeline_config, conn, str(path), commit_files(repo, dict(SOURCES_V1), "first"))
    changed = {**SOURCES_V1, "tsconfig.json": '{"compilerOptions": {"baseUrl": "."}}'}
    second = commit_files(repo, changed, "second")

    job = index_and_wait(pipeline_config, conn, str(path), second)

    assert job.stats["incremental"] is False
    assert job.stats["files_parsed"] == 0, "every file's content was stored already"
    assert job.stats["files_read_back"] == job.stats["files"]
    assert_same_index(conn, job, expected_index(path, second))
    forced = index_and_wait(pipeline_config, conn, str(path), second, force=True)
    assert forced.stats["incremental"] is False
    assert_same_index(conn, forced, expected_index(path, second))


# ---- generated histories ------------------------------------------------------------------------------------

MODULES = ["src/a.ts", "src/b.ts", "src/index.ts", "src/sub/c.ts", "lib/d.ts", "src/e.js"]
NAMES = ["f", "g", "C"]
TSCONFIGS = [
    '{"compilerOptions": {"baseUrl": ".", "paths": {"@lib/*": ["lib/*"]}}}',
    '{"compilerOptions": {"baseUrl": ".", "paths": {"@lib/*": ["src/*"]}}}',
    '{"compilerOptions": {}}',
]


def specifier(importer: str, target: str, alias: bool) -> str:
    stem = target.rsplit(".", 1)[0]
    if alias and stem.startswith("lib/"):
        return "@lib/" + stem.removeprefix("lib/")
    relative = posixpath.relpath(stem, posixpath.dirname(importer))
    return relative if relative.startswith(".") else f"./{relative}"


BARREL = "src/index.ts"


@st.composite
def module_source(draw: st.DrawFn, path: str, modules: list[str]) -> str:
    """A small module: declarations, imports, re-exports and uses of a few shared names among ``modules``; the
    barrel only re-exports, and the others often import from it (chains a change must be followed through)."""
    name = st.sampled_from(NAMES)
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        target = draw(st.sampled_from([*modules, BARREL, BARREL]))
        spec = specifier(path, target, draw(st.booleans()))
        namespace = f"ns{draw(st.integers(0, 1))}"
        if path == BARREL:
            lines.append(
                draw(st.sampled_from([f"export * from '{spec}';", f"export {{ {draw(name)} }} from '{spec}';"]))
            )
            continue
        lines.append(
            draw(
                st.sampled_from(
                    [
                        f"export function {draw(name)}() {{ {draw(name)}(); }}",
                        f"import {{ {draw(name)}, {draw(name)} }} from '{spec}';\n{draw(name)}();",
                        f"export class {draw(name)} {{ m() {{ return this.m(); }} }}",
                        f"function {draw(name)}() {{}}",
                        f"export * from '{spec}';",
                        f"export {{ {draw(name)} as {draw(name)} }} from '{spec}';",
                        f"import {{ {draw(name)} }} from '{spec}';",
                        f"import {{ {draw(name)} }} from '{spec}';\nexport {{ {draw(name)} }};",
                        f"import * as {namespace} from '{spec}';\n{namespace}.{draw(name)}();",
                        f"{draw(name)}();",
                        f"{draw(name)}.{draw(st.sampled_from(['m', 'n']))}();",
                        f"new {draw(name)}().m();",
                        f"export class {draw(name)} extends {draw(name)} {{ k() {{ this.m(); super.n(); }} }}",
                        f"export function {draw(name)}(p: {draw(name)}) {{ p.m(); p.n(); }}",
                        f"export class {draw(name)} {{ f: {draw(name)} = new {draw(name)}(); g() {{ this.f.m(); }} }}",
                        f"export function {draw(name)}(): {draw(name)} {{ return null; }}\n{draw(name)}().m();",
                        f"const {draw(name)} = require('{spec}');",
                        "import data from './data.json';",
                    ]
                )
            )
        )
    return "\n".join(lines) + "\n"


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, bytes | str]]:
    """Commits of one repository: each adds, edits, appends to, renames or deletes modules, grows a class, or
    changes the config files."""
    files: dict[str, bytes | str] = {"tsconfig.json": TSCONFIGS[0], "package.json": '{"name": "gen"}'}
    for path in draw(st.lists(st.sampled_from(MODULES), min_size=1, max_size=len(MODULES), unique=True)):
        files[path] = draw(module_source(path, MODULES))
    commits = [dict(files)]
    for _ in range(draw(st.integers(1, 4))):
        for _ in range(draw(st.integers(1, 3))):
            modules = [path for path in files if path in MODULES or path.startswith("src/moved")]
            operation = draw(
                st.sampled_from(["add", "edit", "append", "append", "grow", "rename", "delete", "tsconfig", "data"])
            )
            if operation == "add" or not modules:
                path = draw(st.sampled_from([*MODULES, "src/extra.ts"]))
                files[path] = draw(module_source(path, MODULES))
            elif operation == "edit":
                path = draw(st.sampled_from(sorted(modules)))
                files[path] = draw(module_source(path, MODULES))
            elif operation == "append":  # declarations added at the end: every existing symbol keeps its index
                path = draw(st.sampled_from(sorted(modules)))
                files[path] = str(files[path]) + draw(module_source(path, MODULES))
            elif operation == "grow":  # the last declaration gains a member (if it is a class)
                path = draw(st.sampled_from(sorted(modules)))
                text = str(files[path])
                if text.endswith(" }\n") and text.rsplit("\n", 2)[-2].startswith("export class"):
                    files[path] = text[: -len(" }\n")] + " n() { return 1; } }\n"
            elif operation == "rename":
                path = draw(st.sampled_from(sorted(modules)))
                files[f"src/moved{draw(st.integers(0, 2))}.ts"] = files.pop(path)
            elif operation == "delete":
                files.pop(draw(st.sampled_from(sorted(modules))))
            elif operation == "tsconfig":
                files["tsconfig.json"] = draw(st.sampled_from(TSCONFIGS))
            elif "src/data.json" in files:
                files.pop("src/data.json")
            else:
                files["src/data.json"] = "{}"
        commits.append(dict(files))
    return commits


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(history=histories())
def test_incremental__every_commit_of_a_history_is_indexed_as_a_full_index_would(
    pipeline_config: Config,
    conn: psycopg.Connection[TupleRow],
    coordinator: Coordinator,
    tmp_path: Path,
    history: list[dict[str, bytes | str]],
) -> None:
    path = tmp_path / f"history-{uuid.uuid4().hex[:8]}"
    repo = new_repository(path)
    job = None
    for number, files in enumerate(history):
        commit = commit_files(repo, files, f"commit {number}")
        job = index_and_wait(pipeline_config, conn, str(path), commit)
        assert_same_index(conn, job, expected_index(path, commit))
    assert job is not None
    # A fresh repository at the last commit (a full index, reading back the results stored above) agrees too.
    fresh = tmp_path / f"fresh-{uuid.uuid4().hex[:8]}"
    pygit2.clone_repository(str(path), str(fresh), bare=True)
    fresh_job = index_and_wait(pipeline_config, conn, str(fresh), str(repo.head.target))
    assert fresh_job.stats["incremental"] is False
    assert stored_index(conn, fresh_job.repository_id) == stored_index(conn, job.repository_id)


@pytest.mark.usefixtures("coordinator")
@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(
            {
                "src/y.js": "export function b() {}\n",
                "src/x.js": "const { a } = require('./y');\nmodule.exports = a;\n",
                "src/main.js": "import run from './x';\nrun();\n",
            },
            {"src/y.js": "export function b() {}\nexport function a() {}\n"},
            id="a default import of module.exports follows what it exports",
        ),
        pytest.param(
            {
                "src/impl/index.ts": "export function f() {}\n",
                "src/barrel.ts": "export { f } from './impl';\n",
                "src/user.ts": "import { f } from './barrel';\nf();\n",
            },
            {"src/impl.ts": "export function f() {}\n", "src/barrel.ts": "export { f } from './impl';\n// now\n"},
            id="a changed file whose import now resolves to a new file",
        ),
        pytest.param(
            {
                "src/data.ts": "export const table = 1;\n" + "// padding\n" * 7000,
                "src/main.ts": "import { table } from './data';\nimport './data';\nconsole.log(table);\n",
            },
            {"src/data.ts": "export const table = 1;\n"},
            id="a file that joins the index without joining the commit",
        ),
        pytest.param(
            {
                "src/data.ts": "export const table = 1;\n",
                "src/main.ts": "import './data';\n",
            },
            {"src/data.ts": "export const table = 1;\n" + "// padding\n" * 7000},
            id="a file that leaves the index without leaving the commit",
        ),
        pytest.param(
            {
                "src/data.tsx": "export const table = 1;\n" + "// padding\n" * 7000,
                "src/main.ts": "import './data';\n",
            },
            {"src/data.ts": "export const table = 2;\n" + "// padding\n" * 7000},
            id="an import of a file the index does not hold now leads to another such file",
        ),
    ],
)
def test_incremental__what_resolves_elsewhere_is_relinked(
    pipeline_config: Config,
    conn: psycopg.Connection[TupleRow],
    tmp_path: Path,
    first: dict[str, bytes | str],
    second: dict[str, bytes | str],
) -> None:
    path = tmp_path / "repo"
    repo = new_repository(path)
    index_and_wait(pipeline_config, conn, str(path), commit_files(repo, first, "first"))
    commit = commit_files(repo, {**first, **second}, "second")

    job = index_and_wait(pipeline_config, conn, str(path), commit)

    assert job.stats["incremental"] is True
    assert_same_index(conn, job, expected_index(path, commit))


@pytest.mark.usefixtures("coordinator")
def test_incremental__a_new_path_never_gets_the_id_of_a_deleted_file(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    path = tmp_path / "ids"
    repo = new_repository(path)
    files: dict[str, bytes | str] = {"src/a.ts": "export const a = 1;\n", "src/z.ts": "export const z = 1;\n"}
    first = index_and_wait(pipeline_config, conn, str(path), commit_files(repo, files, "first"))
    del files["src/z.ts"]  # the file with the largest id
    index_and_wait(pipeline_config, conn, str(path), commit_files(repo, files, "second"))
    files["src/y.ts"] = "export const y = 1;\n"
    third = index_and_wait(pipeline_config, conn, str(path), commit_files(repo, files, "third"))

    assert third.stats["incremental"] is True
    ids = dict(
        conn.execute(
            "SELECT f.path, f.file_idx FROM repositories r JOIN snapshot_files f ON f.snapshot_id ="
            " r.current_snapshot_id WHERE r.id = %s",
            [first.repository_id],
        ).fetchall()
    )
    assert ids == {"src/a.ts": 0, "src/y.ts": 2}  # not 1: that was src/z.ts


def _class_chain(low: int, high: int, imported_from: str | None = None, run_at: int | None = None) -> str:
    """Classes C{low} … C{high - 1}, each extending the next (C{high} imported from ``imported_from``)."""
    lines = [f"import {{ C{high} }} from '{imported_from}';"] if imported_from else []
    lines += [f"export class C{k} extends C{k + 1} {{{' run() {} ' if k == run_at else ''}}}" for k in range(low, high)]
    return "\n".join(lines) + "\n"


@pytest.mark.usefixtures("coordinator")
def test_incremental__a_member_found_far_up_bases_across_files_follows_a_change_at_any_distance(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    files: dict[str, bytes | str] = {
        "src/x.ts": _class_chain(0, 10, "./y"),
        "src/y.ts": _class_chain(10, 20, "./z"),
        "src/z.ts": _class_chain(20, 45) + "export class C45 { run() {} }\n",
        "src/a.ts": "import { C10 } from './y';\nexport function g(c: C10) { c.run(); }\n",
        "src/b.ts": "import { C0 } from './x';\nexport function f(c: C0) { c.run(); }\n",
    }
    path = tmp_path / "repo"
    repo = new_repository(path)
    index_and_wait(pipeline_config, conn, str(path), commit_files(repo, files, "first"))
    # C20 gains `run`: both calls now find it there, b's through x and y without importing z
    changed = {**files, "src/z.ts": _class_chain(20, 45, run_at=20) + "export class C45 { run() {} }\n"}
    commit = commit_files(repo, changed, "second")

    job = index_and_wait(pipeline_config, conn, str(path), commit)

    assert job.stats["incremental"] is True
    assert_same_index(conn, job, expected_index(path, commit))
