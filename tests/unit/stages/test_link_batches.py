"""Linking in batches with a bounded number of files' lookups: the same rows as one link of all files, and no
more files held at once than the bound."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator, Mapping, Sequence

from hypothesis import given
from hypothesis import strategies as st

from stages.extract import extract_source
from stages.link import link, link_batches
from stages.models import FileExtraction, LinkedIndex, LinkFile
from stages.resolve import ModuleResolver
from tests.unit.test_link_properties import PROPERTY_SETTINGS, commits

_FIELDS = LinkedIndex.__struct_fields__


def concatenated(batches: Sequence[LinkedIndex]) -> LinkedIndex:
    return LinkedIndex(**{name: tuple(row for batch in batches for row in getattr(batch, name)) for name in _FIELDS})


def in_batches(file_ids: list[int], size: int) -> list[list[int]]:
    return [file_ids[start : start + size] for start in range(0, len(file_ids), size)]


@PROPERTY_SETTINGS
@given(commits(), st.integers(1, 5), st.integers(1, 4))
def test_link_batches__concatenated_rows_are_the_link_of_all_files(
    files: list[LinkFile], batch_files: int, max_tables: int
) -> None:
    no_configs: dict[str, str] = {}
    paths = {file.path: file_id for file_id, file in enumerate(files)}
    by_id = dict(enumerate(files))
    batches = list(
        link_batches(
            by_id,
            ModuleResolver.from_files(list(paths), no_configs.get),
            paths=paths,
            batches=in_batches(sorted(by_id), batch_files),
            max_tables=max_tables,
        )
    )
    assert concatenated(batches) == link(files, ModuleResolver.from_files(list(paths), no_configs.get))


class View:
    """One file as a linker reads it; a fresh one on every read, so the live ones are those the linker holds."""

    __slots__ = ("__weakref__", "exports", "imports", "path", "references", "symbols")

    def __init__(self, extraction: FileExtraction) -> None:
        self.path = extraction.path
        self.symbols = extraction.symbols
        self.imports = extraction.imports
        self.exports = extraction.exports
        self.references = extraction.references


class FreshViews(Mapping[int, View]):
    def __init__(self, files: list[FileExtraction]) -> None:
        self._files = files
        self.live: weakref.WeakSet[View] = weakref.WeakSet()
        self.reads = 0

    def __getitem__(self, file_id: int) -> View:
        view = View(self._files[file_id])
        self.live.add(view)
        self.reads += 1
        return view

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self._files)))

    def __len__(self) -> int:
        return len(self._files)


def test_link_batches__holds_at_most_max_tables_files_between_batches() -> None:
    sources = {"src/shared.ts": "export function shared(): number { return 1; }\n"}
    for n in range(24):
        previous = f"import {{ f{n - 1} }} from './m{n - 1}';\n" if n else ""
        call = f"f{n - 1}() + " if n else ""
        sources[f"src/m{n}.ts"] = (
            f"{previous}import {{ shared }} from './shared';\n"
            f"export function f{n}(): number {{ return {call}shared(); }}\n"
        )
    files = [extract_source(path, text.encode()) for path, text in sorted(sources.items())]
    paths = {file.path: file_id for file_id, file in enumerate(files)}
    views = FreshViews(files)
    held = []
    rows = []
    for batch in link_batches(
        views,
        ModuleResolver.from_files(sources, sources.get),
        paths=paths,
        batches=in_batches(sorted(paths.values()), 5),
        max_tables=3,
    ):
        rows.append(batch)
        gc.collect()
        held.append(len(views.live))

    assert max(held) <= 3
    assert views.reads > len(files)  # files dropped were read again when a later link visited them
    assert concatenated(rows) == link(files, ModuleResolver.from_files(sources, sources.get))
    assert any(reference.target is not None for reference in concatenated(rows).reference_links)
