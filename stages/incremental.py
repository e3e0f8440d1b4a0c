"""Incremental indexing: what one commit's job can take from what is stored already.

Two savings, neither of which changes what is stored (an incremental job leaves the index a full index of the same
commit would, file ids aside — ``docs/index-contract.md``):

- Per file (``stored_results``): the results already stored under a file's content key (blob OID, language,
  declaration flag, extractor version) are found, and locked for the job's transaction, before any file is read;
  those files are neither read, sent nor parsed.
- Cross-file (``plan_delta``): against the repository's current snapshot, only the files a change can affect are
  relinked. A file's links read its own rows, the files it imports, and the files those re-export from (transitively),
  by name. So a change of file X affects X; the files re-exporting from X the names whose lookup may now differ
  (transitively, renamed as they are re-exported); the files importing one of those names from X or from such a
  re-exporter (or the whole module); when a declaration of X gained members, the files linking to that declaration;
  and the files whose links read declarations of any file so relinked, or of X (unless only its function bodies
  changed), while following types (their ``inferred`` file dependencies); when X is deleted, or X is a file of a
  package of several files (Go: what its ``package`` import resolves to) added or changing its declarations, every
  file depending on X or on a file of its package (an import of the package depends on each of its files), and,
  when X is such a file, every file of its directory and language (its package: the files of a package store no
  dependency on each other unless their links name or read one another). Which
  names: any name of a file deleted,
  whose resolutions changed, whose imports changed, or whose existing declarations changed or moved (symbol indexes
  shift); only the exports that differ, and those of names newly declared, when the file merely gained declarations at
  its end (the most common edit; ``export =`` stands for ``default`` too). Resolutions read the commit's paths and
  config files: when the config files changed everything is relinked; when the paths changed (or the indexed ones: a
  file can join or leave the index without leaving the commit), every stored import of the files kept is resolved
  again, and the files whose resolutions differ count as changed in every name.

What is guaranteed is tested, not proved: ``tests/integration/pipeline/test_incremental.py`` compares every commit
of generated histories, and each case above, with a full index.

Files that are not parsed in this job are read back from the database (``load_link_files``) when a link needs them.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import psycopg
from psycopg.rows import TupleRow

from stages.commit import CommitContext
from stages.languages import module_system_for_path
from stages.models import LinkBinding, LinkExport, LinkFile, LinkImport, LinkReference, LinkSymbol
from stages.resolvers import CommitResolver

Conn = psycopg.Connection[TupleRow]

_STORED_RESULTS = """
SELECT k.position, r.id
FROM unnest(%(oids)s::text[], %(languages)s::text[], %(declarations)s::boolean[])
     WITH ORDINALITY AS k(blob_oid, language, is_declaration_file, position)
JOIN file_results r ON (r.blob_oid, r.language, r.is_declaration_file, r.extractor_version)
                     = (k.blob_oid, k.language, k.is_declaration_file, %(version)s)
FOR KEY SHARE OF r
"""
"""The stored result of each content key (``position`` is 1-based), locked so that no concurrent snapshot
replacement deletes it before this transaction ends."""


class ContentKey(msgspec.Struct, frozen=True, array_like=True):
    """What a file's stored result is keyed by, besides the extractor version."""

    blob_oid: str
    language: str
    is_declaration_file: bool


def stored_results(conn: Conn, keys: Sequence[ContentKey], extractor_version: int) -> dict[int, int]:
    """Position in ``keys`` → id of the stored result with that key (locked ``FOR KEY SHARE`` until the caller's
    transaction ends); keys with no stored result are absent."""
    if not keys:
        return {}
    rows = conn.execute(
        _STORED_RESULTS,
        {
            "oids": [key.blob_oid for key in keys],
            "languages": [key.language for key in keys],
            "declarations": [key.is_declaration_file for key in keys],
            "version": extractor_version,
        },
    ).fetchall()
    return {position - 1: result_id for position, result_id in rows}


def load_link_files(
    conn: Conn, files: Mapping[int, tuple[str, int]], *, with_references: bool = True
) -> dict[int, LinkFile]:
    """File id → the ``LinkFile`` of its stored result, for ``files`` (file id → (path, result id)), in five
    queries (four without references) whatever the number of files. Without ``with_references``, the files have
    none: enough for a file a link only visits (looks up its declarations, imports and exports), and the
    references are most of the rows."""
    result_ids = sorted({result_id for _, result_id in files.values()})
    symbols: dict[int, list[LinkSymbol]] = defaultdict(list)
    imports: dict[int, list[tuple[str, Any]]] = defaultdict(list)
    bindings: dict[tuple[int, int], list[LinkBinding]] = defaultdict(list)
    exports: dict[int, list[LinkExport]] = defaultdict(list)
    references: dict[int, list[LinkReference]] = defaultdict(list)
    parameters = {"ids": result_ids}
    for result_id, name, kind, parent, type_hint, exported, receiver in conn.execute(
        "SELECT file_result_id, name, kind, parent_idx, type_hint, exported, receiver FROM symbols"
        " WHERE file_result_id = ANY(%(ids)s)"
        " ORDER BY file_result_id, idx",
        parameters,
    ):
        symbols[result_id].append(
            LinkSymbol(name=name, kind=kind, parent=parent, type_hint=type_hint, exported=exported, receiver=receiver)
        )
    for result_id, import_idx, imported, local in conn.execute(
        "SELECT file_result_id, import_idx, imported, local FROM import_bindings WHERE file_result_id = ANY(%(ids)s)"
        " ORDER BY file_result_id, import_idx, idx",
        parameters,
    ):
        bindings[result_id, import_idx].append(LinkBinding(imported=imported, local=local))
    for result_id, specifier, kind in conn.execute(
        "SELECT file_result_id, specifier, kind FROM imports WHERE file_result_id = ANY(%(ids)s)"
        " ORDER BY file_result_id, idx",
        parameters,
    ):
        imports[result_id].append((specifier, kind))
    for result_id, exported, local, kind, import_idx in conn.execute(
        "SELECT file_result_id, exported, local, kind, import_idx FROM exports WHERE file_result_id = ANY(%(ids)s)"
        " ORDER BY file_result_id, idx",
        parameters,
    ):
        exports[result_id].append(LinkExport(exported=exported, local=local, kind=kind, import_index=import_idx))
    if with_references:
        for result_id, name, qualifier, kind, enclosing, root_hint in conn.execute(
            "SELECT file_result_id, name, qualifier, kind, enclosing_idx, root_hint FROM refs"
            " WHERE file_result_id = ANY(%(ids)s) ORDER BY file_result_id, idx",
            parameters,
        ):
            references[result_id].append(
                LinkReference(name=name, qualifier=qualifier, kind=kind, enclosing=enclosing, root_hint=root_hint)
            )
    by_result: dict[int, LinkFile] = {}
    for result_id in result_ids:
        by_result[result_id] = LinkFile(
            path="",
            symbols=tuple(symbols.get(result_id, ())),
            imports=tuple(
                LinkImport(specifier=specifier, kind=kind, bindings=tuple(bindings.get((result_id, index), ())))
                for index, (specifier, kind) in enumerate(imports.get(result_id, ()))
            ),
            exports=tuple(exports.get(result_id, ())),
            references=tuple(references.get(result_id, ())),
        )
    return {
        file_id: msgspec.structs.replace(by_result[result_id], path=path)
        for file_id, (path, result_id) in files.items()
    }


class StoredFiles(Mapping[int, LinkFile]):
    """The files of one link, by file id: those parsed in this job from ``parsed`` (read when first asked for, so a
    mapping that decodes lazily stays lazy), the others read from the database when first asked for
    (``prefetch`` reads many at once).

    With ``capacity``, at most that many files are held at once (or the size of one ``prefetch``, if larger): the
    least recently used are dropped and read again if asked for again. ``held`` is the most held at once;
    ``loaded`` counts the reads from the database. With ``linked``, only those files are read with their
    references: the others are only visited by the links of these."""

    def __init__(
        self,
        conn: Conn,
        parsed: Mapping[int, LinkFile],
        stored: Mapping[int, tuple[str, int]],
        *,
        capacity: int | None = None,
        linked: Collection[int] | None = None,
    ) -> None:
        self._conn = conn
        self._linked = linked
        self._parsed = parsed
        self._stored = stored  # file id → (path, result id) of every file not parsed
        self._capacity = capacity
        self._files: OrderedDict[int, LinkFile] = OrderedDict()  # least recently used first
        self.loaded = 0
        self.held = 0

    def prefetch(self, file_ids: Iterable[int]) -> None:
        wanted = {
            file_id: self._stored[file_id]
            for file_id in file_ids
            if file_id not in self._files and file_id in self._stored  # a base edge may name a file now deleted
        }
        if not wanted:
            return
        linked = self._linked
        with_references = wanted if linked is None else {key: at for key, at in wanted.items() if key in linked}
        visited_only = {key: at for key, at in wanted.items() if key not in with_references}
        if with_references:
            self._hold(load_link_files(self._conn, with_references))
        if visited_only:
            self._hold(load_link_files(self._conn, visited_only, with_references=False))
        self.loaded += len(wanted)

    def __getitem__(self, file_id: int) -> LinkFile:
        found = self._files.get(file_id)
        if found is not None:
            if self._capacity is not None:
                self._files.move_to_end(file_id)
            return found
        if file_id in self._stored:
            self.prefetch([file_id])
            return self._files[file_id]
        found = self._parsed[file_id]
        self._hold({file_id: found})
        return found

    def _hold(self, files: Mapping[int, LinkFile]) -> None:
        """Keep ``files``, first dropping the least recently used ones that would exceed the capacity."""
        if self._capacity is not None:
            while self._files and len(self._files) + len(files) > self._capacity:
                self._files.popitem(last=False)
        self._files.update(files)
        self.held = max(self.held, len(self._files))

    def __iter__(self) -> Iterator[int]:
        return iter({*self._parsed, *self._stored})

    def __len__(self) -> int:
        return len({*self._parsed, *self._stored})


def config_digest(context: CommitContext) -> str:
    """A digest of the config files' paths and texts (what resolution reads besides the paths)."""
    digest = hashlib.sha256()
    for path in sorted(context.configs):
        digest.update(msgspec.msgpack.encode((path, context.configs[path])))
    return digest.hexdigest()


def paths_digest(context: CommitContext) -> str:
    """A digest of every path an import could resolve to."""
    digest = hashlib.sha256()
    for path in sorted(context.paths):
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class BaseSnapshot:
    """The repository's current snapshot, as an incremental job reads it (under the repository's row lock)."""

    snapshot_id: Any
    config_digest: str
    paths_digest: str
    stats: dict[str, Any]
    files: dict[str, tuple[int, int]]  # path → (file id, result id)
    next_file_id: int  # what a new path gets: above every id the snapshot ever gave, so none is reused


def load_base(conn: Conn, snapshot_id: Any, extractor_version: int) -> BaseSnapshot | None:
    """The snapshot if an incremental job can build on it: its digests are known and every result it uses was
    made by ``extractor_version``; ``None`` otherwise (the job then writes a full snapshot)."""
    row = conn.execute(
        "SELECT config_digest, paths_digest, stats, next_file_idx FROM snapshots WHERE id = %s"
        " AND config_digest IS NOT NULL AND paths_digest IS NOT NULL",
        [snapshot_id],
    ).fetchone()
    if row is None:
        return None
    files: dict[str, tuple[int, int]] = {}
    for path, file_id, result_id, version in conn.execute(
        "SELECT f.path, f.file_idx, f.file_result_id, r.extractor_version FROM snapshot_files f"
        " JOIN file_results r ON r.id = f.file_result_id WHERE f.snapshot_id = %s",
        [snapshot_id],
    ):
        if version != extractor_version:
            return None
        files[path] = (file_id, result_id)
    next_file_id = max(row[3] or 0, 1 + max((file_id for file_id, _ in files.values()), default=-1))
    return BaseSnapshot(
        snapshot_id=snapshot_id,
        config_digest=row[0],
        paths_digest=row[1],
        stats=row[2],
        files=files,
        next_file_id=next_file_id,
    )


_BASE_REEXPORTS = """
SELECT f.file_idx, i.target_file_idx, e.kind, e.exported,
       CASE WHEN e.import_idx IS NULL THEN b.imported ELSE e.local END
FROM snapshot_files f
JOIN exports e ON e.file_result_id = f.file_result_id
LEFT JOIN import_bindings b ON e.import_idx IS NULL AND b.file_result_id = f.file_result_id AND b.local = e.local
JOIN resolved_imports i ON (i.snapshot_id, i.file_idx, i.import_idx)
                         = (f.snapshot_id, f.file_idx, coalesce(e.import_idx, b.import_idx))
WHERE f.snapshot_id = %(snapshot)s AND i.target_file_idx IS NOT NULL AND i.target_file_idx <> f.file_idx
"""
"""Every export that leads out of its file: (file, file it leads to, kind, exported name, the name it looks up
there). An export naming an import (``export … from``), or exporting a name an import binds (``import { a } from
"x"; export { a }``) — every way a link can leave a file through its exports."""

_BASE_IMPORTED_NAMES = """
SELECT DISTINCT f.file_idx, i.target_file_idx, b.imported
FROM resolved_imports i
JOIN snapshot_files f ON (f.snapshot_id, f.file_idx) = (i.snapshot_id, i.file_idx)
JOIN import_bindings b ON (b.file_result_id, b.import_idx) = (f.file_result_id, i.import_idx)
WHERE i.snapshot_id = %(snapshot)s AND i.target_file_idx = ANY(%(targets)s)
"""
"""What each file imports by name from the given files (``*``: the whole module)."""

_BASE_LINKS_INTO = """
SELECT l.file_idx FROM binding_links l
JOIN unnest(%(files)s::integer[], %(symbols)s::integer[]) AS t(target_file, target_symbol)
  ON (l.target_file_idx, l.target_symbol_idx) = (t.target_file, t.target_symbol)
WHERE l.snapshot_id = %(snapshot)s
UNION
SELECT l.file_idx FROM reference_links l
JOIN unnest(%(files)s::integer[], %(symbols)s::integer[]) AS t(target_file, target_symbol)
  ON (l.target_file_idx, l.target_symbol_idx) = (t.target_file, t.target_symbol)
WHERE l.snapshot_id = %(snapshot)s
"""
"""The files whose named imports or references link to one of the given symbols."""

_BASE_INFERRED_READERS = """
SELECT DISTINCT source_file_idx FROM file_dependencies
WHERE snapshot_id = %(snapshot)s AND inferred AND target_file_idx = ANY(%(targets)s)
"""
"""The files whose links read declarations of the given files while following types."""

_BASE_DEPENDENTS = """
SELECT DISTINCT source_file_idx FROM file_dependencies
WHERE snapshot_id = %(snapshot)s AND target_file_idx = ANY(%(targets)s)
"""
"""The files that import one of the given files, or whose links read its declarations."""

_BASE_NAMESPACE_IMPORTERS = """
SELECT DISTINCT file_idx FROM resolved_imports WHERE snapshot_id = %(snapshot)s AND target_path = ANY(%(paths)s)
"""
"""The files importing one of the given directories (Python namespace packages, which the index holds no file of)."""

_BASE_RESOLUTIONS = """
SELECT file_idx, import_idx, kind, target_file_idx, package, target_path
FROM resolved_imports WHERE snapshot_id = %(snapshot)s
"""


@dataclass
class Delta:
    """What an incremental job changes in the base snapshot."""

    file_ids: dict[str, int]  # every path of the commit → its file id (the base's, or a new one)
    changed: dict[int, int]  # file id → new result id, for files new or whose result differs
    deleted: dict[int, int]  # file id → old result id, for the base's files gone from the commit
    next_file_id: int  # what the next new path will get
    relink: set[int] = field(default_factory=set)  # file ids whose cross-file rows are computed again
    resolution_changed: set[int] = field(default_factory=set)
    reexports_of: dict[int, set[int]] = field(default_factory=dict)  # the base's: file → files it re-exports from

    def link_visits(self, files: Mapping[int, LinkFile], resolver: CommitResolver) -> set[int]:
        """The files the links of ``relink`` (read from ``files``) will likely visit: the files themselves, the
        files their named and namespace imports resolve to, and what those re-export from, transitively, as the
        base's edges say (for prefetching: a file missed is read when a link visits it)."""
        path_of = {file_id: path for path, file_id in self.file_ids.items()}
        targets: set[int] = set()
        for file_id in self.relink:
            for imported in files[file_id].imports:
                if not imported.bindings:
                    continue  # `export * from`, side effects and `import()` send no link to the target by themselves
                resolution = resolver.resolve(path_of[file_id], imported.specifier)
                for path in resolution.paths or (() if resolution.path is None else (resolution.path,)):
                    if path in self.file_ids:
                        targets.add(self.file_ids[path])
        visits = self.relink | targets
        stack = list(targets)
        while stack:
            for target in self.reexports_of.get(stack.pop(), ()):
                if target not in visits:
                    visits.add(target)
                    stack.append(target)
        return visits


def plan_delta(
    conn: Conn,
    base: BaseSnapshot,
    results: Mapping[str, int],
    context: CommitContext,
    *,
    resolver: CommitResolver,
    parsed: Callable[[str], LinkFile | None],
) -> Delta | None:
    """The delta from ``base`` to the commit whose files are ``results`` (path → result id); ``None`` when the
    config files changed (everything must be relinked: the caller writes a full snapshot). ``parsed`` gives a file
    parsed in this job by path (``None`` for the others: they are read from the database where needed)."""
    if config_digest(context) != base.config_digest:
        return None
    next_id = base.next_file_id
    file_ids: dict[str, int] = {}
    changed: dict[int, int] = {}
    for path in sorted(results):
        stored = base.files.get(path)
        if stored is None:
            file_ids[path] = next_id
            changed[next_id] = results[path]
            next_id += 1
            continue
        file_ids[path] = stored[0]
        if stored[1] != results[path]:
            changed[stored[0]] = results[path]
    deleted = {file_id: result_id for path, (file_id, result_id) in base.files.items() if path not in results}
    delta = Delta(file_ids=file_ids, changed=changed, deleted=deleted, next_file_id=next_id)
    added = any(path not in base.files for path in results)
    if paths_digest(context) != base.paths_digest or deleted or added:
        # (a path can join or leave the index without joining or leaving the commit: a file over a size limit)
        delta.resolution_changed = _resolution_changes(conn, base, delta, results, resolver)
    parameters = {"snapshot": base.snapshot_id}
    into: dict[int, list[tuple[int, str, str, str | None]]] = defaultdict(list)
    for source, target, kind, exported, looked_up in conn.execute(_BASE_REEXPORTS, parameters):
        into[target].append((source, kind, exported, looked_up))
        delta.reexports_of.setdefault(source, set()).add(target)
    # What may now resolve differently through each file, by name (None: any name), and the declarations whose
    # members changed. A file whose symbols only grew at the end (imports unchanged) keeps every symbol's index:
    # only the names it exports differently, and the members of the declarations it grew, change for others.
    names: dict[int, set[str] | None] = dict.fromkeys({*deleted, *delta.resolution_changed})
    moved = [path for path in results if path not in base.files] + [path for path in base.files if path not in results]
    namespaces = _python_packages_changed(moved, {**{p: ids[0] for p, ids in base.files.items()}, **file_ids}, names)
    if namespaces:
        namespace_importers = {"snapshot": base.snapshot_id, "paths": sorted(namespaces)}
        delta.relink.update(source for (source,) in conn.execute(_BASE_NAMESPACE_IMPORTERS, namespace_importers))
    grown: list[tuple[int, int]] = []
    replaced = {  # files changed in place: path → (file id, result id in the base)
        path: base.files[path] for path, file_id in file_ids.items() if file_id in changed and path in base.files
    }
    old_files = load_link_files(
        conn,
        {file_id: (path, result_id) for path, (file_id, result_id) in replaced.items()},
        with_references=False,
    )
    new_files = {file_id: found for path, (file_id, _) in replaced.items() if (found := parsed(path)) is not None}
    new_files |= load_link_files(
        conn,
        {file_id: (path, changed[file_id]) for path, (file_id, _) in replaced.items() if file_id not in new_files},
        with_references=False,
    )
    for file_id, _ in replaced.values():
        if file_id in names:
            continue  # any name already (its resolutions changed)
        change = _export_change(old_files[file_id], new_files[file_id])
        if change is None:
            names[file_id] = None
            continue
        changed_names, grown_holders = change
        if changed_names:
            names[file_id] = _looked_up_as(changed_names)
        grown.extend((file_id, holder) for holder in grown_holders)
    # Files changed in place whose declarations, hints, imports and exports are the same (a function body edited):
    # what following types reads of them is the same.
    same_declarations = {
        file_id
        for file_id, _ in replaced.values()
        if _declarations(old_files[file_id]) == _declarations(new_files[file_id])
    }
    relink = set(changed) | delta.resolution_changed | delta.relink
    declarations_changed = {file_id: file for file_id, file in new_files.items() if file_id not in same_declarations}
    relink.update(
        _package_dependents(
            conn,
            base,
            delta=delta,
            results=results,
            declarations_changed=declarations_changed,
            resolver=resolver,
            parsed=parsed,
        )
    )
    stack = list(names)
    while stack:
        target = stack.pop()
        through = names[target]
        for source, kind, exported, looked_up in into.get(target, ()):
            if kind == "reexport_all":
                passed = through
            elif through is None or looked_up in through or looked_up == "*":
                # (`*`: the whole module is exported under one name, or its `module.exports` through `require()`)
                passed = _looked_up_as({exported})
            else:
                continue
            relink.add(source)  # its own links of re-exported names may change
            if source in names:
                known = names[source]
                if known is None or (passed is not None and passed <= known):
                    continue
                names[source] = None if passed is None else known | passed
            else:
                names[source] = None if passed is None else set(passed)
            stack.append(source)
    if names:
        importing = {"snapshot": base.snapshot_id, "targets": sorted(names)}
        for source, target, imported in conn.execute(_BASE_IMPORTED_NAMES, importing):
            through = names[target]
            if imported == "*" or through is None or imported in through:
                relink.add(source)
    if grown:
        linking = {
            "snapshot": base.snapshot_id,
            "files": [file_id for file_id, _ in grown],
            "symbols": [holder for _, holder in grown],
        }
        relink.update(source for (source,) in conn.execute(_BASE_LINKS_INTO, linking))
    # Following types reads declarations and hints, and resolves a hint's names as its own file's references are:
    # whatever may now resolve differently there is relinked above, so its readers are relinked with it.
    read = (relink - same_declarations) | delta.resolution_changed | set(deleted)
    reading = {"snapshot": base.snapshot_id, "targets": sorted(read)}
    relink.update(source for (source,) in conn.execute(_BASE_INFERRED_READERS, reading))
    delta.relink = relink - set(deleted)
    return delta


_PACKAGE_RESULTS = """
SELECT DISTINCT file_result_id FROM imports WHERE file_result_id = ANY(%(ids)s) AND kind = 'package'
"""
"""Which of the given stored results are files of a package of several files (they have a ``package`` import)."""


def _package_dependents(
    conn: Conn,
    base: BaseSnapshot,
    *,
    delta: Delta,
    results: Mapping[str, int],
    declarations_changed: Mapping[int, LinkFile],
    resolver: CommitResolver,
    parsed: Callable[[str], LinkFile | None],
) -> set[int]:
    """The files whose links may change because a file of a package of several files (Go: a directory; what a file's
    ``package`` import resolves to) was added, deleted, or changed its declarations: what a name of the package
    denotes, and which methods a type of it has (``Symbol.receiver``), read every file of the package, while an
    import's stored resolution names only its first file, and a file stores no dependency on the files of its own
    package it names nothing of. So every file of the commit in the directory of such a file and of its language
    is relinked (its package, and its test files), whatever the stored dependencies say, and so is every file that
    depends on a file deleted or changed in place (any file: for one of no such package they are relinked already)
    or on a file of an added file's package (importing a package depends on each of its files).
    ``declarations_changed``: file id → the new form of each file changed in place whose declarations differ."""
    targets = set(delta.deleted)
    packaged_changes = {
        file_id
        for file_id, file in declarations_changed.items()
        if any(imported.kind == "package" for imported in file.imports)
    }
    targets |= packaged_changes
    changed_paths = [path for path, file_id in delta.file_ids.items() if file_id in packaged_changes]
    deleted_results = {result_id: path for path, (file_id, result_id) in base.files.items() if file_id in delta.deleted}
    if deleted_results:
        packaged = {"ids": sorted(deleted_results)}
        changed_paths.extend(deleted_results[result_id] for (result_id,) in conn.execute(_PACKAGE_RESULTS, packaged))
    added = {delta.file_ids[path]: path for path in results if path not in base.files}
    added_files = {file_id: found for file_id, path in added.items() if (found := parsed(path)) is not None}
    added_files |= load_link_files(
        conn,
        {file_id: (path, results[path]) for file_id, path in added.items() if file_id not in added_files},
        with_references=False,
    )
    for file_id, file in added_files.items():
        for imported in file.imports:
            if imported.kind == "package":
                changed_paths.append(added[file_id])
                resolution = resolver.resolve(added[file_id], imported.specifier)
                targets.update(base.files[member][0] for member in resolution.paths if member in base.files)
    packages = {(posixpath.dirname(path), module_system_for_path(path)) for path in changed_paths}
    relink = (
        {
            file_id
            for path, file_id in delta.file_ids.items()
            if (posixpath.dirname(path), module_system_for_path(path)) in packages
        }
        if packages
        else set()
    )
    if targets:
        dependents = {"snapshot": base.snapshot_id, "targets": sorted(targets)}
        relink.update(source for (source,) in conn.execute(_BASE_DEPENDENTS, dependents))
    return relink


def _python_packages_changed(
    moved: Iterable[str], file_ids: Mapping[str, int], names: dict[int, set[str] | None]
) -> set[str]:
    """Note in ``names`` what Python modules added or deleted (``moved``) change: each is an attribute of the
    packages above it (``from pkg import sub``, ``import pkg; pkg.sub.f()``), so the package ``__init__`` of each
    level gains or loses that name (``file_ids``: path → id, of the base and the commit). Returns the namespace
    packages (directories with no ``__init__``) on the way, whose importers must be relinked."""
    namespaces: set[str] = set()
    for path in moved:
        if module_system_for_path(path) != "python":
            continue
        directory, name = posixpath.split(path)
        if name.startswith("__init__."):
            directory, name = posixpath.split(directory)
        else:
            name = name.rsplit(".", 1)[0]
        while directory:
            package = next(
                (
                    file_ids[init]
                    for init in (f"{directory}/__init__.py", f"{directory}/__init__.pyi")
                    if init in file_ids
                ),
                None,
            )
            if package is None:
                namespaces.add(directory)
            elif package not in names:
                names[package] = {name}
            elif (known := names[package]) is not None:
                known.add(name)
            directory, name = posixpath.split(directory)
    return namespaces


def _declarations(file: LinkFile) -> tuple[object, ...]:
    """What following types may read of a file: its declarations (with their hints), imports and exports."""
    return (file.symbols, file.imports, file.exports)


def _looked_up_as(names: set[str]) -> set[str]:
    """``names`` with ``default`` when ``export=`` is among them: a default import of a module with no default export
    looks up its ``export =`` / ``module.exports =``."""
    return names | {"default"} if "export=" in names else names


def _export_change(old: LinkFile, new: LinkFile) -> tuple[set[str], set[int]] | None:
    """How a file's change shows to other files: the exported names whose lookup may find something else, and the
    declarations that gained members; ``None`` when any name may (its imports changed, or a symbol that was there
    changed or moved, or a star re-export or ``export =`` changed)."""
    if old.imports != new.imports:
        return None
    kept = len(old.symbols)
    if tuple(new.symbols[:kept]) != tuple(old.symbols):
        return None
    old_exports, new_exports = set(old.exports), set(new.exports)
    differing = old_exports ^ new_exports
    if any(export.kind == "reexport_all" or export.exported == "export=" for export in differing):
        return None
    added = new.symbols[kept:]
    added_top_level = {symbol.name for symbol in added if symbol.parent is None}
    changed_names = {export.exported for export in differing}
    changed_names.update(export.exported for export in new_exports if export.local in added_top_level)
    holders = {parent for parent in (symbol.parent for symbol in added) if parent is not None and parent < kept}
    return changed_names, holders


def _resolution_changes(
    conn: Conn,
    base: BaseSnapshot,
    delta: Delta,
    results: Mapping[str, int],
    resolver: CommitResolver,
) -> set[int]:
    """File ids of the files of both the base and the commit whose imports, as the base stored them, resolve
    differently in the commit (its paths, or the paths it indexes, differ from the base's). A file changed in
    place whose imports are the same text is among them when they now lead elsewhere."""
    unchanged = {file_id: (path, base.files[path][1]) for path, file_id in delta.file_ids.items() if path in base.files}
    specifiers: dict[int, list[str]] = defaultdict(list)
    by_result: dict[int, list[int]] = defaultdict(list)
    for file_id, (_, result_id) in unchanged.items():
        by_result[result_id].append(file_id)
    for result_id, specifier in conn.execute(
        "SELECT file_result_id, specifier FROM imports WHERE file_result_id = ANY(%s) ORDER BY file_result_id, idx",
        [sorted(by_result)],
    ):
        for file_id in by_result[result_id]:
            specifiers[file_id].append(specifier)
    stored: dict[tuple[int, int], tuple[str, int | None, str | None, str | None]] = {
        (file_id, import_idx): (kind, target, package, target_path)
        for file_id, import_idx, kind, target, package, target_path in conn.execute(
            _BASE_RESOLUTIONS, {"snapshot": base.snapshot_id}
        )
    }
    differing: set[int] = set()
    for file_id, file_specifiers in specifiers.items():
        path = unchanged[file_id][0]
        for import_idx, specifier in enumerate(file_specifiers):
            resolution = resolver.resolve(path, specifier)
            target = delta.file_ids.get(resolution.path) if resolution.path is not None else None
            target_path = resolution.path if target is None else None  # as stages.link stores it
            if stored.get((file_id, import_idx)) != (resolution.kind, target, resolution.package, target_path):
                differing.add(file_id)
                break
    return differing
