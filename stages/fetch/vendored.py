"""Third-party and generated code in a commit's tree: what the listing skips as ``vendored`` or ``generated``, and
the directories first-party code imports from, which are indexed whatever their name.

The rule (``walk_tree`` applies it entry by entry, ``list_files`` adds the rescue):

- a directory named in ``Vendoring.anywhere`` is skipped wherever it is: installed dependencies (``node_modules``
  and the like) and the hidden directories of tools (``.next``, ``.cache``, ``.svn``…), never first-party code;
- a directory named in ``Vendoring.at_package_root`` (``vendor``, and the build output ``dist``, ``build``, ``out``
  and ``coverage``) is skipped only at a package root: the repository root or a directory holding a package
  manifest (``PACKAGE_MANIFESTS``). That is where package managers and build tools put them; deeper, the same
  names are usually first-party code (``src/vendor/`` patched in-house, ``src/build/`` holding build scripts);
- a path the repository's ``.gitattributes`` files mark ``linguist-vendored`` (``vendored``) or
  ``linguist-generated`` (``generated``) is skipped, and one they un-mark (``-linguist-vendored``,
  ``linguist-vendored=false``) is not, even inside a skipped directory (``stages.fetch.attributes`` applies git's
  pattern rules). Attribute files are read only while the ``.gitattributes`` files along a path hold at most
  ``MAX_ATTRIBUTES_BYTES`` together (beyond, that subtree is judged by names alone);
- never a directory first-party code imports from: a relative specifier (static ``import``/``export … from``,
  ``require()``, ``import()``) in an indexed file that leads into a skipped directory rescues that directory (for
  installed dependencies, the one package: ``node_modules/<name>`` or ``node_modules/@scope/<name>``); one that
  names files skipped by their attributes rescues each file it names as resolution would find it
  (``IMPORTABLE_SUFFIXES``: ``./gen/api`` → ``gen/api.ts``, ``gen/api/index.ts``, not ``gen/api/deep/x.ts``).
  Rescued files are indexed and scanned in turn (at most ``MAX_RESCUE_ROUNDS`` times), the scan reads at most
  ``DEFAULT_MAX_SCAN_BYTES``, and it runs only when the commit has something skipped under this rule.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

import msgspec

from stages import languages

INSTALLED_DEPENDENCY_DIRS: Final = frozenset(
    {"node_modules", "bower_components", "jspm_packages", ".yarn", ".pnpm-store"}
)
"""Where package managers install dependencies: skipped anywhere; a rescue takes one package of them."""


class Vendoring(msgspec.Struct, frozen=True, kw_only=True):
    """Directory names skipped wherever they are (``anywhere``) and only at a package root (``at_package_root``)."""

    anywhere: frozenset[str]
    at_package_root: frozenset[str]


DEFAULT_VENDORING: Final = Vendoring(
    anywhere=INSTALLED_DEPENDENCY_DIRS
    | {
        # the output and caches of tools, named after them
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".output",
        ".vercel",
        ".turbo",
        ".parcel-cache",
        ".cache",
        ".nyc_output",
        # version control metadata committed by mistake (a `.git` entry is never a path: `unsafe_path`)
        ".hg",
        ".svn",
    },
    at_package_root=frozenset({"vendor", "dist", "build", "out", "coverage"}),
)
"""The default rule (the names are exact, case-sensitive path components)."""

PACKAGE_MANIFESTS: Final = ("package.json", "composer.json", "go.mod")
"""Files that make their directory a package root (npm, and the tools that create ``vendor/``: Composer, Go)."""

MAX_ATTRIBUTES_BYTES: Final = 64 * 1024
"""Most bytes of ``.gitattributes`` along one path (the root's and each directory's) that are read and applied."""

MAX_RESCUE_ROUNDS: Final = 4
"""How many times files rescued by an import are scanned in turn for imports into further skipped directories."""

DEFAULT_MAX_SCAN_BYTES: Final = 256 * 1024 * 1024
"""Most bytes of indexed files read to look for imports into skipped directories (per listing)."""

IMPORTABLE_SUFFIXES: Final = (
    "",
    *(f"{prefix}{extension}" for prefix in ("", "/index") for extension in (*languages.EXTENSIONS, ".d.ts", ".json")),
    "/package.json",
)
"""What a relative import's target may name besides itself, as resolution would find it (``stages.resolve``): a
file by its extension, a directory's index or manifest."""

_RELATIVE_STRING: Final = re.compile(rb"""(["'])(\.\.?(?:/[^"'\\\n]{0,1024})?)\1""")
"""A string literal holding a relative specifier (``"./a"``, ``'../b/c'``, ``".."``): a quote then a dot is rare, so
the scan finds few candidates fast."""
_IMPORT_KEYWORD: Final = re.compile(rb"""(?:\bfrom|\bimport|\brequire)\s*\(?\s*$""")
"""What must come just before such a string (within ``_KEYWORD_WINDOW`` bytes) for it to be a specifier: ``from``,
``import`` (bare or called) or ``require(``. A textual scan: a commented-out import counts too (it can only index
more)."""
_KEYWORD_WINDOW: Final = 24


class Rescued(msgspec.Struct, frozen=True, kw_only=True):
    """What imports from first-party code put back in the index: skipped directories (every file below) and
    skipped files."""

    dirs: frozenset[str] = frozenset()
    files: frozenset[str] = frozenset()

    def __or__(self, other: Rescued) -> Rescued:
        return Rescued(dirs=self.dirs | other.dirs, files=self.files | other.files)


@dataclass
class VendoredRegions:
    """What one walk skipped under the rule: each skipped directory (path → whether it holds installed
    dependencies) and each file skipped by its attributes outside those directories."""

    roots: dict[str, bool] = field(default_factory=dict)
    marked: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.roots or self.marked)

    def rescue_for(self, targets: Iterable[str], exists: Callable[[str], bool]) -> Rescued:
        """What the import targets (normalized repository paths, without extension resolution) rescue: a skipped
        directory only for a target that ``exists`` there (an import of nothing imports from no directory), and
        the marked files a target names (``IMPORTABLE_SUFFIXES``), never others below it."""
        marked = set(self.marked)
        dirs: set[str] = set()
        files: set[str] = set()
        for target in targets:
            root = self._root_of(target)
            if root is not None:
                if root not in dirs and exists(target):
                    dirs.add(root)
                continue
            files.update(path for suffix in IMPORTABLE_SUFFIXES if (path := target + suffix) in marked)
        return Rescued(dirs=frozenset(dirs), files=frozenset(files))

    def _root_of(self, target: str) -> str | None:
        """The rescue unit of a target inside a skipped directory (the innermost: the rule applies again inside a
        rescued one): the directory, or for installed dependencies the package directory below it; ``None``
        outside every skipped directory."""
        parts = target.split("/")
        for depth in range(len(parts), 0, -1):
            root = "/".join(parts[:depth])
            installed = self.roots.get(root)
            if installed is None:
                continue
            if not installed or depth == len(parts):
                return root
            width = 2 if parts[depth].startswith("@") and depth + 1 < len(parts) else 1
            return "/".join(parts[: depth + width])
        return None


def relative_targets(importer: str, data: bytes) -> Iterator[str]:
    """The repository paths the relative specifiers of ``importer`` name (``../vendor/lib`` from ``src/a.ts`` is
    ``vendor/lib``); specifiers leaving the repository are dropped."""
    directory = posixpath.dirname(importer)
    for match in _RELATIVE_STRING.finditer(data):
        start = match.start()
        if not _IMPORT_KEYWORD.search(data, max(0, start - _KEYWORD_WINDOW), start):
            continue
        specifier = match.group(2).decode("utf-8", "replace").split("?", 1)[0]
        target = posixpath.normpath(posixpath.join(directory, specifier))
        if target not in {".", ".."} and not target.startswith("../"):
            yield target
