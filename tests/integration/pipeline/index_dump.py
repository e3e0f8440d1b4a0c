"""A stored index as a value that does not depend on file ids: everything keyed by path (and symbol index), so an
index updated incrementally, a full index of the same commit and the in-process linker's output compare equal
exactly when they say the same thing."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import TupleRow

from pipeline.local import LocalIndex

IndexDump = dict[str, Any]


def stored_index(conn: psycopg.Connection[TupleRow], repository_id: Any) -> IndexDump:
    """The current snapshot of a repository, by path."""
    row = conn.execute("SELECT current_snapshot_id FROM repositories WHERE id = %s", [repository_id]).fetchone()
    assert row is not None, f"repository {repository_id} does not exist"
    assert row[0] is not None, "the repository has no current snapshot"
    snapshot = row[0]
    files = conn.execute(
        "SELECT f.file_idx, f.path, r.blob_oid, r.language, r.is_declaration_file, r.error_kind"
        " FROM snapshot_files f JOIN file_results r ON r.id = f.file_result_id WHERE f.snapshot_id = %s",
        [snapshot],
    ).fetchall()
    path_of = {file_idx: path for file_idx, path, *_ in files}
    assert len(path_of) == len(files), "two rows of the snapshot's file list share a file id"
    symbols = conn.execute(
        "SELECT f.path, s.idx, s.name, s.kind, s.parent_idx, s.exported, s.signature, s.doc, s.type_hint,"
        " s.receiver, s.start_byte, s.end_byte FROM snapshot_files f JOIN symbols s ON s.file_result_id ="
        " f.file_result_id WHERE f.snapshot_id = %s",
        [snapshot],
    ).fetchall()

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return conn.execute(sql, [snapshot]).fetchall()

    return {
        "files": {path: (oid, language, declaration, error) for _, path, oid, language, declaration, error in files},
        "symbols": {(path, idx): tuple(rest) for path, idx, *rest in symbols},
        "resolved_imports": {
            (path_of[f], i): (kind, None if target is None else path_of[target], package, target_path)
            for f, i, kind, target, package, target_path in rows(
                "SELECT file_idx, import_idx, kind, target_file_idx, package, target_path FROM resolved_imports"
                " WHERE snapshot_id = %s"
            )
        },
        "binding_links": {
            (path_of[f], i, b): (path_of[target], symbol)
            for f, i, b, target, symbol in rows(
                "SELECT file_idx, import_idx, binding_idx, target_file_idx, target_symbol_idx FROM binding_links"
                " WHERE snapshot_id = %s"
            )
        },
        "reference_links": {
            (path_of[f], r): (path_of[target], symbol)
            for f, r, target, symbol in rows(
                "SELECT file_idx, reference_idx, target_file_idx, target_symbol_idx FROM reference_links"
                " WHERE snapshot_id = %s"
            )
        },
        "file_dependencies": {
            (path_of[source], path_of[target], inferred)
            for source, target, inferred in rows(
                "SELECT source_file_idx, target_file_idx, inferred FROM file_dependencies WHERE snapshot_id = %s"
            )
        },
        "symbol_dependencies": {
            (path_of[source], source_symbol, path_of[target], target_symbol)
            for source, source_symbol, target, target_symbol in rows(
                "SELECT source_file_idx, source_symbol_idx, target_file_idx, target_symbol_idx FROM"
                " symbol_dependencies WHERE snapshot_id = %s"
            )
        },
        "package_dependencies": {
            (path_of[f], package): (builtin, version)
            for f, package, builtin, version in rows(
                "SELECT file_idx, package, is_builtin, version FROM package_dependencies WHERE snapshot_id = %s"
            )
        },
    }


def local_index(local: LocalIndex) -> IndexDump:
    """The in-process runner's index of a commit (no database), by path."""
    path_of = {index: file.path for index, file in enumerate(local.files)}
    linked = local.linked.linked
    versions = local.linked.package_versions
    return {
        "files": {
            file.path: (
                file.blob_oid,
                file.extraction.language or "",
                file.extraction.is_declaration_file,
                None if file.extraction.error is None else file.extraction.error.kind,
            )
            for file in local.files
        },
        "symbols": {
            (file.path, idx): (
                symbol.name,
                symbol.kind,
                symbol.parent,
                symbol.exported,
                symbol.signature,
                symbol.doc,
                symbol.type_hint,
                symbol.receiver,
                symbol.span.start_byte,
                symbol.span.end_byte,
            )
            for file in local.files
            for idx, symbol in enumerate(file.extraction.symbols)
        },
        "resolved_imports": {
            (path_of[r.file], r.import_index): (
                r.kind,
                None if r.target_file is None else path_of[r.target_file],
                r.package,
                r.target_path,
            )
            for r in linked.resolved_imports
        },
        "binding_links": {
            (path_of[b.file], b.import_index, b.binding_index): (path_of[b.target.file], b.target.symbol)
            for b in linked.binding_links
            if b.target is not None
        },
        "reference_links": {
            (path_of[r.file], r.reference_index): (path_of[r.target.file], r.target.symbol)
            for r in linked.reference_links
            if r.target is not None
        },
        "file_dependencies": {(path_of[d.source], path_of[d.target], d.inferred) for d in linked.file_dependencies},
        "symbol_dependencies": {
            (path_of[d.source.file], d.source.symbol, path_of[d.target.file], d.target.symbol)
            for d in linked.symbol_dependencies
        },
        "package_dependencies": {
            (path_of[p.file], p.package): (p.is_builtin, versions.get(f"{p.file}:{p.package}"))
            for p in linked.package_dependencies
        },
    }


def differences(actual: IndexDump, expected: IndexDump) -> dict[str, Any]:
    """Per part, what one side has that the other has not (empty when the two are equal)."""
    found: dict[str, Any] = {}
    for part in expected:
        mine, theirs = actual[part], expected[part]
        if mine == theirs:
            continue
        if isinstance(mine, dict):
            keys = set(mine) | set(theirs)
            found[part] = {key: (mine.get(key), theirs.get(key)) for key in keys if mine.get(key) != theirs.get(key)}
        else:
            found[part] = {"only stored": mine - theirs, "only expected": theirs - mine}
    return found
