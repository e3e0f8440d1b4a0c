"""Code search (``pipeline.code_search``) and the stored file contents behind it, on real repositories indexed by
the real pipeline into a real database."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import NamedTuple

import psycopg
import pygit2
import pytest
from psycopg.rows import TupleRow

from pipeline.code_search import TIMEOUT_SECONDS, CodeMatch, query_pattern, search_code, search_settings
from pipeline.config import Config
from pipeline.db import connect, query
from pipeline.index_jobs import IndexJobStatus
from pipeline.index_queries import IndexQueryError, SymbolRef
from stages.models import FileExtraction
from stages.write import EXTRACTOR_VERSION, FileRow, SnapshotWriter
from tests.integration.pipeline import harness
from tests.integration.pipeline.repos import commit_files, new_repository

pytestmark = pytest.mark.slow

APP = (
    "class Greeter {\n"  # 1
    "  greet(name: string): string {\n"  # 2
    "    return `Hello, ${name}`;\n"  # 3
    "  }\n"  # 4
    "}\n"  # 5
    "export function parseConfig(text: string): unknown {\n"  # 6
    '  const label = "hello (world)";\n'  # 7
    "  return JSON.parse(text);\n"  # 8
    "}\n"  # 9
    'const top = "HELLO top";\n'  # 10
)
SOURCES: dict[str, bytes | str] = {
    "src/app.ts": APP,
    "src/util/strings.ts": "export const shout = (s: string) => s.toUpperCase() + 'hello';\n",
    "src/utilities.ts": "export const other = 'hello';\n",
    "lib/other.js": "// hello from js\nmodule.exports = 1;\n",
    "src/latin1.ts": b"export const s = '\xe9t\xe9 hello';\n",  # not UTF-8: stored with an error, no text
}


@pytest.fixture
def pipeline_config(config: Config, tmp_path: Path) -> Config:
    return harness.pipeline_config(config, tmp_path)


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return new_repository(tmp_path / "demo")


class Indexed(NamedTuple):
    repo: pygit2.Repository
    commit: str
    id: str  # the repository's id, as search_code takes it


def index(config: Config, conn: psycopg.Connection[TupleRow], repo: pygit2.Repository, commit: str) -> str:
    """Index ``commit`` with the real pipeline; returns the repository's id."""
    job_id = harness.enqueue(config, repo.workdir, commit_sha=commit)
    harness.run_until_idle(config)
    job = harness.job(conn, job_id)
    assert job.status is IndexJobStatus.COMPLETED, job.error_message
    return str(job.repository_id)


def lines(matches: list[CodeMatch]) -> list[tuple[str, int]]:
    return [(match.path, match.line) for match in matches]


def contents(conn: psycopg.Connection[TupleRow]) -> dict[str, str]:
    return dict(conn.execute("SELECT blob_oid, content FROM file_contents").fetchall())


def blob(repo: pygit2.Repository, commit: str, path: str) -> str:
    return str(repo.revparse_single(f"{commit}:{path}").id)


@pytest.fixture
def indexed(pipeline_config: Config, conn: psycopg.Connection[TupleRow], repo: pygit2.Repository) -> Indexed:
    commit = commit_files(repo, SOURCES, "first")
    return Indexed(repo, commit, index(pipeline_config, conn, repo, commit))


# ----- storage -----


def test_contents__every_indexed_utf8_file_is_stored_once_by_blob(
    indexed: Indexed, conn: psycopg.Connection[TupleRow]
) -> None:
    repo, commit, _ = indexed
    stored = contents(conn)
    utf8 = [path for path in SOURCES if path != "src/latin1.ts"]
    assert stored == {blob(repo, commit, path): SOURCES[path] for path in utf8}
    error = conn.execute(
        "SELECT error_kind FROM file_results WHERE blob_oid = %s", [blob(repo, commit, "src/latin1.ts")]
    ).fetchone()
    assert error == ("invalid_utf8",)


def test_contents__a_file_unchanged_across_commits_is_stored_once_and_replaced_texts_go(
    indexed: Indexed, pipeline_config: Config, conn: psycopg.Connection[TupleRow]
) -> None:
    repo, first, _ = indexed
    changed = {**SOURCES, "src/utilities.ts": "export const other = 'goodbye';\n"}
    del changed["lib/other.js"]
    second = commit_files(repo, changed, "second")
    index(pipeline_config, conn, repo, second)
    stored = contents(conn)
    assert blob(repo, first, "src/app.ts") == blob(repo, second, "src/app.ts")
    assert stored == {blob(repo, second, path): changed[path] for path in changed if path != "src/latin1.ts"}
    assert blob(repo, first, "src/utilities.ts") not in stored  # replaced: no result names it any more
    assert blob(repo, first, "lib/other.js") not in stored  # deleted with its file


def test_contents__two_repositories_sharing_a_file_store_it_once(
    indexed: Indexed,
    pipeline_config: Config,
    conn: psycopg.Connection[TupleRow],
    tmp_path: Path,
) -> None:
    repo, commit, _ = indexed
    fork = new_repository(tmp_path / "fork")
    fork_commit = commit_files(fork, {"src/app.ts": APP}, "fork")
    index(pipeline_config, conn, fork, fork_commit)
    assert blob(fork, fork_commit, "src/app.ts") == blob(repo, commit, "src/app.ts")
    assert len(contents(conn)) == len(SOURCES) - 1


def test_contents__a_writer_reusing_stored_text_keeps_it_from_a_concurrent_deletion(
    conn: psycopg.Connection[TupleRow], database_url: str
) -> None:
    """Writer B stores a new result (another language) for a text already stored; meanwhile A deletes the only
    other result naming that blob. B's lock keeps the text, so B's result has it once B commits."""
    oid = "ab" * 20
    conn.execute(
        "INSERT INTO file_results (blob_oid, language, is_declaration_file, extractor_version, size_bytes,"
        " had_syntax_errors) VALUES (%s, 'typescript', false, %s, 4, false)",
        [oid, EXTRACTOR_VERSION],
    )
    conn.execute("INSERT INTO file_contents VALUES (%s, 'x();')", [oid])
    repository_id = conn.execute(
        "INSERT INTO repositories (git_url, full_name) VALUES ('file:///demo', 'demo') RETURNING id"
    ).fetchone()
    assert repository_id is not None
    conn.commit()
    extraction = FileExtraction(
        path="x.js", language="javascript", is_declaration_file=False, size_bytes=4, had_syntax_errors=False, error=None
    )
    with connect(database_url, "pipeline") as writer_conn:
        writer = SnapshotWriter(writer_conn, repository_id=repository_id[0], commit_sha="c" * 40)
        writer.begin()
        writer.add_file(FileRow(file_idx=0, path="x.js", blob_oid=oid, extraction=extraction, text="x();"))
        writer.flush()
        conn.execute("DELETE FROM file_results WHERE blob_oid = %s AND language = 'typescript'", [oid])
        conn.commit()
        writer_conn.commit()
    assert contents(conn) == {oid: "x();"}
    conn.execute("DELETE FROM file_results WHERE blob_oid = %s", [oid])
    assert contents(conn) == {}  # the last result naming it takes it along


# ----- search -----


def test_search__a_literal_finds_lines_any_case_with_column_and_enclosing_symbol(
    indexed: Indexed, conn: psycopg.Connection[TupleRow]
) -> None:
    found = search_code(conn, indexed.id, "hello (")
    assert found.items == [
        CodeMatch(
            path="src/app.ts",
            line=7,
            column=17,
            text='  const label = "hello (world)";',
            symbol=SymbolRef(id="1:2", name="parseConfig", kind="function"),  # file 1 in path order, its 3rd symbol
        )
    ]
    everywhere = search_code(conn, indexed.id, "HeLLo")
    assert lines(everywhere.items) == [
        ("lib/other.js", 1),
        ("src/app.ts", 3),
        ("src/app.ts", 7),
        ("src/app.ts", 10),
        ("src/util/strings.ts", 1),
        ("src/utilities.ts", 1),
    ]
    assert not everywhere.truncated
    greet = everywhere.items[1]
    assert greet.column == 12
    assert greet.symbol is not None
    assert (greet.symbol.name, greet.symbol.kind) == ("greet", "method")
    assert everywhere.items[3].symbol is not None
    assert everywhere.items[3].symbol.name == "top"


def test_search__case_sensitive_matches_only_that_case(indexed: Indexed, conn: psycopg.Connection[TupleRow]) -> None:
    assert lines(search_code(conn, indexed.id, "HELLO", case_sensitive=True).items) == [("src/app.ts", 10)]
    assert lines(search_code(conn, indexed.id, "Hello", case_sensitive=True).items) == [("src/app.ts", 3)]


def test_search__a_regular_expression_matches_per_line(indexed: Indexed, conn: psycopg.Connection[TupleRow]) -> None:
    found = search_code(conn, indexed.id, r"^export (function|const) \w+", regex=True)
    assert lines(found.items) == [("src/app.ts", 6), ("src/util/strings.ts", 1), ("src/utilities.ts", 1)]
    assert search_code(conn, indexed.id, r"return.*\}$", regex=True).items == []  # `.` never crosses a line
    top = search_code(conn, indexed.id, r"hello\s+top\W+$", regex=True)
    assert lines(top.items) == [("src/app.ts", 10)]
    assert top.items[0].symbol is not None
    assert top.items[0].symbol.name == "top"


def test_search__path_filters_by_prefix_of_whole_segments_or_by_glob(
    indexed: Indexed, conn: psycopg.Connection[TupleRow]
) -> None:
    def paths(path: str) -> list[str]:
        return sorted({match.path for match in search_code(conn, indexed.id, "hello", path=path).items})

    assert paths("src/util") == ["src/util/strings.ts"]
    assert paths("src/util/") == ["src/util/strings.ts"]
    assert paths("src/app.ts") == ["src/app.ts"]
    assert paths("src/*.ts") == ["src/app.ts", "src/utilities.ts"]
    assert paths("**/*.ts") == ["src/app.ts", "src/util/strings.ts", "src/utilities.ts"]
    assert paths("src/**") == ["src/app.ts", "src/util/strings.ts", "src/utilities.ts"]
    assert paths("*.js") == []
    assert paths("**/*.js") == ["lib/other.js"]
    assert paths("lib/oth?r.js") == ["lib/other.js"]


def test_search__limit_bounds_the_matches_and_says_truncated(
    indexed: Indexed, conn: psycopg.Connection[TupleRow]
) -> None:
    found = search_code(conn, indexed.id, "hello", limit=2)
    assert lines(found.items) == [("lib/other.js", 1), ("src/app.ts", 3)]
    assert found.truncated
    assert not search_code(conn, indexed.id, "hello", limit=6).truncated


def test_search__only_the_current_snapshot_is_searched(
    indexed: Indexed, pipeline_config: Config, conn: psycopg.Connection[TupleRow]
) -> None:
    repo = indexed.repo
    changed = {**SOURCES, "src/utilities.ts": "export const other = 'goodbye';\n"}
    del changed["lib/other.js"]
    index(pipeline_config, conn, repo, commit_files(repo, changed, "second"))
    assert lines(search_code(conn, indexed.id, "goodbye").items) == [("src/utilities.ts", 1)]
    hello = {match.path for match in search_code(conn, indexed.id, "hello").items}
    assert hello == {"src/app.ts", "src/util/strings.ts"}  # the old text and the deleted file are gone


def test_search__bad_input_is_a_400_naming_the_field(indexed: Indexed, conn: psycopg.Connection[TupleRow]) -> None:
    cases = [
        ({"q": "("}, {"regex": True}, "q"),
        ({"q": "a{2,1}"}, {"regex": True}, "q"),
        ({"q": "(?i)hello"}, {"regex": True}, "q"),
        ({"q": ""}, {}, "q"),
        ({"q": "two\nlines"}, {}, "q"),
        ({"q": "x" * 1001}, {}, "q"),
        ({"q": "hello"}, {"path": "../elsewhere"}, "path"),
        ({"q": "hello"}, {"limit": 0}, "limit"),
        ({"q": "hello"}, {"limit": 501}, "limit"),
    ]
    for positional, options, field in cases:
        with pytest.raises(IndexQueryError) as caught:
            search_code(conn, indexed.id, positional["q"], **options)  # type: ignore[arg-type]
        assert (caught.value.status, caught.value.field) == (400, field), (positional, options, caught.value)
    assert lines(search_code(conn, indexed.id, "${name}").items) == [("src/app.ts", 3)]  # a literal is escaped


def test_search__an_unknown_repository_is_a_404(conn: psycopg.Connection[TupleRow]) -> None:
    with pytest.raises(IndexQueryError) as caught:
        search_code(conn, str(uuid.uuid4()), "hello")
    assert caught.value.status == 404


def test_search__a_search_over_its_time_limit_is_a_422_naming_q(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], repo: pygit2.Repository
) -> None:
    big = "".join(f"const v{n} = 'a{n % 97}b{n % 89}c';\n" for n in range(2000))
    repository = index(pipeline_config, conn, repo, commit_files(repo, {"big.ts": big}, "big"))
    with pytest.raises(IndexQueryError) as caught:
        # backreferences make Postgres run its slow regex engine on every line; far over a millisecond
        search_code(conn, repository, r"(a\d+)(b\d+)\2\1", regex=True, timeout=0.001)
    assert (caught.value.status, caught.value.field) == (422, "q")
    assert "longer than" in str(caught.value)


def test_search__the_trigram_index_narrows_the_texts(conn: psycopg.Connection[TupleRow]) -> None:
    """EXPLAIN of the file query on a snapshot of 5,000 files: a literal and a regular expression both read
    file_contents through its trigram index rather than every text of the snapshot."""
    snapshot_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO file_results (blob_oid, language, is_declaration_file, extractor_version, size_bytes,"
        " had_syntax_errors) SELECT md5(n::text), 'typescript', false, 2, 40, false FROM generate_series(1, 5000) n"
    )
    conn.execute(
        "INSERT INTO file_contents SELECT md5(n::text), 'const value' || n || ' = compute(' || n || ');'"
        " FROM generate_series(1, 5000) AS n"
    )
    conn.execute(
        "INSERT INTO snapshot_files (snapshot_id, file_idx, path, file_result_id)"
        " SELECT %s, row_number() OVER (ORDER BY id) - 1, 'src/' || id || '.ts', id FROM file_results",
        [snapshot_id],
    )
    conn.execute("ANALYZE file_results, file_contents, snapshot_files")
    for pattern in (query_pattern("parseConfig", regex=False, case_sensitive=False), r"(?n)export\s+function\s+p\w+"):
        with conn.transaction(), search_settings(conn, TIMEOUT_SECONDS):
            explained = conn.execute(
                f"EXPLAIN {query('code_search_files')}",
                {"snapshot_id": snapshot_id, "pattern": pattern, "path_pattern": None, "limit": 51},
            )
            plan = "\n".join(row[0] for row in explained)
        assert "Bitmap Index Scan on file_contents_trgm" in plan, plan
