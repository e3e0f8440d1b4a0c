"""Python import resolution within one commit, the way the import system finds modules on a project's path.

A ``PythonResolver`` is built once per commit from the commit's file list and a ``read_text`` callback (used only
for ``pyproject.toml``, ``setup.cfg`` and ``requirements*.txt``); it does no I/O of its own and never raises on bad
input: a malformed config is reported in ``PythonResolver.diagnostics`` and treated as absent (a malformed
requirements line is reported and skipped, the rest of the file is kept).

Rules, in order (paths are repository-relative and POSIX; a specifier is a dotted module name, relative ones keep
their leading dots as written: ``from ..a.b import x`` is ``..a.b``):

1. A specifier that is not a dotted name of identifiers after its dots (``a..b``, ``.a.``, ``1a``) is
   ``unresolved``.
2. Relative specifiers start from the importer's package (its directory, whether it is an ``__init__`` or a
   module); each dot past the first goes one directory up (above the repository root is ``unresolved``). The rest
   names a module inside it; ``.`` alone is the package itself.
3. Absolute specifiers are looked up under the importer's package roots, nearest first: the first ancestor directory
   of the importer with no ``__init__.py``/``__init__.pyi`` (where its top-level package lives), each ancestor
   holding ``pyproject.toml``, ``setup.py`` or ``setup.cfg`` and its ``src/``, then the repository root and
   ``src/`` (at most ``MAX_ROOTS``).
4. A module ``a.b.c`` under a root is ``a/b/c/__init__.pyi``, ``a/b/c/__init__.py``, ``a/b/c.pyi``, ``a/b/c.py``
   (packages before modules, as CPython's ``FileFinder`` looks; stubs first), first root first. Only when no root
   has one is a namespace package taken: a directory ``a/b/c`` without ``__init__`` holding ``.py``/``.pyi`` files
   (or directories that do), ``Resolution("file", path=<the directory>)`` (the index holds no file there).
5. Otherwise a standard library module (``sys.stdlib_module_names``, first segment) is ``builtin`` with that
   segment as package; anything else is ``external``, named by its distribution: the project declaring a
   distribution of that (normalised) name, else a well-known import name → distribution pair (``yaml`` →
   ``pyyaml``), else the first segment normalised (PEP 503: lower case, runs of ``-_.`` → ``-``).

Declared dependencies are read from the nearest project files that declare the distribution, walking up from the
importer: PEP 621 ``dependencies`` and ``optional-dependencies``, Poetry ``dependencies``, ``dev-dependencies`` and
groups, PEP 735 ``dependency-groups``, setup.cfg ``install_requires`` and ``extras_require``, and pip requirements
files (``is_requirements_path``: ``requirements*.txt``, ``dev-requirements.txt``, ``requirements/*.txt``… of the
directory, with their ``-r`` includes within the
commit, at most ``MAX_INCLUDE_DEPTH`` deep and ``MAX_INCLUDES`` files per file). ``package_version`` is the
specifier as declared (``>=2.0``, ``==1.2.3``, Poetry's ``^1.2``), markers and extras dropped.

Results are memoised per (importer directory, specifier).
"""

from __future__ import annotations

import configparser
import posixpath
import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stages.resolve import UNRESOLVED, Resolution

MODULE_SUFFIXES = (".pyi", ".py")
"""A module's own file, stubs first."""
PACKAGE_INITS = ("__init__.pyi", "__init__.py")
"""A regular package's file, stubs first."""
PROJECT_FILES = frozenset({"pyproject.toml", "setup.py", "setup.cfg"})
"""Files that make their directory (and its ``src/``) a package root."""
MAX_ROOTS = 16
"""Package roots tried per importer (a deeper nesting of projects is never seen in real code)."""
MAX_SPECIFIER_CHARS = 512
"""Longer specifiers are ``unresolved`` (real module names are far shorter)."""
MAX_INCLUDE_DEPTH = 8
"""How deep ``-r`` includes of requirements files are followed."""
MAX_INCLUDES = 64
"""Requirements files read through ``-r`` from one requirements file, transitively."""
MAX_DECLARATIONS = 10_000
"""Distributions kept per project file (a real one declares a few hundred at most)."""
MAX_DIAGNOSTICS_PER_FILE = 8
"""Problems reported per project file; a file of garbage says so once more and no further."""

WELL_KNOWN_DISTRIBUTIONS: Mapping[str, str] = {
    "attr": "attrs",
    "bs4": "beautifulsoup4",
    "cv2": "opencv-python",
    "Crypto": "pycryptodome",
    "dateutil": "python-dateutil",
    "docx": "python-docx",
    "dotenv": "python-dotenv",
    "fitz": "pymupdf",
    "git": "gitpython",
    "jose": "python-jose",
    "jwt": "pyjwt",
    "magic": "python-magic",
    "multipart": "python-multipart",
    "MySQLdb": "mysqlclient",
    "OpenSSL": "pyopenssl",
    "PIL": "pillow",
    "pptx": "python-pptx",
    "serial": "pyserial",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "usb": "pyusb",
    "win32api": "pywin32",
    "yaml": "pyyaml",
    "zmq": "pyzmq",
}
"""Import names whose distribution is named otherwise (used when the project declares no distribution of the
import's own name)."""

_NORMALISE = re.compile(r"[-_.]+")
_REQUIREMENT = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[(?P<extras>[^\]]*)\])?\s*(?P<rest>.*)", re.DOTALL
)
_VERSION_SPECIFIER = re.compile(r"(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+")
_INCLUDE = re.compile(r"(?:-r|--requirement)(?:\s+|=)?(?P<file>\S+)")
_EGG = re.compile(r"#egg=(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise_distribution(name: str) -> str:
    """A distribution name as PEP 503 compares them: lower case, runs of ``-``, ``_`` and ``.`` made one ``-``."""
    return _NORMALISE.sub("-", name).lower()


def _dirname(path: str) -> str:
    return posixpath.dirname(path)


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def is_requirements_path(path: str) -> bool:
    """Whether ``path`` is a pip requirements file: a ``.txt`` whose name says so (``requirements.txt``,
    ``requirements-dev.txt``, ``dev-requirements.txt``, ``test_requirements.txt``, ``constraints.txt``), or any
    ``.txt`` in a ``requirements/`` directory. The fetch stage reads exactly these (``stages.fetch.context``), so
    a ``-r`` include of another name is reported as not read."""
    name = posixpath.basename(path).lower()
    if not name.endswith(".txt"):
        return False
    return (
        "requirements" in name
        or name.startswith("constraints")
        or posixpath.basename(_dirname(path)).lower() == "requirements"
    )


def parse_specifier(specifier: str) -> tuple[int, tuple[str, ...]] | None:
    """``(level, names)`` of a module specifier (``..a.b`` → ``(2, ("a", "b"))``), or ``None`` when it is not a
    dotted name of identifiers after its leading dots (``.`` alone is ``(1, ())``)."""
    if not specifier or len(specifier) > MAX_SPECIFIER_CHARS:
        return None
    rest = specifier.lstrip(".")
    level = len(specifier) - len(rest)
    if not rest:
        return (level, ()) if level else None
    names = tuple(rest.split("."))
    if not all(name.isidentifier() for name in names):
        return None
    return level, names


class Declared:
    """The distributions one project file declares: normalised name → specifier text (``""`` when unversioned)."""

    __slots__ = ("versions",)

    def __init__(self) -> None:
        self.versions: dict[str, str] = {}

    def add(self, name: str, specifier: str) -> None:
        """Note a declaration; the first one of a name is kept, but a versioned one replaces an unversioned one."""
        key = normalise_distribution(name)
        if len(self.versions) >= MAX_DECLARATIONS and key not in self.versions:
            return
        if not self.versions.get(key):
            self.versions[key] = specifier


class PythonResolver:
    """Resolves Python import specifiers of one commit (see the module docstring)."""

    def __init__(self, files: frozenset[str], read_text: Callable[[str], str | None]) -> None:
        self._files = files
        self._read_text = read_text
        self._diagnostics: list[str] = []
        # Directories holding Python files at any depth below them: the namespace packages' candidates.
        self._python_dirs: set[str] = set()
        self._project_dirs: set[str] = set()
        self._config_files: dict[str, list[str]] = {}  # directory → its project files, in reading order
        for path in sorted(files):
            directory = _dirname(path)
            name = posixpath.basename(path)
            if path.endswith(MODULE_SUFFIXES):
                ancestor = directory
                while ancestor and ancestor not in self._python_dirs:
                    self._python_dirs.add(ancestor)
                    ancestor = _dirname(ancestor)
            if name in PROJECT_FILES:
                self._project_dirs.add(directory)
            if name in ("pyproject.toml", "setup.cfg"):
                self._config_files.setdefault(directory, []).append(path)
            elif is_requirements_path(path):
                owner = _dirname(directory) if posixpath.basename(directory) == "requirements" else directory
                self._config_files.setdefault(owner, []).append(path)
        for paths in self._config_files.values():
            paths.sort(key=_config_order)
        self._cache: dict[str, dict[str, Resolution]] = {}
        self._roots: dict[str, tuple[str, ...]] = {}
        self._closures: dict[str, tuple[Declared, ...]] = {}
        self._requirement_files: dict[str, tuple[Declared, tuple[str, ...]]] = {}
        self._reported: dict[str, int] = {}

    @classmethod
    def from_files(cls, paths: Iterable[str], read_text: Callable[[str], str | None]) -> PythonResolver:
        """Index the commit's paths (repository-relative, POSIX); ``read_text`` returns a config file's text or
        ``None``."""
        return cls(frozenset(paths), read_text)

    @property
    def diagnostics(self) -> tuple[str, ...]:
        """Problems met so far in project files, each naming the file (invalid TOML, a malformed requirement)."""
        return tuple(self._diagnostics)

    def resolve(self, importer_path: str, specifier: str) -> Resolution:
        """Resolve ``specifier`` as written in ``importer_path``; never raises."""
        directory = _dirname(importer_path)
        cache = self._cache.get(directory)
        if cache is None:
            cache = self._cache[directory] = {}
        found = cache.get(specifier)
        if found is None:
            found = cache[specifier] = self._resolve(directory, specifier)
        return found

    def package_version(self, importer_path: str, package: str) -> str | None:
        """The version specifier of the distribution ``package`` as the nearest project file declaring it writes it
        (``None`` when none declares it, or declares it without a version)."""
        key = normalise_distribution(package)
        for declared in self._declarations_above(_dirname(importer_path)):
            if key in declared.versions:
                return declared.versions[key] or None
        return None

    # ---- modules ------------------------------------------------------------------------------------

    def _resolve(self, directory: str, specifier: str) -> Resolution:
        parsed = parse_specifier(specifier)
        if parsed is None:
            return UNRESOLVED
        level, names = parsed
        if level:
            base: str | None = directory
            for _ in range(level - 1):
                if not base:
                    base = None
                    break
                base = _dirname(base)
            if base is None:
                return UNRESOLVED
            found = self._module(base, names) or self._namespace(base, names)
            return UNRESOLVED if found is None else Resolution("file", path=found)
        roots = self._package_roots(directory)
        for root in roots:
            found = self._module(root, names)
            if found is not None:
                return Resolution("file", path=found)
        for root in roots:
            found = self._namespace(root, names)
            if found is not None:
                return Resolution("file", path=found)
        first = names[0]
        if first in sys.stdlib_module_names:
            return Resolution("builtin", package=first)
        return Resolution("external", package=self._distribution(directory, first))

    def _module(self, base: str, names: tuple[str, ...]) -> str | None:
        """The module or regular package ``names`` under ``base`` (``()``: the package ``base`` itself)."""
        target = _join(base, "/".join(names)) if names else base
        files = self._files
        for init in PACKAGE_INITS:  # a package before a module of the same name, as CPython's FileFinder looks
            candidate = _join(target, init)
            if candidate in files:
                return candidate
        if names:
            for suffix in MODULE_SUFFIXES:
                if target + suffix in files:
                    return target + suffix
        return None

    def _namespace(self, base: str, names: tuple[str, ...]) -> str | None:
        """The namespace package ``names`` under ``base``: a directory of Python files (never the root itself)."""
        target = _join(base, "/".join(names)) if names else base
        return target if target and target in self._python_dirs else None

    def _package_roots(self, directory: str) -> tuple[str, ...]:
        """Where absolute imports of a file in ``directory`` are looked up, nearest first (rule 3)."""
        cached = self._roots.get(directory)
        if cached is not None:
            return cached
        top = directory
        while top and any(_join(top, init) in self._files for init in PACKAGE_INITS):
            top = _dirname(top)
        roots = [top]
        ancestor: str | None = directory
        while ancestor is not None:
            if ancestor in self._project_dirs:
                roots.extend((ancestor, _join(ancestor, "src")))
            ancestor = _dirname(ancestor) if ancestor else None
        roots.extend(("", "src"))
        unique = tuple(dict.fromkeys(roots))[:MAX_ROOTS]
        self._roots[directory] = unique
        return unique

    # ---- distributions ------------------------------------------------------------------------------

    def _distribution(self, directory: str, first: str) -> str:
        """The distribution an external import's first segment belongs to (rule 5)."""
        own = normalise_distribution(first)
        well_known = WELL_KNOWN_DISTRIBUTIONS.get(first)
        for declared in self._declarations_above(directory):
            if own in declared.versions:
                return own
            if well_known is not None and well_known in declared.versions:
                return well_known
        return well_known or own

    def _declarations_above(self, directory: str) -> Iterable[Declared]:
        """The declarations of every project file from ``directory`` up to the root, nearest first (a requirements
        file's own, then those of the files it includes)."""
        ancestor: str | None = directory
        while ancestor is not None:
            for path in self._config_files.get(ancestor, ()):
                yield from self._declarations(path)
            ancestor = _dirname(ancestor) if ancestor else None

    def _declarations(self, path: str) -> tuple[Declared, ...]:
        """What one project file declares; for a requirements file, with the files its ``-r`` lines include
        (breadth first, each once, at most ``MAX_INCLUDE_DEPTH`` deep and ``MAX_INCLUDES`` files)."""
        found = self._closures.get(path)
        if found is not None:
            return found
        name = posixpath.basename(path)
        if name in ("pyproject.toml", "setup.cfg"):
            declared = Declared()
            if name == "pyproject.toml":
                self._read_pyproject(path, declared)
            else:
                self._read_setup_cfg(path, declared)
            found = (declared,)
        else:
            closure = [path]
            depth_of = {path: 0}
            index = 0
            while index < len(closure):
                current = closure[index]
                index += 1
                for included in self._requirements(current)[1]:
                    if included in depth_of:
                        continue
                    if depth_of[current] + 1 > MAX_INCLUDE_DEPTH or len(closure) >= MAX_INCLUDES:
                        self._report(path, f"includes past the bound are not read ({included})")
                        continue
                    depth_of[included] = depth_of[current] + 1
                    closure.append(included)
            found = tuple(self._requirements(member)[0] for member in closure)
        self._closures[path] = found
        return found

    def _report(self, path: str, message: str) -> None:
        """Note a problem of ``path`` (at most ``MAX_DIAGNOSTICS_PER_FILE`` per file, then one saying so)."""
        count = self._reported.get(path, 0)
        self._reported[path] = count + 1
        if count < MAX_DIAGNOSTICS_PER_FILE:
            self._diagnostics.append(f"{path}: {message}")
        elif count == MAX_DIAGNOSTICS_PER_FILE:
            self._diagnostics.append(f"{path}: more problems not reported")

    def _text(self, path: str) -> str | None:
        text = self._read_text(path)
        if text is None:
            self._report(path, "could not be read")
        return text

    def _read_pyproject(self, path: str, declared: Declared) -> None:
        text = self._text(path)
        if text is None:
            return
        try:
            document = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as exc:  # tomllib nests by recursion
            self._report(path, f"invalid TOML: {exc}")
            return
        project = _table(document.get("project"))
        requirements: list[object] = [*_list(project.get("dependencies"))]
        for group in _table(project.get("optional-dependencies")).values():
            requirements.extend(_list(group))
        for group in _table(document.get("dependency-groups")).values():
            requirements.extend(_list(group))  # (an `{include-group = …}` table is no requirement: skipped)
        for requirement in requirements:
            if isinstance(requirement, str):
                self._add_requirement(path, requirement, declared)
        poetry = _table(_table(document.get("tool")).get("poetry"))
        tables = [poetry.get("dependencies"), poetry.get("dev-dependencies")]
        tables.extend(_table(group).get("dependencies") for group in _table(poetry.get("group")).values())
        for dependencies in tables:
            for name, value in _table(dependencies).items():
                if name.lower() != "python":
                    declared.add(name, _poetry_version(value))

    def _read_setup_cfg(self, path: str, declared: Declared) -> None:
        text = self._text(path)
        if text is None:
            return
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(text, source=path)
        except configparser.Error as exc:
            self._report(path, f"invalid setup.cfg: {exc.message.splitlines()[0] if exc.message else exc}")
            return
        lines: list[str] = []
        if parser.has_option("options", "install_requires"):
            lines.extend(parser.get("options", "install_requires").splitlines())
        if parser.has_section("options.extras_require"):
            for _, value in parser.items("options.extras_require"):
                lines.extend(value.splitlines())
        for line in lines:
            requirement = _without_comment(line).strip()
            if requirement:
                self._add_requirement(path, requirement, declared)

    def _requirements(self, path: str) -> tuple[Declared, tuple[str, ...]]:
        """One requirements file's own declarations and the files its ``-r`` lines include (paths in the commit),
        read once."""
        found = self._requirement_files.get(path)
        if found is not None:
            return found
        declared = Declared()
        includes: list[str] = []
        text = self._text(path)
        for line in _logical_lines(text or ""):
            option = _INCLUDE.fullmatch(line)
            if option is not None:
                included = posixpath.normpath(_join(_dirname(path), option.group("file")))
                if included in self._files and not included.startswith("../") and not is_requirements_path(included):
                    self._report(
                        path,
                        f"included file {option.group('file')[:80]!r} is not read: only files named as requirements "
                        "files are (requirements*.txt, *requirements*.txt, constraints*.txt, requirements/*.txt)",
                    )
                elif included in self._files and not included.startswith("../"):
                    includes.append(included)
                else:
                    self._report(path, f"included file {option.group('file')[:80]!r} is not in the commit")
            elif line.startswith("-") or "://" in line.split("@", 1)[0]:
                # `-e git+https://…#egg=name`, a bare URL: the distribution is in `#egg=`; other options name none
                egg = _EGG.search(line)
                if egg is not None:
                    declared.add(egg.group("name"), "")
            else:
                self._add_requirement(path, line, declared)
        found = self._requirement_files[path] = (declared, tuple(includes))
        return found

    def _add_requirement(self, path: str, text: str, declared: Declared) -> None:
        """Note one PEP 508 requirement (``name[extras] specifiers ; marker``, or ``name @ url``)."""
        requirement = text.split(";", 1)[0].strip()
        match = _REQUIREMENT.fullmatch(requirement)
        if match is None:
            self._report(path, f"not a requirement: {text[:80]!r}")
            return
        rest = match.group("rest").strip()
        if rest.startswith("@"):
            declared.add(match.group("name"), "")
            return
        if rest.startswith("(") and rest.endswith(")"):
            rest = rest[1:-1].strip()
        specifiers = [part.strip() for part in rest.split(",")] if rest else []
        if not all(_VERSION_SPECIFIER.fullmatch(part) for part in specifiers):
            self._report(path, f"not a requirement: {text[:80]!r}")
            return
        declared.add(match.group("name"), ",".join(re.sub(r"\s+", "", part) for part in specifiers))


def _config_order(path: str) -> tuple[int, str]:
    """pyproject.toml, then setup.cfg, then requirements files by path."""
    name = posixpath.basename(path)
    return ({"pyproject.toml": 0, "setup.cfg": 1}.get(name, 2), path)


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _poetry_version(value: object) -> str:
    """The version of a Poetry dependency: a string, a table's ``version``, or the first of a list of tables."""
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("version")
    return value.strip() if isinstance(value, str) else ""


def _without_comment(line: str) -> str:
    """The line without a comment (``#`` at its start or after whitespace; a URL's ``#egg=`` stays)."""
    match = re.search(r"(?:^|\s)#", line)
    return line if match is None else line[: match.start()]


def _logical_lines(text: str) -> Iterable[str]:
    """The non-empty lines of a requirements file, comments removed and ``\\`` continuations joined."""
    pending = ""
    for raw in text.splitlines():
        line = pending + _without_comment(raw)
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        stripped = line.strip()
        if stripped:
            yield stripped
    if pending.strip():
        yield pending.strip()
