"""Go import resolution within one commit: import paths → package directories, the standard library, or modules.

A ``GoResolver`` is built once per commit from the commit's paths and ``read_text`` (read for ``go.mod`` and
``go.work`` only); it does no I/O of its own and never raises on bad input: a malformed ``go.mod`` or ``go.work``
is reported in ``diagnostics`` and its unreadable lines are ignored.

Rules (paths are repository-relative and POSIX):

1. ``.`` (the implicit import of a file's own package, ``stages.lang.go.OWN_PACKAGE``) is the importer's directory.
2. An import path that is, or lies under, the path of a module of the commit (a ``go.mod`` ``module`` line, a
   ``go.work`` ``use`` directory, or a ``replace`` directive pointing to a directory of the commit) names the
   directory below that module's directory: the longest such module path wins, unless a module the importer's
   ``go.mod`` requires is longer.
3. Else an import path whose first element has no dot (``fmt``, ``net/http``, ``C``) is the standard library:
   ``builtin``, named by the import path.
4. Else it is ``external``, named by the longest module path the importer's ``go.mod`` requires that is a prefix
   of it (the version is that ``require`` line's, or a ``replace`` line's that names one), else by the import path.

A package is a directory: a resolution to one is a ``file`` resolution whose ``paths`` are its ``.go`` files
(sorted; ``path`` is the first): its non-test files, and also its ``_test.go`` files for an importer of the same
directory that is a test file. A directory with no such file is ``unresolved``. The nearest ``go.mod`` of a file is
the one in its directory or the closest ancestor. Results are memoised per (importer directory, test or not,
import path).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable

from stages.lang.go import OWN_PACKAGE
from stages.resolve import UNRESOLVED, Resolution

MAX_MANIFEST_LINES = 100_000
"""Lines of one ``go.mod`` or ``go.work`` read at most (a larger one is read up to there, with a diagnostic)."""
MAX_DIAGNOSTICS = 100
_TEST_SUFFIX = "_test.go"


class GoModule:
    """What one ``go.mod`` says: its module path, its requirements and its replacements."""

    __slots__ = ("directory", "path", "replaced_directories", "replaced_versions", "requires")

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path: str | None = None
        self.requires: dict[str, str] = {}
        self.replaced_directories: dict[str, str] = {}  # module path → directory of the commit
        self.replaced_versions: dict[str, str] = {}  # module path → the version a replace line names


def _tokens(line: str) -> list[str]:
    """The words of one manifest line without its ``//`` comment; quoted words lose their quotes."""
    comment = line.find("//")
    words = (line if comment < 0 else line[:comment]).split()
    return [word[1:-1] if len(word) >= 2 and word[0] == word[-1] and word[0] in '"`' else word for word in words]


def _directives(text: str, name: str, diagnostics: list[str]) -> Iterable[tuple[str, list[str]]]:
    """(verb, arguments) of each directive of a ``go.mod``/``go.work`` text, blocks (``require ( … )``) unfolded."""
    block: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if number > MAX_MANIFEST_LINES:
            diagnostics.append(f"{name}: more than {MAX_MANIFEST_LINES} lines; the rest is ignored")
            return
        words = _tokens(line)
        if not words:
            continue
        if block is not None:
            if words == [")"]:
                block = None
            else:
                yield block, words
        elif len(words) == 2 and words[1] == "(":
            block = words[0]
        elif len(words) >= 2:
            yield words[0], words[1:]
        else:
            diagnostics.append(f"{name}:{number}: unreadable line")
    if block is not None:
        diagnostics.append(f"{name}: a `{block} (` block is not closed")


def _inside(directory: str, relative: str) -> str | None:
    """``relative`` joined to ``directory``, or ``None`` when it leaves the repository or is absolute."""
    if relative.startswith("/") or "\\" in relative:
        return None
    joined = posixpath.normpath(posixpath.join(directory, relative))
    if joined == ".":
        return ""
    return None if joined.startswith("../") or joined == ".." else joined


class GoResolver:
    """The Go module system over one commit (see the module docstring)."""

    def __init__(self, paths: frozenset[str], read_text: Callable[[str], str | None]) -> None:
        self._diagnostics: list[str] = []
        self._files: dict[str, list[str]] = {}
        self._modules: dict[str, GoModule] = {}  # directory → its go.mod
        for path in sorted(paths):
            directory, name = posixpath.split(path)
            if name.endswith(".go"):
                self._files.setdefault(directory, []).append(path)
            elif name == "go.mod":
                self._modules[directory] = self._read_module(directory, path, read_text)
        self._module_directories: dict[str, str] = {}  # module path → its directory in the commit
        for directory, module in sorted(self._modules.items()):
            if module.path is not None:
                self._module_directories.setdefault(module.path, directory)
        for path in sorted(paths):
            if posixpath.basename(path) == "go.work":
                self._read_workspace(posixpath.dirname(path), path, read_text)
        for module in self._modules.values():
            for replaced, directory in sorted(module.replaced_directories.items()):
                self._module_directories.setdefault(replaced, directory)
        self._nearest: dict[str, GoModule | None] = {}
        self._memo: dict[tuple[str, bool, str], Resolution] = {}

    @property
    def diagnostics(self) -> tuple[str, ...]:
        return tuple(self._diagnostics[:MAX_DIAGNOSTICS])

    def _read_module(self, directory: str, path: str, read_text: Callable[[str], str | None]) -> GoModule:
        module = GoModule(directory)
        text = read_text(path)
        if text is None:
            self._diagnostics.append(f"{path}: unreadable (too large or not a blob)")
            return module
        for verb, words in _directives(text, path, self._diagnostics):
            if verb == "module" and len(words) == 1 and module.path is None:
                module.path = words[0]
            elif verb == "require" and len(words) >= 2:
                module.requires[words[0]] = words[1]
            elif verb == "replace":
                self._read_replace(module, words, path)
        if module.path is None:
            self._diagnostics.append(f"{path}: no `module` line")
        return module

    def _read_replace(self, module: GoModule, words: list[str], path: str) -> None:
        """``old [version] => new [version]``: a directory (``./x``, ``../x``) or another module."""
        if "=>" not in words:
            self._diagnostics.append(f"{path}: a `replace` without `=>`")
            return
        arrow = words.index("=>")
        old, new = words[:arrow], words[arrow + 1 :]
        if len(old) not in (1, 2) or len(new) not in (1, 2):
            self._diagnostics.append(f"{path}: unreadable `replace {' '.join(words)}`")
            return
        if len(new) == 1 and (new[0].startswith("./") or new[0].startswith("../")):
            target = _inside(module.directory, new[0])
            if target is None:
                self._diagnostics.append(f"{path}: `replace` points outside the repository: {new[0]}")
            else:
                module.replaced_directories[old[0]] = target
        elif len(new) == 2:
            module.replaced_versions[old[0]] = new[1]

    def _read_workspace(self, directory: str, path: str, read_text: Callable[[str], str | None]) -> None:
        text = read_text(path)
        if text is None:
            self._diagnostics.append(f"{path}: unreadable (too large or not a blob)")
            return
        for verb, words in _directives(text, path, self._diagnostics):
            if verb != "use" or len(words) != 1:
                continue
            used = _inside(directory, words[0])
            module = None if used is None else self._modules.get(used)
            if module is None or module.path is None:
                self._diagnostics.append(f"{path}: `use {words[0]}` names no module of the commit")
            else:
                self._module_directories.setdefault(module.path, module.directory)

    def nearest_module(self, directory: str) -> GoModule | None:
        """The ``go.mod`` of the directory or of its closest ancestor, memoised."""
        found = self._nearest.get(directory, False)
        if found is not False:
            return found  # type: ignore[return-value]
        visited: list[str] = []
        current = directory
        module: GoModule | None = None
        while True:
            known = self._nearest.get(current, False)
            if known is not False:
                module = known  # type: ignore[assignment]
                break
            visited.append(current)
            module = self._modules.get(current)
            if module is not None or current == "":
                break
            current = posixpath.dirname(current)
        for seen in visited:
            self._nearest[seen] = module
        return module

    def resolve(self, importer_path: str, specifier: str) -> Resolution:
        """Where the import path ``specifier`` of ``importer_path`` points; never raises."""
        directory = posixpath.dirname(importer_path)
        is_test = importer_path.endswith(_TEST_SUFFIX)
        key = (directory, is_test, specifier)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._resolve(directory, is_test, specifier)
        return found

    def _resolve(self, directory: str, is_test: bool, specifier: str) -> Resolution:
        if specifier == OWN_PACKAGE:
            return self._package(directory, with_tests=is_test)
        if not specifier or specifier.startswith(("/", ".")) or "\\" in specifier or "//" in specifier:
            return UNRESOLVED
        module = self.nearest_module(directory)
        required = None if module is None else _longest_prefix(module.requires, specifier)
        local = _longest_prefix(self._module_directories, specifier)
        if local is not None and (required is None or len(local) >= len(required)):
            rest = specifier[len(local) + 1 :]
            target = posixpath.join(self._module_directories[local], rest) if rest else self._module_directories[local]
            return self._package(target.strip("/"), with_tests=is_test and target == directory)
        if "." not in specifier.split("/", 1)[0]:
            return Resolution("builtin", package=specifier)
        return Resolution("external", package=required or specifier)

    def _package(self, directory: str, *, with_tests: bool) -> Resolution:
        files = [path for path in self._files.get(directory, ()) if with_tests or not path.endswith(_TEST_SUFFIX)]
        if not files:
            return UNRESOLVED
        return Resolution("file", path=files[0], paths=tuple(files))

    def package_version(self, importer_path: str, package: str) -> str | None:
        """The version of ``package`` that the importer's ``go.mod`` requires (a ``replace`` line's, if it names
        one), else ``None``."""
        module = self.nearest_module(posixpath.dirname(importer_path))
        if module is None:
            return None
        return module.replaced_versions.get(package) or module.requires.get(package)


def _longest_prefix(paths: dict[str, str], import_path: str) -> str | None:
    """The longest key of ``paths`` that is ``import_path`` or a path prefix of it (element-wise)."""
    candidate = import_path
    while candidate:
        if candidate in paths:
            return candidate
        slash = candidate.rfind("/")
        if slash < 0:
            return None
        candidate = candidate[:slash]
    return None
