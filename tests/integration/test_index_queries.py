"""The query layer over real indexes: a real git repository indexed by the stage functions and stored by the
write stage, read back through ``pipeline.index_queries`` on a real database."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

from pipeline import index_queries
from pipeline.db import query
from pipeline.index_queries import IndexQueryError
from tests.integration.indexed import (
    CLIENT_TS,
    FULL_NAME,
    MAIN_TS,
    SOURCES,
    UTIL_TS,
    add_repository,
    index_repository,
    position,
)

Conn = psycopg.Connection[TupleRow]


@pytest.fixture
def indexed(conn: Conn, tmp_path: Path) -> uuid.UUID:
    return index_repository(conn, tmp_path)


def raises(status: int, field: str | None = None) -> pytest.RaisesExc[IndexQueryError]:
    return pytest.raises(IndexQueryError, check=lambda exc: exc.status == status and exc.field == field)


def symbol_at(conn: Conn, path: str, source: str, needle: str, occurrence: int = 0) -> index_queries.SymbolInfo:
    found = index_queries.definition(conn, FULL_NAME, path, *position(source, needle, occurrence)).definition
    assert found is not None
    return found


# ----- repositories -----


def test_resolve_repository__by_id_or_full_name_in_any_case(conn: Conn, indexed: uuid.UUID) -> None:
    for name in (str(indexed), "acme/app", "ACME/App", f" {indexed} "):
        assert index_queries.resolve_repository(conn, name).id == indexed


def test_resolve_repository__unknown_ambiguous_and_not_indexed(conn: Conn, indexed: uuid.UUID) -> None:
    with raises(404, "repository"):
        index_queries.resolve_repository(conn, "acme/other")
    with raises(400, "repository"):
        index_queries.resolve_repository(conn, " ")
    waiting = add_repository(conn, "octo/new")
    with raises(409, "repository"):
        index_queries.resolve_repository(conn, "octo/new")
    assert index_queries.resolve_repository(conn, "octo/new", require_index=False).id == waiting
    twin = add_repository(conn, "Acme/App", url="https://mirror.example.test/acme/app.git")
    with pytest.raises(IndexQueryError, match=f"{min(indexed, twin)}, {max(indexed, twin)}") as ambiguous:
        index_queries.resolve_repository(conn, "acme/app")
    assert ambiguous.value.status == 409
    assert index_queries.resolve_repository(conn, str(twin), require_index=False).id == twin


def test_list_repositories__pages_by_name_with_counts(conn: Conn, indexed: uuid.UUID) -> None:
    for name in ("b/one", "c/two", "d/three"):
        add_repository(conn, name)
    first = index_queries.list_repositories(conn, limit=2)
    assert [item.full_name for item in first.items] == ["acme/app", "b/one"]
    assert first.items[0].counts == index_queries.IndexCounts(files=4, symbols=9, references=10, links=9)
    assert first.items[0].commit_sha is not None
    assert first.items[1].counts is None
    assert first.next_cursor is not None
    second = index_queries.list_repositories(conn, limit=2, cursor=first.next_cursor)
    assert [item.full_name for item in second.items] == ["c/two", "d/three"]
    assert second.next_cursor is None
    for forged in ("bm90IGEgY3Vyc29y", base64.urlsafe_b64encode(b"name-id\nacme/app\nnot-an-id").decode()):
        with raises(400, "cursor"):
            index_queries.list_repositories(conn, cursor=forged)
    with raises(400, "limit"):
        index_queries.list_repositories(conn, limit=100_000)


# ----- symbols -----


def test_search_symbols__ranks_exact_then_prefix_then_fuzzy(conn: Conn, indexed: uuid.UUID) -> None:
    page = index_queries.search_symbols(conn, FULL_NAME, "HELPER")
    assert [(item.name, item.path) for item in page.items] == [
        ("helper", "src/util.ts"),
        ("helperTwice", "src/util.ts"),
    ]
    helper = page.items[0]
    assert helper.kind == "function"
    assert helper.exported
    assert helper.signature.startswith("export function helper(")
    assert helper.name_range == index_queries.span(1, 16, 1, 22)
    fuzzy = index_queries.search_symbols(conn, FULL_NAME, "helpr", match="fuzzy")
    assert [item.name for item in fuzzy.items][:1] == ["helper"]
    assert [item.name for item in index_queries.search_symbols(conn, FULL_NAME, "helper", match="exact").items] == [
        "helper"
    ]
    assert index_queries.search_symbols(conn, FULL_NAME, "helpr", match="exact").items == []
    assert index_queries.search_symbols(conn, FULL_NAME, "ste", match="prefix").items[0].parent == (
        index_queries.SymbolRef(
            id=symbol_at(conn, "src/client.ts", CLIENT_TS, "Client").id, name="Client", kind="class"
        )
    )


def test_search_symbols__filters_by_kind_export_and_path(conn: Conn, indexed: uuid.UUID) -> None:
    def names(**filters: object) -> list[str]:
        return [
            item.name for item in index_queries.search_symbols(conn, FULL_NAME, "h", match="prefix", **filters).items
        ]  # type: ignore[arg-type]

    assert names() == ["helper", "helperTwice", "hidden"]
    assert names(exported=False) == ["hidden"]
    assert names(kind="method") == []
    assert names(path="src") == names(path="src/util.ts") == names(path="src/") == ["helper", "helperTwice", "hidden"]
    assert names(path="src/deep") == []
    with raises(400, "path"):
        names(path="../src")


@pytest.mark.parametrize(
    ("q", "match"), [("helperTwic", "fuzzy"), ("helperT", "auto"), ("help", "auto"), ("h", "prefix")]
)
def test_search_symbols__pages_without_gaps_or_repeats(conn: Conn, indexed: uuid.UUID, q: str, match: str) -> None:
    """Page by page, across auto's boundary between the exact and prefix matches and the other similar names too."""
    everything = [item.id for item in index_queries.search_symbols(conn, FULL_NAME, q, match=match, limit=200).items]  # type: ignore[arg-type]
    assert len(everything) >= 2
    for limit in (1, 2):
        seen: list[str] = []
        cursor = None
        while True:
            page = index_queries.search_symbols(conn, FULL_NAME, q, match=match, limit=limit, cursor=cursor)  # type: ignore[arg-type]
            seen.extend(item.id for item in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == everything


def test_search_symbols__auto_lists_exact_then_prefix_then_other_similar_names(conn: Conn, indexed: uuid.UUID) -> None:
    names = [item.name for item in index_queries.search_symbols(conn, FULL_NAME, "helperT").items]
    assert names == ["helperTwice", "helper"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "x" * 500}, "q"),
        ({"match": "regex"}, "match"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_000}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"path": "/etc"}, "path"),
    ],
)
def test_search_symbols__bad_input_is_400_naming_it(
    conn: Conn, indexed: uuid.UUID, options: dict[str, object], field: str
) -> None:
    arguments: dict[str, object] = {"q": "helper", **options}
    with raises(400, field):
        index_queries.search_symbols(conn, FULL_NAME, **arguments)  # type: ignore[arg-type]


def test_inputs_postgres_cannot_take_are_400_not_server_errors(conn: Conn, indexed: uuid.UUID) -> None:
    """A command line's undecodable bytes arrive as lone surrogates, which no UTF-8 database text can hold."""
    undecodable = b"src/\xff.ts".decode(errors="surrogateescape")
    with raises(400, "path"):
        index_queries.outline(conn, FULL_NAME, undecodable)
    with raises(400, "q"):
        index_queries.search_symbols(conn, FULL_NAME, undecodable)
    with raises(400, "kind"):
        index_queries.search_symbols(conn, FULL_NAME, "helper", kind=undecodable)
    with raises(400, "repository"):
        index_queries.resolve_repository(conn, undecodable)
    with raises(400, "q"):
        index_queries.packages(conn, FULL_NAME, q=undecodable)


# ----- definition and references -----


def test_definition__of_a_reference_in_another_file(conn: Conn, indexed: uuid.UUID) -> None:
    line, column = position(MAIN_TS, "helper(2)")
    for at_column in (column, column + 3, column + len("helper")):
        found = index_queries.definition(conn, FULL_NAME, "src/main.ts", line, at_column)
        assert found.at.kind == "reference"
        assert found.at.name == "helper"
        assert found.at.reference_kind == "call"
        assert found.at.enclosing is not None
        assert found.at.enclosing.name == "main"
        assert found.definition is not None
        assert (found.definition.path, found.definition.name, found.definition.range.start.line) == (
            "src/util.ts",
            "helper",
            1,
        )


def test_definition__of_members_through_the_class_and_this(conn: Conn, indexed: uuid.UUID) -> None:
    created = index_queries.definition(conn, FULL_NAME, "src/main.ts", *position(MAIN_TS, "create"))
    assert created.at.qualifier == "Client"
    assert created.definition is not None
    assert (created.definition.name, created.definition.kind, created.definition.path) == (
        "create",
        "method",
        "src/client.ts",
    )
    assert created.definition.parent is not None
    assert created.definition.parent.name == "Client"
    stepped = index_queries.definition(conn, FULL_NAME, "src/client.ts", *position(CLIENT_TS, "step()"))
    assert stepped.at.qualifier == "this"
    assert stepped.definition is not None
    assert stepped.definition.name == "step"
    assert stepped.definition.name_range.start == index_queries.Position(*position(CLIENT_TS, "step(", 1))


def test_definition__of_a_declaration_is_itself(conn: Conn, indexed: uuid.UUID) -> None:
    found = index_queries.definition(conn, FULL_NAME, "src/client.ts", *position(CLIENT_TS, "Client {"))
    assert found.at.kind == "declaration"
    assert found.definition is not None
    assert found.definition.name == "Client"
    assert found.definition.doc == "Talks to the server."


def test_definition__of_an_unlinked_reference_says_why(conn: Conn, indexed: uuid.UUID) -> None:
    found = index_queries.definition(conn, FULL_NAME, "src/main.ts", *position(MAIN_TS, "log"))
    assert found.definition is None
    assert found.reason is not None
    assert "unlinked" in found.reason
    assert "console.log" in found.reason


def test_definition__bad_positions_and_paths(conn: Conn, indexed: uuid.UUID) -> None:
    with raises(404, "column"):
        index_queries.definition(conn, FULL_NAME, "src/main.ts", 5, 0)  # the empty line
    with raises(422, "line"):
        index_queries.definition(conn, FULL_NAME, "src/main.ts", 100_000, 0)
    assert MAIN_TS.count("\n") == 10  # so line 11 is the empty one after the last newline, and line 12 is past it
    with raises(404, "column"):
        index_queries.definition(conn, FULL_NAME, "src/main.ts", 11, 0)
    with pytest.raises(IndexQueryError, match=r"line: 12 is past the end of src/main.ts \(11 lines\)"):
        index_queries.definition(conn, FULL_NAME, "src/main.ts", 12, 0)
    with pytest.raises(IndexQueryError, match=r"column: 2 is past the end of line 10 of src/main.ts \(1 bytes\)"):
        index_queries.definition(conn, FULL_NAME, "src/main.ts", 10, 2)
    with raises(400, "line"):
        index_queries.definition(conn, FULL_NAME, "src/main.ts", 0, 0)
    with raises(400, "column"):
        index_queries.definition(conn, FULL_NAME, "src/main.ts", 1, -1)
    with raises(404, "path"):
        index_queries.definition(conn, FULL_NAME, "src/missing.ts", 1, 0)
    for outside in (
        "/src/main.ts",
        "../main.ts",
        "src/../src/main.ts",
        "src//main.ts",
        "src\\main.ts",
        "./src/main.ts",
    ):
        with raises(400, "path"):
            index_queries.definition(conn, FULL_NAME, outside, 1, 0)
    with raises(404, "repository"):
        index_queries.definition(conn, "nobody/nothing", "src/main.ts", 1, 0)


def test_references__of_a_symbol_with_their_enclosing_symbols(conn: Conn, indexed: uuid.UUID) -> None:
    helper = symbol_at(conn, "src/util.ts", UTIL_TS, "helper")
    found = index_queries.references(conn, FULL_NAME, symbol=helper.id)
    assert found.symbol == helper
    assert found.total == 3
    assert [(item.path, item.range.start.line, item.enclosing and item.enclosing.name) for item in found.items] == [
        ("src/main.ts", 9, "main"),
        ("src/util.ts", 5, "helperTwice"),
        ("src/util.ts", 5, "helperTwice"),
    ]
    by_position = index_queries.references(
        conn, FULL_NAME, path="src/main.ts", line=9, column=position(MAIN_TS, "helper(2)")[1]
    )
    assert by_position == found
    paged = index_queries.references(conn, FULL_NAME, symbol=helper.id, limit=2)
    assert paged.items == found.items[:2]
    assert paged.next_cursor is not None
    rest = index_queries.references(conn, FULL_NAME, symbol=helper.id, limit=2, cursor=paged.next_cursor)
    assert rest.items == found.items[2:]
    assert rest.next_cursor is None


def test_references__bad_targets(conn: Conn, indexed: uuid.UUID) -> None:
    with raises(400, "symbol"):
        index_queries.references(conn, FULL_NAME, symbol="helper")
    with raises(404, "symbol"):
        index_queries.references(conn, FULL_NAME, symbol="999:0")
    with raises(400, "symbol"):
        index_queries.references(conn, FULL_NAME)
    with raises(400, "column"):
        index_queries.references(conn, FULL_NAME, path="src/main.ts", line=3)
    with raises(422, "column"):
        index_queries.references(conn, FULL_NAME, path="src/main.ts", line=8, column=position(MAIN_TS, "log")[1])


# ----- files -----


def test_outline__is_a_tree_in_source_order(conn: Conn, indexed: uuid.UUID) -> None:
    outline = index_queries.outline(conn, FULL_NAME, "src/client.ts")
    assert outline.language == "typescript"
    assert not outline.had_syntax_errors
    assert outline.error is None
    assert [(node.symbol.name, [child.symbol.name for child in node.children]) for node in outline.symbols] == [
        ("Client", ["create", "run", "step"])
    ]


def test_file_imports__resolved_files_packages_builtins_and_linked_names(conn: Conn, indexed: uuid.UUID) -> None:
    imports = index_queries.file_imports(conn, FULL_NAME, "src/main.ts").imports
    assert [(item.specifier, item.resolution, item.path, item.package) for item in imports] == [
        ("./client", "file", "src/client.ts", None),
        ("./util", "file", "src/util.ts", None),
        ("react", "external", None, "react"),
        ("fs", "builtin", None, "fs"),
    ]
    helper = imports[1].names[0]
    assert (helper.local, helper.symbol_path) == ("helper", "src/util.ts")
    assert helper.symbol is not None
    assert helper.symbol.name == "helper"
    assert imports[2].names[0].symbol is None


def test_file_imports__a_file_the_index_does_not_hold_is_shown_by_its_path(conn: Conn, tmp_path: Path) -> None:
    app = "import './styles.css';\nimport pkg from '../package.json';\nimport { helper } from './util';\n"
    index_repository(conn, tmp_path, {**SOURCES, "src/app.ts": app, "src/styles.css": "body {}\n"})
    imports = index_queries.file_imports(conn, FULL_NAME, "src/app.ts").imports
    assert [(item.specifier, item.resolution, item.path) for item in imports] == [
        ("./styles.css", "file", "src/styles.css"),
        ("../package.json", "file", "package.json"),
        ("./util", "file", "src/util.ts"),
    ]
    stored = conn.execute(
        "SELECT import_idx, target_file_idx IS NULL, target_path FROM resolved_imports r JOIN "
        "snapshot_files f USING (snapshot_id, file_idx) WHERE f.path = 'src/app.ts' ORDER BY 1"
    )
    assert stored.fetchall() == [(0, True, "src/styles.css"), (1, True, "package.json"), (2, False, None)]


def test_file_importers__and_packages(conn: Conn, indexed: uuid.UUID) -> None:
    importers = index_queries.file_importers(conn, FULL_NAME, "src/util.ts")
    assert [(item.path, item.specifier, item.range.start.line) for item in importers.importers] == [
        ("src/main.ts", "./util", 2)
    ]
    assert index_queries.file_importers(conn, FULL_NAME, "src/deep/nested/thing.ts").importers == []
    found = index_queries.packages(conn, FULL_NAME)
    assert [(item.name, item.builtin, item.versions, item.paths) for item in found.items] == [
        ("fs", True, [], ["src/main.ts"]),
        ("react", False, ["^18.2.0"], ["src/main.ts"]),
    ]
    assert [item.name for item in index_queries.packages(conn, FULL_NAME, q="REA").items] == ["react"]
    first = index_queries.packages(conn, FULL_NAME, limit=1)
    assert first.next_cursor is not None
    assert [item.name for item in index_queries.packages(conn, FULL_NAME, limit=1, cursor=first.next_cursor).items] == [
        "react"
    ]


def test_impact__follows_files_and_symbols_transitively_to_a_depth(conn: Conn, indexed: uuid.UUID) -> None:
    helper = symbol_at(conn, "src/util.ts", UTIL_TS, "helper")
    found = index_queries.impact(conn, FULL_NAME, paths=["src/util.ts"], symbols=[helper.id])
    assert [(item.path, item.depth) for item in found.files] == [
        ("src/util.ts", 0),
        ("src/main.ts", 1),
        ("src/deep/nested/thing.ts", 2),
    ]
    assert [(item.name, item.depth) for item in found.symbols] == [
        ("helper", 0),
        ("main", 1),
        ("helperTwice", 1),
        ("thing", 2),
    ]
    shallow = index_queries.impact(conn, FULL_NAME, paths=["src/util.ts"], depth=1)
    assert [item.path for item in shallow.files] == ["src/util.ts", "src/main.ts"]
    assert not shallow.truncated
    with raises(400, "path"):
        index_queries.impact(conn, FULL_NAME)
    with raises(400, "depth"):
        index_queries.impact(conn, FULL_NAME, paths=["src/util.ts"], depth=11)
    with raises(404, "path"):
        index_queries.impact(conn, FULL_NAME, paths=["src/nope.ts"])


# ----- one consistent read -----


def test_snapshot_read__is_one_read_only_repeatable_read_transaction(conn: Conn) -> None:
    with index_queries.snapshot_read(conn):
        settings = conn.execute(
            "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')"
        ).fetchone()
        with index_queries.snapshot_read(conn):  # nested: the same transaction
            assert conn.execute("SELECT txid_current_if_assigned() IS NULL").fetchone() == (True,)
    assert settings == ("repeatable read", "on")
    assert (conn.isolation_level, conn.read_only, conn.info.transaction_status) == (
        None,
        None,
        psycopg.pq.TransactionStatus.IDLE,
    )


def test_snapshot_read__bounds_each_statement_and_says_so_when_one_runs_over(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    with index_queries.snapshot_read(conn):
        assert conn.execute("SHOW statement_timeout").fetchone() == (f"{index_queries.ANSWER_TIMEOUT_MS // 1000}s",)
    assert conn.execute("SHOW statement_timeout").fetchone() == ("0",), "the bound is the transaction's only"
    monkeypatch.setattr(index_queries, "ANSWER_TIMEOUT_MS", 50)
    with pytest.raises(index_queries.IndexQueryError) as raised, index_queries.snapshot_read(conn):
        conn.execute("SELECT pg_sleep(5)")
    assert raised.value.status == 422
    assert "took over 0.05 s" in str(raised.value)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


# ----- query plans -----


def generated_sources(files: int) -> dict[str, str]:
    """A repository big enough for the planner to prefer indexes: files importing and calling each other."""
    sources: dict[str, str] = {}
    for number in range(files):
        callee = (number * 7 + 3) % files
        sources[f"src/part{number // 50}/mod{number}.ts"] = (
            f"import {{ fn{callee} }} from '../part{callee // 50}/mod{callee}';\n"
            f"export class Thing{number} {{\n  run{number}(): number {{ return fn{callee}() + this.size(); }}\n"
            "  size(): number { return 1; }\n}\n"
            f"export function fn{number}(): number {{ return new Thing{number}().run{number}(); }}\n"
            + "".join(f"export const value{number}_{extra} = {extra};\n" for extra in range(20))
        )
    return sources


def plan_nodes(conn: Conn, statement: str, params: dict[str, object]) -> list[tuple[str, str, str]]:
    """Every node the statement's plan ran, as (node type, relation, index); arms switched off by a parameter
    (a one-time filter) never run."""
    row = conn.execute(sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + sql.SQL(statement), params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    nodes: list[tuple[str, str, str]] = []
    pending = [row[0][0]["Plan"]]
    while pending:
        node = pending.pop()
        if node["Actual Loops"]:
            nodes.append((node["Node Type"], node.get("Relation Name", ""), node.get("Index Name", "")))
        pending.extend(node.get("Plans", []))
    return nodes


COPY_SNAPSHOTS = """
WITH source AS (SELECT current_snapshot_id AS id, id AS repository_id FROM repositories),
copies AS (
    INSERT INTO snapshots (repository_id, commit_sha)
    SELECT source.repository_id, lpad(n::text, 40, '0') FROM source, generate_series(1, %(copies)s) AS n
    RETURNING id
),
files AS (
    INSERT INTO snapshot_files SELECT c.id, f.file_idx, f.path, f.file_result_id
    FROM copies c, source JOIN snapshot_files f ON f.snapshot_id = source.id
),
links AS (
    INSERT INTO reference_links SELECT c.id, l.file_idx, l.reference_idx, l.target_file_idx, l.target_symbol_idx
    FROM copies c, source JOIN reference_links l ON l.snapshot_id = source.id
),
imports AS (
    INSERT INTO resolved_imports
    SELECT c.id, r.file_idx, r.import_idx, r.kind, r.target_file_idx, r.package, r.target_path
    FROM copies c, source JOIN resolved_imports r ON r.snapshot_id = source.id
),
file_deps AS (
    INSERT INTO file_dependencies SELECT c.id, d.source_file_idx, d.target_file_idx
    FROM copies c, source JOIN file_dependencies d ON d.snapshot_id = source.id
)
INSERT INTO symbol_dependencies
SELECT c.id, d.source_file_idx, d.source_symbol_idx, d.target_file_idx, d.target_symbol_idx
FROM copies c, source JOIN symbol_dependencies d ON d.snapshot_id = source.id
"""
"""Other snapshots of the same files (other repositories, in effect), so the tables the queries filter by
snapshot hold many snapshots, as a shared database does."""

BIG_TABLES = {
    "symbols",
    "refs",
    "reference_links",
    "snapshot_files",
    "resolved_imports",
    "file_dependencies",
    "symbol_dependencies",
    "imports",
}


def test_query_plans__the_hot_queries_find_their_rows_by_index(conn: Conn, tmp_path: Path) -> None:
    index_repository(conn, tmp_path, generated_sources(600))
    conn.execute(COPY_SNAPSHOTS, {"copies": 20})
    # VACUUM, as autovacuum does after a bulk insert: until then the trigram index's new entries sit in its GIN
    # pending list, which the planner prices (rightly) as a scan
    conn.execute("VACUUM ANALYZE")
    ref = index_queries.resolve_repository(conn, FULL_NAME)
    util = conn.execute(
        "SELECT file_idx, file_result_id FROM snapshot_files WHERE snapshot_id = %s AND path = 'src/part0/mod3.ts'",
        [ref.snapshot_id],
    ).fetchone()
    assert util is not None
    file_idx, result_id = util
    snapshot = ref.snapshot_id
    trgm = sql.Identifier(index_queries.trigram_schema(conn))
    search = sql.SQL(query("index_symbol_search")).format(trgm=trgm).as_string(conn)  # type: ignore[arg-type]
    search_params = {
        "snapshot": snapshot,
        "q": "fn12",
        "prefix_end": "\U0010ffff",
        "exact": True,
        "prefix": True,
        "fuzzy": False,
        "similar_only": True,
        "kind": None,
        "exported": None,
        "path_prefix": None,
        "offset": 0,
        "limit": 21,
    }
    fuzzy_params = {**search_params, "exact": False, "prefix": False, "fuzzy": True}
    expected = {
        "index_symbol_search": (search_params, ["symbols_name_lower"], search),
        "fuzzy": (fuzzy_params, ["symbols_name_trgm"], search),
        "index_symbol_references": (
            {"snapshot": snapshot, "file_idx": file_idx, "symbol_idx": 0, "offset": 0, "limit": 101},
            ["reference_links_target"],
            None,
        ),
        "index_reference_at": (
            {"snapshot": snapshot, "file_idx": file_idx, "file_result_id": result_id, "line": 3, "column": 30},
            ["refs_pkey"],
            None,
        ),
        "index_file_symbols": (
            {"file_result_id": result_id, "file_idx": file_idx, "path": "x"},
            ["symbols_pkey"],
            None,
        ),
        "index_file_importers": (
            {"snapshot": snapshot, "file_idx": file_idx, "limit": 1001},
            ["resolved_imports_target"],
            None,
        ),
        "index_file_get": ({"snapshot": snapshot, "path": "src/part0/mod3.ts"}, ["snapshot_files_path"], None),
        "index_file_dependents": (
            {"snapshot": snapshot, "files": [file_idx], "depth": 3, "limit": 1001},
            ["file_dependencies_target"],
            None,
        ),
        "index_symbol_dependents": (
            {"snapshot": snapshot, "files": [file_idx], "symbols": [0], "depth": 3, "limit": 1001},
            ["symbol_dependencies_target"],
            None,
        ),
    }
    for name, (params, indexes, statement) in expected.items():
        nodes = plan_nodes(conn, statement or query(name), params)
        used = {index for _, _, index in nodes}
        assert set(indexes) <= used, (name, "\n".join(map(str, nodes)))
        scanned = {relation for node_type, relation, _ in nodes if node_type == "Seq Scan"}
        assert not scanned & BIG_TABLES, (name, "\n".join(map(str, nodes)))
