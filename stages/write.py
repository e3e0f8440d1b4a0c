"""Write stage: store one commit's extraction results as a snapshot, with binary COPY, in the caller's transaction.

Consumes per-file results (``add_file``, any order, each keyed by a number of the caller's: the pipeline uses the
file's position in the commit's listing; it is the file id unless ``finish`` renumbers; ``add_stored`` for a file
whose result is stored already and was not parsed) and, at the end, the cross-file rows: ``finish`` writes a new
snapshot of all files, ``finish_delta`` updates the repository's current snapshot in place with an incremental
job's changes (``stages.incremental``). Guarantees:

- Everything runs inside the transaction the caller opened on ``conn``; nothing is visible before it commits, and
  if it rolls back nothing of the snapshot remains. The caller completes its job in that same transaction.
- Per-file rows are content-addressed (blob OID, language, declaration flag, extractor version): a file whose
  content was already stored — by an earlier commit or a concurrent job — is linked, not copied again. A file's
  text (``FileRow.text``, for code search) is stored once per blob OID (``file_contents``), with the results that
  are new, and deleted with the last result naming its blob (migration 0011).
- ``finish`` makes the snapshot the repository's current one and deletes the previous snapshot, so readers that
  follow ``repositories.current_snapshot_id`` see the old index or the new one, never a mix; ``finish_delta``
  changes the current snapshot in the same one transaction, with the same effect. If the current
  snapshot comes from an index job requested after this one (jobs finishing out of order), this snapshot is
  deleted instead (``stats.superseded``): the index follows the latest request. Per-file results
  that only the previous snapshot used are deleted with it (storage follows the current index, not history);
  a result another job is reusing at that moment is locked by it and left alone.
- Rows are buffered and flushed with binary COPY when ``batch_rows`` is reached (or the files' texts reach
  ``PENDING_TEXT_CHARS``), so memory stays bounded; ``finish``
  copies cross-file rows given in batches one batch at a time.
- Nothing locks the repository's row before ``lock_repository`` (called by both finishes), so two jobs of one
  repository open in one process never wait on each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

import msgspec
import psycopg
from psycopg.rows import TupleRow

from stages.commit import CommitContext, LinkedCommit
from stages.incremental import BaseSnapshot, Delta, config_digest, paths_digest
from stages.models import FileExtraction, LinkedIndex, Span

EXTRACTOR_VERSION = 5
"""Bump when extraction output changes: stored per-file rows of older versions are then not reused (2: a result
comes with its file's text, for code search; 4: a Go method declared apart from its type names it; 5: Go's
``pkg.Foo{}`` is a ``new`` reference). Rows of another
extract function (plugged into the pipeline) are stored under that function's own version, given to
``SnapshotWriter``, so no extractor ever reuses another's rows."""

_SPAN_COLUMNS = ["start_line", "start_column", "end_line", "end_column", "start_byte", "end_byte"]
_SYMBOL_COLUMNS = [
    *["file_result_id", "idx", "name", "kind", "parent_idx", "exported", "is_default_export", "is_async"],
    *_SPAN_COLUMNS,
    *[f"name_{column}" for column in _SPAN_COLUMNS],
    *["signature", "doc", "type_hint", "receiver"],
]
_SYMBOL_TYPES = [
    *["int8", "int4", "text", "text", "int4", "bool", "bool", "bool"],
    *["int4"] * 12,
    *["text", "text", "text", "text"],
]


_INSERT_RESULTS = """
INSERT INTO file_results (blob_oid, language, is_declaration_file, extractor_version, size_bytes,
                          had_syntax_errors, error_kind, error_message)
SELECT DISTINCT ON (blob_oid, language, is_declaration_file)
       blob_oid, language, is_declaration_file, %(version)s, size_bytes, had_syntax_errors,
       error_kind, error_message
FROM staged_file_results
ORDER BY blob_oid, language, is_declaration_file
ON CONFLICT (blob_oid, language, is_declaration_file, extractor_version) DO NOTHING
RETURNING id
"""
"""Store the staged content keys not stored yet; returns the ids inserted. Keys are inserted sorted, which keeps
two writers from deadlocking within one batch each; across several batches two jobs storing the same new
contents can still deadlock, and Postgres then fails one of them (a retryable job failure)."""

_MAP_RESULTS = """
SELECT s.file_idx, r.id FROM staged_file_results s
JOIN file_results r ON (r.blob_oid, r.language, r.is_declaration_file, r.extractor_version)
                     = (s.blob_oid, s.language, s.is_declaration_file, %(version)s)
FOR KEY SHARE OF r
"""
"""Each staged file's result id, locking the results so no concurrent snapshot replacement deletes them (no foreign
key guards snapshot_files.file_result_id: this lock and ``_DELETE_ORPHANS`` do, see migration 0007)."""

_MAPPING_ROUNDS = 3

PENDING_TEXT_CHARS = 16 * 2**20
"""The writer flushes once the buffered files' texts hold this many characters, whatever their rows."""

_INSERT_CONTENTS = """
INSERT INTO file_contents (blob_oid, content)
SELECT blob_oid, content FROM staged_file_contents ORDER BY blob_oid
ON CONFLICT (blob_oid) DO NOTHING
"""
"""Store the staged texts not stored yet (sorted, as ``_INSERT_RESULTS``)."""

_LOCK_CONTENTS = """
SELECT count(*) FROM (
    SELECT FROM file_contents c JOIN staged_file_contents s ON s.blob_oid = c.blob_oid ORDER BY c.blob_oid
    FOR KEY SHARE OF c
) AS locked
"""
"""Lock the staged texts, stored now or before, until the transaction ends: a result deleted meanwhile elsewhere
deletes the texts no result names, but not a locked one (migration 0011). One deleted just before it was locked
is not counted, and is stored again."""

_CURRENT_SNAPSHOT = """
SELECT r.current_snapshot_id,
       coalesce((current_job.created_at, current_job.id) > (this_job.created_at, this_job.id), false)
FROM repositories r
LEFT JOIN snapshots s ON s.id = r.current_snapshot_id
LEFT JOIN index_jobs current_job ON current_job.id = s.index_job_id
LEFT JOIN index_jobs this_job ON this_job.id = %(index_job_id)s
WHERE r.id = %(repository_id)s
FOR UPDATE OF r
"""
"""The repository's current snapshot, and whether its index job was requested after this writer's (false when
either job is unknown: a snapshot written outside the queue always becomes current)."""

_LOCK_CANDIDATES = """
SELECT array_agg(id) FROM (
    SELECT id FROM file_results WHERE id = ANY(%(candidates)s::bigint[]) ORDER BY id FOR UPDATE SKIP LOCKED
) AS locked
"""
"""Lock the candidates for deletion, skipping (not waiting for) any another writer holds because it is reusing
it (``FOR KEY SHARE``): that writer's snapshot uses it."""

_DELETE_ORPHANS = """
DELETE FROM file_results r
WHERE r.id = ANY(%(locked)s::bigint[])
  AND NOT EXISTS (SELECT 1 FROM snapshot_files f WHERE f.file_result_id = r.id)
"""
"""Delete the locked candidates no snapshot uses (their rows go with them: file_results' delete trigger). A separate
statement after the locks: its snapshot sees every job that committed a use of a candidate before the lock was
taken, and any later one waits for this transaction, then stores the content again."""


class FileRow(msgspec.Struct, frozen=True, kw_only=True):
    """One file of the snapshot: its key (``file_idx``: the file id, unless ``finish`` renumbers by path), path,
    blob, and extraction."""

    file_idx: int
    path: str
    blob_oid: str
    extraction: FileExtraction
    text: str | None = None  # the file's content, for code search; None: not UTF-8, or has a NUL byte


class SnapshotStats(msgspec.Struct, kw_only=True):
    files: int = 0
    files_reused: int = 0  # files whose stored result was used (not copied again), parsed or not
    files_not_parsed: int = 0  # of those, files whose stored result was found before parsing (neither read nor parsed)
    files_failed: int = 0
    files_with_syntax_errors: int = 0
    symbols: int = 0
    imports: int = 0
    exports: int = 0
    references: int = 0
    resolved_imports: int = 0
    reference_links: int = 0
    file_dependencies: int = 0
    symbol_dependencies: int = 0
    package_dependencies: int = 0
    file_results_dropped: int = 0  # results only the replaced snapshot used, deleted with it
    superseded: bool = False  # a job requested later made its snapshot current first; this one was deleted
    copy_batches: int = 0
    incremental: bool = False  # the current snapshot was updated in place (finish_delta)
    files_changed: int = 0  # incremental: files added or whose content changed
    files_deleted: int = 0  # incremental: files of the previous commit gone
    files_relinked: int = 0  # files whose cross-file rows were computed (all of them for a full snapshot)
    rows_written: int = 0  # rows inserted or deleted in the index tables by this job
    files_read_back: int = 0  # files not parsed in this job whose link rows were read from the database to link
    link_files_held: int = 0  # the most files' link data the cross-file step held at once (index.link_files bounds it)


def _span(span: Span) -> tuple[int, int, int, int]:
    return span.start_line, span.start_column, span.end_line, span.end_column


class SnapshotWriter:
    """Writes one snapshot on ``conn`` (which must be inside a transaction the caller owns)."""

    def __init__(
        self,
        conn: psycopg.Connection[TupleRow],
        *,
        repository_id: uuid.UUID,
        commit_sha: str,
        index_job_id: uuid.UUID | None = None,
        batch_rows: int = 20_000,
        extractor_version: int = EXTRACTOR_VERSION,
    ) -> None:
        self._conn = conn
        self.extractor_version = extractor_version
        self.repository_id = repository_id
        self.commit_sha = commit_sha
        self.index_job_id = index_job_id
        self.batch_rows = batch_rows
        self.snapshot_id = uuid.uuid4()
        self.stats = SnapshotStats()
        self._pending: list[FileRow] = []
        self._pending_rows = 0
        self._pending_text = 0
        self._started = False
        self.files: dict[int, tuple[str, int]] = {}  # file key → (path, result id), of every file stored so far
        self._stored_only: list[int] = []  # ids of files added by add_stored (no extraction in memory)
        self._new_results: set[int] = set()  # results this writer inserted (orphans if the snapshot is not kept)

    def begin(self) -> None:
        """Create the transaction's staging table (the snapshot row is written by ``finish``)."""
        self._conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staged_file_results ("
            " file_idx integer, blob_oid text, language text, is_declaration_file boolean,"
            " size_bytes integer, had_syntax_errors boolean, error_kind text, error_message text"
            ") ON COMMIT DROP"
        )
        self._conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staged_file_contents (LIKE file_contents INCLUDING COMPRESSION)"
            " ON COMMIT DROP"
        )
        self._started = True

    def add_file(self, row: FileRow) -> None:
        """Buffer one file's results; flushes when the buffer holds ``batch_rows`` rows."""
        if not self._started:
            raise RuntimeError("SnapshotWriter.begin() must be called first")
        extraction = row.extraction
        self._pending.append(row)
        self._pending_rows += 1 + len(extraction.symbols) + len(extraction.imports) + len(extraction.references)
        self._pending_text += len(row.text or "")
        if self._pending_rows >= self.batch_rows or self._pending_text >= PENDING_TEXT_CHARS:
            self.flush()

    def add_stored(self, file_idx: int, path: str, result_id: int) -> None:
        """Add a file whose result is stored already (found, and locked, by ``stages.incremental.stored_results``
        in this transaction): nothing of it is copied; its counts are read at ``finish``."""
        self.files[file_idx] = (path, result_id)
        self._stored_only.append(file_idx)
        self.stats.files_reused += 1
        self.stats.files_not_parsed += 1

    def flush(self) -> None:
        """Store the buffered files' content rows (those not stored yet); the file list is written by ``finish``."""
        if not self._pending:
            return
        batch, self._pending, self._pending_rows, self._pending_text = self._pending, [], 0, 0
        ids, new = self._store_file_results(batch)
        by_idx = {row.file_idx: row for row in batch}
        self._copy_content_rows([(ids[idx], by_idx[idx].extraction) for idx in sorted(new)])
        self._store_texts([by_idx[idx] for idx in sorted(new)])
        for row in batch:
            self.files[row.file_idx] = (row.path, ids[row.file_idx])
        self.stats.files += len(batch)
        self.stats.files_reused += len(batch) - len(new)
        for row in batch:
            self.stats.files_failed += row.extraction.error is not None
            self.stats.files_with_syntax_errors += row.extraction.had_syntax_errors
            self.stats.symbols += len(row.extraction.symbols)
            self.stats.imports += len(row.extraction.imports)
            self.stats.exports += len(row.extraction.exports)
            self.stats.references += len(row.extraction.references)
        self.stats.copy_batches += 1

    def _store_file_results(self, batch: Sequence[FileRow]) -> tuple[dict[int, int], set[int]]:
        """Insert content keys not stored yet; return file_idx → file_results.id, and the file_idx of new ones."""
        self._conn.execute("TRUNCATE staged_file_results")
        with self._conn.cursor().copy("COPY staged_file_results FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "text", "text", "bool", "int4", "bool", "text", "text"])
            for row in batch:
                extraction = row.extraction
                error = extraction.error
                copy.write_row(
                    (
                        row.file_idx,
                        row.blob_oid,
                        extraction.language or "",
                        extraction.is_declaration_file,
                        extraction.size_bytes,
                        extraction.had_syntax_errors,
                        error.kind if error else None,
                        error.message if error else None,
                    )
                )
        # FOR KEY SHARE keeps a reused result from being deleted (as the orphan of another repository's replaced
        # snapshot) until this transaction ends; one deleted just before it was locked is missing from the mapping
        # and is inserted again.
        new_ids: set[int] = set()
        ids: dict[int, int] = {}
        for _ in range(_MAPPING_ROUNDS):
            new_ids.update(row[0] for row in self._conn.execute(_INSERT_RESULTS, {"version": self.extractor_version}))
            self._new_results.update(new_ids)
            ids = dict(self._conn.execute(_MAP_RESULTS, {"version": self.extractor_version}).fetchall())
            if len(ids) == len(batch):
                break
        else:
            raise RuntimeError("stored file results kept disappearing while this snapshot was written")
        # Two files of one batch with the same content share one new result: copy its rows once.
        new: dict[int, int] = {}
        for file_idx, result_id in ids.items():
            if result_id in new_ids:
                new.setdefault(result_id, file_idx)
        return ids, set(new.values())

    def _store_texts(self, rows: Sequence[FileRow]) -> None:
        """Store the texts of the files whose results are new, once per blob, and lock them (``_LOCK_CONTENTS``)
        against a concurrent deletion until this transaction ends."""
        texts = {row.blob_oid: row.text for row in rows if row.text is not None}
        if not texts:
            return
        self._conn.execute("TRUNCATE staged_file_contents")
        with self._conn.cursor().copy("COPY staged_file_contents FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "text"])
            for blob_oid, text in texts.items():
                copy.write_row((blob_oid, text))
        for _ in range(_MAPPING_ROUNDS):
            self.stats.rows_written += self._conn.execute(_INSERT_CONTENTS).rowcount
            locked = self._conn.execute(_LOCK_CONTENTS).fetchone()
            if locked is not None and locked[0] == len(texts):
                return
        raise RuntimeError("stored file contents kept disappearing while this snapshot was written")

    def _copy_content_rows(self, results: Iterable[tuple[int, FileExtraction]]) -> None:
        results = list(results)
        if not results:
            return
        self.stats.rows_written += sum(
            1
            + len(extraction.symbols)
            + len(extraction.imports)
            + sum(len(imported.bindings) for imported in extraction.imports)
            + len(extraction.exports)
            + len(extraction.references)
            for _, extraction in results
        )
        cursor = self._conn.cursor()
        with cursor.copy(f"COPY symbols ({', '.join(_SYMBOL_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_SYMBOL_TYPES)
            for result_id, extraction in results:
                for idx, symbol in enumerate(extraction.symbols):
                    span, name_span = symbol.span, symbol.name_span
                    copy.write_row(
                        (
                            result_id,
                            idx,
                            symbol.name,
                            symbol.kind,
                            symbol.parent,
                            symbol.exported,
                            symbol.is_default_export,
                            symbol.is_async,
                            *_span(span),
                            span.start_byte,
                            span.end_byte,
                            *_span(name_span),
                            name_span.start_byte,
                            name_span.end_byte,
                            symbol.signature,
                            symbol.doc,
                            symbol.type_hint,
                            symbol.receiver,
                        )
                    )
        with cursor.copy(
            "COPY imports (file_result_id, idx, specifier, kind, is_type_only, start_line, start_column, end_line,"
            " end_column) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int4", "text", "text", "bool", "int4", "int4", "int4", "int4"])
            for result_id, extraction in results:
                for idx, imported in enumerate(extraction.imports):
                    copy.write_row(
                        (
                            result_id,
                            idx,
                            imported.specifier,
                            imported.kind,
                            imported.is_type_only,
                            *_span(imported.span),
                        )
                    )
        with cursor.copy(
            "COPY import_bindings (file_result_id, import_idx, idx, imported, local, is_type_only)"
            " FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int4", "int4", "text", "text", "bool"])
            for result_id, extraction in results:
                for import_idx, imported in enumerate(extraction.imports):
                    for idx, binding in enumerate(imported.bindings):
                        copy.write_row(
                            (result_id, import_idx, idx, binding.imported, binding.local, binding.is_type_only)
                        )
        with cursor.copy(
            "COPY exports (file_result_id, idx, exported, local, kind, is_type_only, import_idx, start_line,"
            " start_column) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int4", "text", "text", "text", "bool", "int4", "int4", "int4"])
            for result_id, extraction in results:
                for idx, export in enumerate(extraction.exports):
                    copy.write_row(
                        (
                            result_id,
                            idx,
                            export.exported,
                            export.local,
                            export.kind,
                            export.is_type_only,
                            export.import_index,
                            export.span.start_line,
                            export.span.start_column,
                        )
                    )
        with cursor.copy(
            "COPY refs (file_result_id, idx, name, qualifier, kind, enclosing_idx, start_line, start_column,"
            " end_line, end_column, root_hint) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int4", "text", "text", "text", "int4", "int4", "int4", "int4", "int4", "text"])
            for result_id, extraction in results:
                for idx, reference in enumerate(extraction.references):
                    copy.write_row(
                        (
                            result_id,
                            idx,
                            reference.name,
                            reference.qualifier,
                            reference.kind,
                            reference.enclosing,
                            *_span(reference.span),
                            reference.root_hint,
                        )
                    )

    def lock_repository(self) -> tuple[uuid.UUID | None, bool]:
        """Lock the repository's row for the rest of the transaction (jobs of one repository finish one after the
        other); returns its current snapshot and whether that snapshot's index job was requested after this one."""
        row = self._conn.execute(
            _CURRENT_SNAPSHOT, {"repository_id": self.repository_id, "index_job_id": self.index_job_id}
        ).fetchone()
        if row is None:
            raise LookupError(f"repository {self.repository_id} does not exist")
        return row[0], bool(row[1])

    def finish(
        self,
        linked: LinkedIndex | Iterable[LinkedCommit],
        package_versions: Mapping[str, str] | None = None,
        context: CommitContext | None = None,
        *,
        file_ids: Mapping[str, int] | None = None,
    ) -> SnapshotStats:
        """Write a new snapshot of every file added, with ``linked`` (all of their cross-file rows), make it
        current and delete the previous one — unless the current snapshot comes from an index job requested after
        this one (jobs of one repository can finish out of order): then nothing is written, and the results this
        job stored that no snapshot uses are deleted (``stats.superseded``).

        Only links that found a target are stored (a reference or binding without a link row names nothing
        defined in the commit). ``package_versions`` maps ``"<file_idx>:<package>"`` to the version range
        declared for that dependency. ``linked`` may also come in batches (``stages.commit.link_commit_batches``,
        each with its own package versions): each batch is copied as it comes, so no more than one batch of
        cross-file rows is in memory. ``context`` (the commit's paths and config files) is recorded as digests,
        so that the next job can build on this snapshot incrementally; without it, the next job writes a full one.
        ``file_ids`` (path → file id, as ``linked`` numbers files) renumbers the files added; without it, a file's
        id is the ``file_idx`` it was added with.
        """
        self.flush()
        previous, requested_later = self.lock_repository()
        if requested_later:
            self.supersede()
            return self.stats
        self._conn.execute(
            "INSERT INTO snapshots (id, repository_id, index_job_id, commit_sha, config_digest, paths_digest)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                self.snapshot_id,
                self.repository_id,
                self.index_job_id,
                self.commit_sha,
                None if context is None else config_digest(context),
                None if context is None else paths_digest(context),
            ],
        )
        with self._conn.cursor().copy(
            "COPY snapshot_files (snapshot_id, file_idx, path, file_result_id) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["uuid", "int4", "text", "int8"])
            for file_idx, (path, result_id) in sorted(self.files.items()):
                copy.write_row((self.snapshot_id, file_idx if file_ids is None else file_ids[path], path, result_id))
        self.stats.rows_written += 1 + len(self.files)
        self._count_stored_only()
        batches = (
            [(linked, package_versions or {})]
            if isinstance(linked, LinkedIndex)
            else ((batch.linked, batch.package_versions) for batch in linked)
        )
        # Rows wait per table until ``batch_rows`` of them are there, so small batches do not cost a COPY each.
        pending: list[list[tuple[Any, ...]]] = [[] for _ in _CROSS_FILE_TABLES]
        for batch, versions in batches:
            for (target, types), waiting, rows in zip(
                _CROSS_FILE_TABLES, pending, _cross_rows(self.snapshot_id, batch, versions), strict=True
            ):
                while True:
                    waiting.extend(islice(rows, self.batch_rows - len(waiting)))
                    if len(waiting) < self.batch_rows:
                        break
                    self._copy_rows(target, types, waiting)
                    waiting.clear()
            self.stats.resolved_imports += len(batch.resolved_imports)
            self.stats.reference_links += sum(1 for link in batch.reference_links if link.target is not None)
            self.stats.file_dependencies += len(batch.file_dependencies)
            self.stats.symbol_dependencies += len(batch.symbol_dependencies)
            self.stats.package_dependencies += len(batch.package_dependencies)
        for (target, types), waiting in zip(_CROSS_FILE_TABLES, pending, strict=True):
            if waiting:
                self._copy_rows(target, types, waiting)
        self.stats.files_relinked = len(self.files)
        self._conn.execute(
            "UPDATE repositories SET current_snapshot_id = %s, last_indexed_at = now(), updated_at = now()"
            " WHERE id = %s",
            [self.snapshot_id, self.repository_id],
        )
        if previous is not None:
            self.stats.file_results_dropped = self._delete_snapshot(previous)
        self._conn.execute(
            "UPDATE snapshots SET stats = %s WHERE id = %s",
            [msgspec.json.encode(self.stats).decode(), self.snapshot_id],
        )
        return self.stats

    def finish_delta(
        self,
        base: BaseSnapshot,
        delta: Delta,
        linked: LinkedIndex,
        package_versions: Mapping[str, str],
        context: CommitContext,
    ) -> SnapshotStats:
        """Update the current snapshot ``base`` in place to this commit: the file list's changes, the cross-file
        rows of ``delta.relink`` (``linked``, computed for those files) and of the files deleted, the commit and
        the digests; then delete the results only the replaced files used. The caller holds the repository's
        row lock (``lock_repository``) since it read ``base``, and checked the job was not superseded.
        Files must have been added under their ids in ``delta.file_ids``."""
        self.flush()
        snapshot_id = base.snapshot_id
        self.snapshot_id = snapshot_id
        old_results = [base.files[path][1] for path in base.files if base.files[path][0] in delta.changed]
        old_results += list(delta.deleted.values())
        gone = sorted({*delta.changed, *delta.deleted})  # (a new file's id matches no row)
        deleted_rows = self._conn.execute(
            "DELETE FROM snapshot_files WHERE snapshot_id = %s AND file_idx = ANY(%s)", [snapshot_id, gone]
        ).rowcount
        path_of = {file_id: path for path, file_id in delta.file_ids.items()}
        with self._conn.cursor().copy(
            "COPY snapshot_files (snapshot_id, file_idx, path, file_result_id) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["uuid", "int4", "text", "int8"])
            for file_id in sorted(delta.changed):
                copy.write_row((snapshot_id, file_id, path_of[file_id], delta.changed[file_id]))
        self.stats.rows_written += deleted_rows + len(delta.changed)
        relinked = sorted({*delta.relink, *delta.deleted})
        # Most relinked files link as before: read their rows, and write only those that differ.
        changes: dict[str, int] = {}
        for (target, types), (table, source, key_types), rows in zip(
            _CROSS_FILE_TABLES, _CROSS_FILE_KEYS, _cross_rows(snapshot_id, linked, package_versions), strict=True
        ):
            columns = target[target.index("(") + 1 : target.index(")")].split(", ")[1:]
            stored = set(
                self._conn.execute(
                    f"SELECT {', '.join(columns)} FROM {table} WHERE snapshot_id = %s AND {source} = ANY(%s)",
                    [snapshot_id, relinked],
                ).fetchall()
            )
            wanted = {row[1:] for row in rows}
            stale, fresh = stored - wanted, wanted - stored
            if stale:
                keys = [f"k{index}" for index in range(len(key_types))]
                unnested = ", ".join(f"%s::{key_type}[]" for key_type in key_types)
                self._conn.execute(
                    f"DELETE FROM {table} WHERE snapshot_id = %s AND ({', '.join(columns[: len(keys)])})"
                    f" IN (SELECT * FROM unnest({unnested}) AS stale({', '.join(keys)}))",
                    [snapshot_id, *([row[index] for row in stale] for index in range(len(keys)))],
                )
            self._copy_rows(target, types, ((snapshot_id, *row) for row in fresh))
            self.stats.rows_written += len(stale)
            changes[table] = len(fresh) - len(stale)
        self._delta_stats(base, delta, changes, old_results)
        self.stats.file_results_dropped = self._drop_orphans(sorted(set(old_results)))
        self._conn.execute(
            "UPDATE snapshots SET commit_sha = %s, index_job_id = %s, config_digest = %s, paths_digest = %s,"
            " next_file_idx = %s, stats = %s, updated_at = now() WHERE id = %s",
            [
                self.commit_sha,
                self.index_job_id,
                config_digest(context),
                paths_digest(context),
                delta.next_file_id,
                msgspec.json.encode(self.stats).decode(),
                snapshot_id,
            ],
        )
        self._conn.execute(
            "UPDATE repositories SET last_indexed_at = now(), updated_at = now() WHERE id = %s", [self.repository_id]
        )
        return self.stats

    def supersede(self) -> None:
        """A job requested later made its snapshot current first: write nothing, and drop the results of this job's
        files that no snapshot uses — those it stored, and those it kept (locked) from the newer job's cleanup."""
        self.stats.superseded = True
        used = {result_id for _, result_id in self.files.values()}
        self.stats.file_results_dropped = self._drop_orphans(sorted(used | self._new_results))

    def _count_stored_only(self) -> None:
        """Add the counts of the files added by ``add_stored`` (their rows are in the database, not in memory)."""
        if not self._stored_only:
            return
        counts = _content_counts(self._conn, [self.files[file_idx][1] for file_idx in self._stored_only])
        self.stats.files += len(self._stored_only)
        self.stats.files_failed += counts["files_failed"]
        self.stats.files_with_syntax_errors += counts["files_with_syntax_errors"]
        self.stats.symbols += counts["symbols"]
        self.stats.imports += counts["imports"]
        self.stats.exports += counts["exports"]
        self.stats.references += counts["references"]
        self._stored_only.clear()

    def _delta_stats(
        self, base: BaseSnapshot, delta: Delta, changes: Mapping[str, int], old_results: list[int]
    ) -> None:
        """The snapshot's totals after the delta: the base's, less what the replaced rows held, plus the new
        (``changes``: rows added less rows removed, per cross-file table)."""
        stats = self.stats
        before = base.stats
        added = _content_counts(self._conn, list(delta.changed.values()))
        dropped = _content_counts(self._conn, old_results)
        stats.files = len(delta.file_ids)
        for key in ("files_failed", "files_with_syntax_errors", "symbols", "imports", "exports", "references"):
            setattr(stats, key, int(before.get(key, 0)) - dropped[key] + added[key])
        for table in ("resolved_imports", "reference_links", "file_dependencies", "symbol_dependencies"):
            setattr(stats, table, int(before.get(table, 0)) + changes[table])
        stats.package_dependencies = int(before.get("package_dependencies", 0)) + changes["package_dependencies"]
        stats.incremental = True
        stats.files_changed = len(delta.changed)
        stats.files_deleted = len(delta.deleted)
        stats.files_relinked = len(delta.relink)

    def _copy_rows(self, target: str, types: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
        written = 0
        with self._conn.cursor().copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
                written += 1
        self.stats.rows_written += written

    def _delete_snapshot(self, snapshot_id: uuid.UUID) -> int:
        """Delete a snapshot with its rows, and the per-file results no other snapshot uses; returns how many."""
        used = self._conn.execute(
            "SELECT coalesce(array_agg(DISTINCT file_result_id), '{}') FROM snapshot_files WHERE snapshot_id = %s",
            [snapshot_id],
        ).fetchone()
        self._conn.execute("DELETE FROM snapshots WHERE id = %s", [snapshot_id])
        return self._drop_orphans([] if used is None else list(used[0]))

    def _drop_orphans(self, candidates: Sequence[int]) -> int:
        """Delete the ``candidates`` no snapshot uses (and that no other job is reusing); returns how many."""
        if not candidates:
            return 0
        locked = self._conn.execute(_LOCK_CANDIDATES, {"candidates": list(candidates)}).fetchone()
        if locked is None or not locked[0]:
            return 0
        return self._conn.execute(_DELETE_ORPHANS, {"locked": locked[0]}).rowcount


_CROSS_FILE_TABLES: tuple[tuple[str, list[str]], ...] = (
    (
        "resolved_imports (snapshot_id, file_idx, import_idx, kind, target_file_idx, package, target_path)",
        ["uuid", "int4", "int4", "text", "int4", "text", "text"],
    ),
    (
        "binding_links (snapshot_id, file_idx, import_idx, binding_idx, target_file_idx, target_symbol_idx)",
        ["uuid", "int4", "int4", "int4", "int4", "int4"],
    ),
    (
        "reference_links (snapshot_id, file_idx, reference_idx, target_file_idx, target_symbol_idx)",
        ["uuid", "int4", "int4", "int4", "int4"],
    ),
    (
        "file_dependencies (snapshot_id, source_file_idx, target_file_idx, inferred)",
        ["uuid", "int4", "int4", "bool"],
    ),
    (
        "symbol_dependencies (snapshot_id, source_file_idx, source_symbol_idx, target_file_idx, target_symbol_idx)",
        ["uuid", "int4", "int4", "int4", "int4"],
    ),
    (
        "package_dependencies (snapshot_id, file_idx, package, is_builtin, version)",
        ["uuid", "int4", "text", "bool", "text"],
    ),
)
"""Each cross-file table's COPY target and column types, in the order of ``_cross_rows``."""


def _cross_rows(
    snapshot_id: uuid.UUID, linked: LinkedIndex, versions: Mapping[str, str]
) -> tuple[Iterator[tuple[Any, ...]], ...]:
    """The rows of ``linked`` for each table of ``_CROSS_FILE_TABLES``, in its order (links with no target have
    no row)."""
    return (
        (
            (snapshot_id, r.file, r.import_index, r.kind, r.target_file, r.package, r.target_path)
            for r in linked.resolved_imports
        ),
        (
            (snapshot_id, b.file, b.import_index, b.binding_index, b.target.file, b.target.symbol)
            for b in linked.binding_links
            if b.target is not None
        ),
        (
            (snapshot_id, r.file, r.reference_index, r.target.file, r.target.symbol)
            for r in linked.reference_links
            if r.target is not None
        ),
        ((snapshot_id, d.source, d.target, d.inferred) for d in linked.file_dependencies),
        (
            (snapshot_id, d.source.file, d.source.symbol, d.target.file, d.target.symbol)
            for d in linked.symbol_dependencies
        ),
        (
            (snapshot_id, d.file, d.package, d.is_builtin, versions.get(f"{d.file}:{d.package}"))
            for d in linked.package_dependencies
        ),
    )


_CROSS_FILE_KEYS = (
    ("resolved_imports", "file_idx", ("int4", "int4")),
    ("binding_links", "file_idx", ("int4", "int4", "int4")),
    ("reference_links", "file_idx", ("int4", "int4")),
    ("file_dependencies", "source_file_idx", ("int4", "int4")),
    ("symbol_dependencies", "source_file_idx", ("int4", "int4", "int4", "int4")),
    ("package_dependencies", "file_idx", ("int4", "text")),
)
"""Each cross-file table (in the order of ``_CROSS_FILE_TABLES``), the column naming the file whose links (or
dependencies) a row is, and the types of its primary key's columns after ``snapshot_id`` (the first columns of
its COPY list)."""

_CONTENT_COUNTS = """
WITH used AS (SELECT id FROM unnest(%(ids)s::bigint[]) AS used(id))
SELECT (SELECT count(*) FROM used JOIN file_results r ON r.id = used.id WHERE r.error_kind IS NOT NULL),
       (SELECT count(*) FROM used JOIN file_results r ON r.id = used.id WHERE r.had_syntax_errors),
       (SELECT count(*) FROM used JOIN symbols s ON s.file_result_id = used.id),
       (SELECT count(*) FROM used JOIN imports i ON i.file_result_id = used.id),
       (SELECT count(*) FROM used JOIN exports e ON e.file_result_id = used.id),
       (SELECT count(*) FROM used JOIN refs f ON f.file_result_id = used.id)
"""


def _content_counts(conn: psycopg.Connection[TupleRow], result_ids: Sequence[int]) -> dict[str, int]:
    """Totals over the results ``result_ids`` (each counted as often as it is listed: two files may share one)."""
    keys = ("files_failed", "files_with_syntax_errors", "symbols", "imports", "exports", "references")
    if not result_ids:
        return dict.fromkeys(keys, 0)
    row = conn.execute(_CONTENT_COUNTS, {"ids": list(result_ids)}).fetchone()
    assert row is not None
    return dict(zip(keys, (int(value) for value in row), strict=True))
