"""Module specifier resolution within one commit, the way the TypeScript compiler resolves them.

A ``ModuleResolver`` is built once per commit from the commit's file list and a ``read_text`` callback (used only
for ``tsconfig.json``/``jsconfig.json`` and ``package.json``); it does no I/O of its own and never raises on bad
input: a malformed config is reported in ``ModuleResolver.diagnostics`` and treated as absent.

Rules, in order (paths are repository-relative and POSIX):

1. ``node:x`` is the builtin ``x`` (first path segment: ``node:fs/promises`` → ``fs``).
2. Relative and absolute specifiers (``./``, ``../``, ``.``, ``..``, ``/``) name a file of the commit:
   a JavaScript extension is first swapped for its TypeScript sources (``.js`` → ``.ts .tsx .d.ts``, ``.jsx`` →
   ``.tsx .d.ts``, ``.mjs`` → ``.mts .d.mts``, ``.cjs`` → ``.cts .d.cts``), then the exact file, then the
   extensions ``.ts .tsx .d.ts .js .jsx .mjs .cjs .mts .cts``, then a directory's ``package.json`` entry and its
   ``index.*``. Nothing found is ``unresolved``.
3. Other specifiers try the nearest tsconfig/jsconfig first (below); then ``#x`` uses the ``imports`` map of
   the nearest package.json (nothing found is ``unresolved``).
4. Bare specifiers try, in order: the nearest tsconfig/jsconfig's ``paths`` (exact key, else the pattern with
   the longest prefix; every target in order), its ``baseUrl``, then the repository's own packages (any
   package.json ``name`` outside ``node_modules``): ``exports`` (string, sugar, ``"."``, subpath keys and ``*``
   patterns; conditions ``types``/``import``/``default`` first, then ``require``/``node``), then ``types``,
   ``typings``, ``main``, ``module``, ``index.*`` and ``src/index.*``. When ``exports`` leads to no file of the
   commit (build output is rarely committed) the other entries are tried. A subpath without an ``exports`` match
   is looked up inside the package directory.
5. Node's builtin modules (``fs``, ``path``, ``fs/promises``…) are ``builtin``; anything else is ``external``,
   named by its package (``@scope/pkg``, ``pkg``; the subpath is dropped).

The nearest config of a file is the closest ``tsconfig.json`` (else ``jsconfig.json``) in its directory or an
ancestor. ``extends`` (a string or a list, relative or naming a package of the repository) is followed with cycle
detection; ``baseUrl`` is relative to the config that sets it, ``paths`` targets to ``baseUrl`` or else to the
config that sets ``paths``; ``${configDir}`` is the directory of the nearest config.

Results are memoised per (importer directory, specifier), so resolving every import of a commit costs one
dictionary lookup per repeated specifier.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from stages.models import ResolutionKind

RESOLUTION_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
"""Tried in this order after the exact path of an extensionless or unknown-extension specifier."""

_SOURCE_FOR_OUTPUT = {
    ".js": (".ts", ".tsx", ".d.ts"),
    ".jsx": (".tsx", ".d.ts"),
    ".mjs": (".mts", ".d.mts"),
    ".cjs": (".cts", ".d.cts"),
}
"""The TypeScript ESM convention: an import names the emitted ``.js`` file of a ``.ts`` source."""

_PRIMARY_CONDITIONS = ("types", "import", "default")
_FALLBACK_CONDITIONS = ("require", "node")
_ENTRY_FIELDS = ("types", "typings", "main", "module")
TSCONFIG_NAMES = ("tsconfig.json", "jsconfig.json")  # a directory's config, in this order of preference
MAX_DIAGNOSTICS_PER_FILE = 8
"""Problems reported per config or manifest file; a file of garbage says so once more and no further."""
MAX_DIAGNOSTIC_CHARS = 300
"""Longest quoted value in a diagnostic (an ``extends`` value may be a megabyte long)."""
MAX_EXTENDS = 64
"""Bases one config's ``extends`` chain may name, directly or through its bases (tsc sets no bound; real chains
are a few configs long): bounds the work and the recursion a crafted chain could ask for."""
_DEPENDENCY_FIELDS = ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies")

NODE_BUILTINS = frozenset(
    {
        "_http_agent",
        "_http_client",
        "_http_common",
        "_http_incoming",
        "_http_outgoing",
        "_http_server",
        "_stream_duplex",
        "_stream_passthrough",
        "_stream_readable",
        "_stream_transform",
        "_stream_wrap",
        "_stream_writable",
        "_tls_common",
        "_tls_wrap",
        "assert",
        "async_hooks",
        "buffer",
        "child_process",
        "cluster",
        "console",
        "constants",
        "crypto",
        "dgram",
        "diagnostics_channel",
        "dns",
        "domain",
        "events",
        "fs",
        "http",
        "http2",
        "https",
        "inspector",
        "module",
        "net",
        "os",
        "path",
        "perf_hooks",
        "process",
        "punycode",
        "querystring",
        "readline",
        "repl",
        "stream",
        "string_decoder",
        "sys",
        "timers",
        "tls",
        "trace_events",
        "tty",
        "url",
        "util",
        "v8",
        "vm",
        "wasi",
        "worker_threads",
        "zlib",
    }
)
"""Node's ``builtinModules`` (v20) without subpaths; ``fs/promises`` and the like resolve to their first segment."""


class Resolution(msgspec.Struct, frozen=True):
    """Where a specifier points: a file of the commit, an external package, a builtin, or nowhere.

    ``path`` is set only for ``file``; ``package`` only for ``external`` and ``builtin``. ``paths``, for a module
    made of several files (a Go package, a directory), is every file of it in order, ``path`` being the first;
    empty for a module of one file.
    """

    kind: ResolutionKind
    path: str | None = None
    package: str | None = None
    paths: tuple[str, ...] = ()


UNRESOLVED = Resolution("unresolved")


class _CompilerPaths(msgspec.Struct, frozen=True):
    """The resolution-relevant options of one tsconfig after ``extends`` (directories repository-relative)."""

    base_url: str | None
    paths: Mapping[str, tuple[str, ...]]
    paths_base: str


_NO_PATHS = _CompilerPaths(base_url=None, paths={}, paths_base="")


def package_name(specifier: str) -> str:
    """The package a bare specifier names: ``@scope/pkg/sub`` → ``@scope/pkg``, ``pkg/sub`` → ``pkg``."""
    parts = specifier.split("/")
    if specifier.startswith("@") and len(parts) > 1:
        return f"{parts[0]}/{parts[1]}"
    return parts[0]


def _is_relative(specifier: str) -> bool:
    return specifier in {".", ".."} or specifier.startswith(("./", "../", "/"))


def _join(directory: str, relative: str) -> str | None:
    """Join and normalise a path inside the repository; ``None`` when it escapes the repository root."""
    if relative.startswith("/"):
        relative, directory = relative.lstrip("/"), ""
    joined = f"{directory}/{relative}" if directory else relative
    normalised = posixpath.normpath(joined) if joined else "."
    if normalised == "..":
        return None
    if normalised.startswith("../"):
        return None
    return "" if normalised == "." else normalised


def _quoted(value: str) -> str:
    """``repr(value)`` of at most ``MAX_DIAGNOSTIC_CHARS`` of it (an ellipsis says it was cut), in time bounded by
    that length."""
    return repr(value) if len(value) <= MAX_DIAGNOSTIC_CHARS else repr(value[:MAX_DIAGNOSTIC_CHARS]) + "…"


def _bounded(text: str) -> str:
    """``text`` cut at ``MAX_DIAGNOSTIC_CHARS`` characters (an ellipsis says it was)."""
    return text if len(text) <= MAX_DIAGNOSTIC_CHARS else text[:MAX_DIAGNOSTIC_CHARS] + "…"


def _dirname(path: str) -> str:
    """``posixpath.dirname`` of a string, without the cost of accepting any path-like (it runs per import)."""
    head = path[: path.rfind("/") + 1]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head


def _scan_outside_strings(text: str, handle: Callable[[str, int], int | None]) -> str:
    """Copy ``text``, letting ``handle`` skip input outside string literals (it returns the index to resume at)."""
    out: list[str] = []
    index = 0
    length = len(text)
    while index < length:
        if text[index] == '"':
            end = index + 1
            while end < length and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[index : end + 1])
            index = end + 1
            continue
        resume = handle(text, index)
        if resume is None:
            out.append(text[index])
            index += 1
        else:
            index = resume
    return "".join(out)


def _skip_comment(text: str, index: int) -> int | None:
    if text.startswith("//", index):
        newline = text.find("\n", index)
        return len(text) if newline == -1 else newline
    if text.startswith("/*", index):
        close = text.find("*/", index + 2)
        return len(text) if close == -1 else close + 2
    return None


def _skip_trailing_comma(text: str, index: int) -> int | None:
    if text[index] != ",":
        return None
    lookahead = index + 1
    while lookahead < len(text) and text[lookahead] in " \t\r\n":
        lookahead += 1
    return index + 1 if lookahead >= len(text) or text[lookahead] in "}]" else None


def strip_json_comments(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments and trailing commas outside strings (tsconfig is JSON with comments)."""
    return _scan_outside_strings(_scan_outside_strings(text, _skip_comment), _skip_trailing_comma)


def _holds_nul(value: Any) -> bool:
    """Whether any key or string in a decoded JSON value holds U+0000 (walked with a stack: any depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class _Manifest(msgspec.Struct, frozen=True):
    """The parts of one package.json that resolution and versions need."""

    directory: str
    name: str | None
    raw: dict[str, Any]


class ModuleResolver:
    """Resolves module specifiers of one commit; build it with ``from_files``."""

    def __init__(self, files: frozenset[str], read_text: Callable[[str], str | None]) -> None:
        self._files = files
        self._read_text = read_text
        self._diagnostics: list[str] = []
        self._config_files = {path for path in files if posixpath.basename(path) in TSCONFIG_NAMES}
        self._manifest_dirs = {_dirname(path) for path in files if posixpath.basename(path) == "package.json"}
        self._manifests: dict[str, _Manifest | None] = {}
        self._json: dict[tuple[str, bool], dict[str, Any] | None] = {}
        self._reported: dict[str, set[str]] = {}
        self._extended_paths: dict[tuple[str, str], str | None] = {}
        self._extends_left = MAX_EXTENDS
        self._workspace: dict[str, str] = {}
        for directory in sorted(self._manifest_dirs, key=lambda d: (d.count("/"), d)):
            if "node_modules" in directory.split("/"):
                continue
            manifest = self._manifest(directory)
            if manifest is not None and manifest.name and manifest.name not in self._workspace:
                self._workspace[manifest.name] = directory
        self._nearest_config: dict[str, str | None] = {}
        self._nearest_manifests: dict[str, tuple[str, ...]] = {}
        self._compiler_paths: dict[str, _CompilerPaths] = {}
        # Importer directory → specifier → resolution; each importer path maps to its directory's entry, so a
        # repeated lookup does not split the path again.
        self._cache: dict[str, dict[str, Resolution]] = {}
        self._cache_of_importer: dict[str, dict[str, Resolution]] = {}
        self._located: dict[str, str | None] = {}

    @classmethod
    def from_files(cls, paths: Iterable[str], read_text: Callable[[str], str | None]) -> ModuleResolver:
        """Index the commit's paths (repository-relative, POSIX); ``read_text`` returns a file's text or ``None``."""
        return cls(frozenset(paths), read_text)

    @property
    def diagnostics(self) -> tuple[str, ...]:
        """Problems met so far in configs and manifests, each naming the file (e.g. invalid JSON)."""
        return tuple(self._diagnostics)

    def extended_configs(self) -> frozenset[str]:
        """Every config an ``extends`` chain of the commit's ``tsconfig.json``/``jsconfig.json`` files names (by the
        rules ``resolve`` follows: relative, or a workspace package's), whatever its file name
        (``tsconfig.base.json``…): the texts ``read_text`` must offer besides the configs themselves. Reads them."""
        return frozenset(
            path
            for config_path in sorted(self._config_files)
            for path in self._extends_chain(config_path)
            if path != config_path
        )

    def _report(self, path: str, message: str) -> None:
        """Note a problem of ``path``: each message once, at most ``MAX_DIAGNOSTICS_PER_FILE`` per file, then one
        saying more were left out (a config every other config extends would otherwise repeat its problems for
        each of them)."""
        reported = self._reported.setdefault(path, set())
        if message in reported or len(reported) > MAX_DIAGNOSTICS_PER_FILE:
            return
        reported.add(message)
        if len(reported) > MAX_DIAGNOSTICS_PER_FILE:
            self._diagnostics.append(f"{path}: more problems not reported")
        else:
            self._diagnostics.append(f"{path}: {message}")

    @property
    def workspace_packages(self) -> Mapping[str, str]:
        """Package name → directory of every package.json with a name (outside ``node_modules``)."""
        return dict(self._workspace)

    def resolve(self, importer_path: str, specifier: str) -> Resolution:
        """Resolve ``specifier`` as written in ``importer_path``; never raises."""
        cache = self._cache_of_importer.get(importer_path)
        if cache is None:
            cache = self._cache_of_importer[importer_path] = self._cache.setdefault(_dirname(importer_path), {})
        cached = cache.get(specifier)
        if cached is None:
            cached = cache[specifier] = self._resolve(_dirname(importer_path), specifier)
        return cached

    def package_version(self, importer_path: str, package: str) -> str | None:
        """The version range of ``package`` declared by the nearest package.json (walking up) that lists it."""
        for directory in self._manifests_above(_dirname(importer_path)):
            manifest = self._manifest(directory)
            if manifest is None:
                continue
            for field in _DEPENDENCY_FIELDS:
                declared = manifest.raw.get(field)
                if isinstance(declared, dict) and isinstance(declared.get(package), str):
                    return str(declared[package])
        return None

    def _resolve(self, directory: str, specifier: str) -> Resolution:
        if not specifier:
            return UNRESOLVED
        if specifier.startswith("node:"):
            name = specifier.removeprefix("node:").split("/")[0]
            return Resolution("builtin", package=name) if name else UNRESOLVED
        if _is_relative(specifier):
            target = _join(directory, specifier)
            found = None if target is None else self._file_or_directory(target)
            return UNRESOLVED if found is None else Resolution("file", path=found)
        found = self._through_config(directory, specifier)
        if specifier.startswith("#"):
            found = found or self._package_import(directory, specifier)
            return UNRESOLVED if found is None else Resolution("file", path=found)
        if found is None:
            found = self._workspace_package(specifier)
        if found is not None:
            return Resolution("file", path=found)
        name = package_name(specifier)
        if name in NODE_BUILTINS:
            return Resolution("builtin", package=name)
        return Resolution("external", package=name)

    def _file(self, path: str) -> str | None:
        """The file a path names, applying the TS output→source swap, the exact name, then the extensions."""
        files = self._files
        for output, sources in _SOURCE_FOR_OUTPUT.items():
            if path.endswith(output):
                stem = path[: -len(output)]
                for source in sources:
                    if stem + source in files:
                        return stem + source
                break
        if path in files:
            return path
        for extension in RESOLUTION_EXTENSIONS:
            if path + extension in files:
                return path + extension
        return None

    def _file_or_directory(self, path: str) -> str | None:
        """The file a path names (``_file``), else the entry of the directory's package.json, else its index;
        memoised by path, since many importers reach one module through different relative specifiers."""
        if path in self._located:
            return self._located[path]
        found = self._file(path) if path else None
        if found is None and path in self._manifest_dirs:
            manifest = self._manifest(path)
            if manifest is not None:
                found = self._entry_fields(manifest)
        if found is None:
            found = self._file(f"{path}/index" if path else "index")
        self._located[path] = found
        return found

    def _manifest(self, directory: str) -> _Manifest | None:
        if directory in self._manifests:
            return self._manifests[directory]
        path = f"{directory}/package.json" if directory else "package.json"
        raw = self._load_json(path, allow_comments=False)
        manifest = None
        if raw is not None:
            name = raw.get("name")
            manifest = _Manifest(directory, name if isinstance(name, str) else None, raw)
        self._manifests[directory] = manifest
        return manifest

    def _load_json(self, path: str, *, allow_comments: bool) -> dict[str, Any] | None:
        """The file's JSON object, parsed once (a base config is read by every config extending it), or ``None``
        with a diagnostic (given once)."""
        key = (path, allow_comments)
        if key not in self._json:
            self._json[key] = self._parse_json(path, allow_comments=allow_comments)
        return self._json[key]

    def _parse_json(self, path: str, *, allow_comments: bool) -> dict[str, Any] | None:
        text = self._read_text(path)
        if text is None:
            self._report(path, "could not be read")
            return None
        try:
            value = json.loads(strip_json_comments(text) if allow_comments else text)
        except (ValueError, RecursionError) as exc:  # json nests by recursion: a crafted file can exhaust it
            self._report(path, f"invalid JSON: {exc}")
            return None
        if not isinstance(value, dict):
            self._report(path, f"expected a JSON object, found {type(value).__name__}")
            return None
        if _holds_nul(value):  # a \u0000 escape: refused like a NUL byte in source (Postgres text cannot hold it)
            self._report(path, "a string holds a NUL character")
            return None
        return value

    def _manifests_above(self, directory: str) -> tuple[str, ...]:
        """Directories holding a package.json, from ``directory`` up to the root, nearest first."""
        cached = self._nearest_manifests.get(directory)
        if cached is None:
            parent = self._manifests_above(_dirname(directory)) if directory else ()
            cached = (directory, *parent) if directory in self._manifest_dirs else parent
            self._nearest_manifests[directory] = cached
        return cached

    def _package_import(self, directory: str, specifier: str) -> str | None:
        for manifest_dir in self._manifests_above(directory):
            manifest = self._manifest(manifest_dir)
            if manifest is None:
                continue
            imports = manifest.raw.get("imports")
            if not isinstance(imports, dict):
                return None
            return self._package_target(manifest_dir, _match_subpath_map(imports, specifier))
        return None

    # --- tsconfig -------------------------------------------------------------------------------------

    def _nearest_config_path(self, directory: str) -> str | None:
        if directory in self._nearest_config:
            return self._nearest_config[directory]
        found: str | None = None
        for name in TSCONFIG_NAMES:
            candidate = f"{directory}/{name}" if directory else name
            if candidate in self._config_files:
                found = candidate
                break
        if found is None and directory:
            found = self._nearest_config_path(_dirname(directory))
        self._nearest_config[directory] = found
        return found

    def _config_for(self, directory: str) -> _CompilerPaths:
        config_path = self._nearest_config_path(directory)
        if config_path is None:
            return _NO_PATHS
        cached = self._compiler_paths.get(config_path)
        if cached is None:
            cached = self._load_config(config_path)
            self._compiler_paths[config_path] = cached
        return cached

    def _load_config(self, config_path: str) -> _CompilerPaths:
        """Merge the ``extends`` chain: each option comes from the nearest config in the chain that sets it."""
        config_dir = _dirname(config_path)
        base_url: str | None = None
        paths: dict[str, tuple[str, ...]] | None = None
        paths_dir = config_dir
        for path in self._extends_chain(config_path):
            raw = self._load_json(path, allow_comments=True)
            options = raw.get("compilerOptions") if raw is not None else None
            if not isinstance(options, dict):
                continue
            here = _dirname(path)
            value = options.get("baseUrl")
            if isinstance(value, str):
                base_url = _join(here, value.replace("${configDir}", f"/{config_dir}"))
            mapping = options.get("paths")
            if isinstance(mapping, dict):
                paths = {
                    key: tuple(t.replace("${configDir}", f"/{config_dir}") for t in targets if isinstance(t, str))
                    for key, targets in mapping.items()
                    if isinstance(key, str) and isinstance(targets, list)
                }
                paths_dir = here
        return _CompilerPaths(
            base_url=base_url,
            paths=paths or {},
            paths_base=base_url if base_url is not None else paths_dir,
        )

    def _extends_chain(self, config_path: str) -> list[str]:
        """Configs to apply in order, the most basic first and ``config_path`` last; at most ``MAX_EXTENDS`` bases
        are considered (a diagnostic says where a longer or wider chain was cut)."""
        chain: list[str] = []
        self._extends_left = MAX_EXTENDS
        self._extend(config_path, (), chain)
        if self._extends_left < 0:
            self._report(
                config_path,
                f"extends more than {MAX_EXTENDS} configs (directly or through others); the rest are not applied",
            )
        return chain

    def _extend(self, config_path: str, seen: tuple[str, ...], chain: list[str]) -> None:
        """Append ``config_path``'s bases, then itself, to ``chain``; each base considered spends one of
        ``_extends_left``, and none is considered once they are spent (below zero)."""
        if config_path in seen:
            self._report(config_path, _bounded(f"extends cycle through {' → '.join(seen)}"))
            return
        raw = self._load_json(config_path, allow_comments=True)
        if raw is None:
            return
        extends = raw.get("extends")
        bases = [extends] if isinstance(extends, str) else extends if isinstance(extends, list) else []
        for base in bases:
            if not isinstance(base, str):
                continue
            self._extends_left -= 1
            if self._extends_left < 0:
                break
            base_path = self._extended_config_path(_dirname(config_path), base)
            if base_path is None:
                self._report(config_path, f"extends {_quoted(base)}, which is not in the repository")
                continue
            self._extend(base_path, (*seen, config_path), chain)
        chain.append(config_path)

    def _extended_config_path(self, directory: str, base: str) -> str | None:
        """The config file ``extends: base`` names from a config in ``directory`` (``None``: none of the commit),
        found once per (directory, value): a base that every config extends is looked up once."""
        key = (directory, base)
        if key not in self._extended_paths:
            self._extended_paths[key] = self._find_extended_config(directory, base)
        return self._extended_paths[key]

    def _find_extended_config(self, directory: str, base: str) -> str | None:
        if _is_relative(base):
            target = _join(directory, base)
            if target is None:
                return None
            candidates = [target, f"{target}.json", f"{target}/tsconfig.json"]
        else:
            name = package_name(base)
            package_dir = self._workspace.get(name)
            if package_dir is None:
                return None
            subpath = base[len(name) :].lstrip("/")
            prefix = f"{package_dir}/" if package_dir else ""
            if subpath:
                candidates = [prefix + subpath, f"{prefix}{subpath}.json"]
            else:
                manifest = self._manifest(package_dir)
                field = manifest.raw.get("tsconfig") if manifest is not None else None
                candidates = [prefix + field] if isinstance(field, str) else []
                candidates.append(f"{prefix}tsconfig.json")
        return next((candidate for candidate in candidates if candidate in self._files), None)

    def _through_config(self, directory: str, specifier: str) -> str | None:
        config = self._config_for(directory)
        if config.paths:
            for target in _paths_targets(config.paths, specifier):
                joined = _join(config.paths_base, target)
                found = None if joined is None else self._file_or_directory(joined)
                if found is not None:
                    return found
        if config.base_url is not None:
            joined = _join(config.base_url, specifier)
            if joined is not None:
                return self._file_or_directory(joined)
        return None

    # --- workspace packages ---------------------------------------------------------------------------

    def _workspace_package(self, specifier: str) -> str | None:
        name = package_name(specifier)
        package_dir = self._workspace.get(name)
        if package_dir is None:
            return None
        manifest = self._manifest(package_dir)
        if manifest is None:
            return None
        subpath = specifier[len(name) :].lstrip("/")
        exports = manifest.raw.get("exports")
        if exports is not None:
            targets = _match_subpath_map(_exports_map(exports), f"./{subpath}" if subpath else ".")
            found = self._package_target(package_dir, targets)
            if found is not None:
                return found
        if subpath:
            joined = _join(package_dir, subpath)
            return None if joined is None else self._file_or_directory(joined)
        found = self._entry_fields(manifest)
        if found is not None:
            return found
        for entry in ("index", "src/index"):
            found = self._file(f"{package_dir}/{entry}" if package_dir else entry)
            if found is not None:
                return found
        return None

    def _entry_fields(self, manifest: _Manifest) -> str | None:
        for field in _ENTRY_FIELDS:
            value = manifest.raw.get(field)
            if isinstance(value, str) and value:
                joined = _join(manifest.directory, value)
                found = None if joined is None else self._file(joined)
                if found is None and joined is not None:
                    found = self._file(f"{joined}/index" if joined else "index")
                if found is not None:
                    return found
        return None

    def _package_target(self, package_dir: str, targets: Iterable[str]) -> str | None:
        """The first target (``./``-relative to the package) that is a file of the commit."""
        for target in targets:
            joined = _join(package_dir, target) if target.startswith("./") else None
            found = None if joined is None else self._file(joined)
            if found is not None:
                return found
        return None


def _paths_targets(paths: Mapping[str, tuple[str, ...]], specifier: str) -> tuple[str, ...]:
    """The ``paths`` targets for a specifier: an exact key wins, else the pattern with the longest prefix."""
    exact = paths.get(specifier)
    if exact is not None and "*" not in specifier:
        return exact
    best_key: str | None = None
    best_prefix = -1
    captured = ""
    for key in paths:
        star = key.find("*")
        if star < 0 or key.count("*") > 1:
            continue
        prefix, suffix = key[:star], key[star + 1 :]
        if (
            len(prefix) > best_prefix
            and len(specifier) >= len(prefix) + len(suffix)
            and specifier.startswith(prefix)
            and specifier.endswith(suffix)
        ):
            best_key, best_prefix = key, len(prefix)
            captured = specifier[len(prefix) : len(specifier) - len(suffix)]
    if best_key is None:
        return ()
    return tuple(target.replace("*", captured) for target in paths[best_key])


def _exports_map(exports: object) -> dict[str, object]:
    """Normalise ``exports`` sugar (a string, an array, or a conditions object) to a subpath map."""
    if isinstance(exports, dict) and any(isinstance(k, str) and k.startswith(".") for k in exports):
        return exports
    return {".": exports}


def _match_subpath_map(mapping: Mapping[str, object], key: str) -> tuple[str, ...]:
    """Node's ``exports``/``imports`` lookup: the exact key, else the ``*`` pattern (or legacy ``dir/`` key) with
    the longest prefix; returns the candidate targets in preference order."""
    if key in mapping and "*" not in key:
        return tuple(_conditional_targets(mapping[key], ""))
    best_pattern: str | None = None
    best_prefix = -1
    captured = ""
    for pattern in mapping:
        star = pattern.find("*")
        prefix, suffix = (pattern, "") if star < 0 else (pattern[:star], pattern[star + 1 :])
        if star < 0 and not pattern.endswith("/"):
            continue
        if (
            len(prefix) > best_prefix
            and key.startswith(prefix)
            and key.endswith(suffix)
            and len(key) >= len(prefix) + len(suffix)
        ):
            best_pattern, best_prefix = pattern, len(prefix)
            captured = key[len(prefix) : len(key) - len(suffix)]
    if best_pattern is None:
        return ()
    targets = _conditional_targets(mapping[best_pattern], captured)
    if "*" not in best_pattern:
        return tuple(target + captured for target in targets)
    return tuple(targets)


def _conditional_targets(value: object, captured: str) -> list[str]:
    """Target strings of an exports value in preference order: conditions ``types``/``import``/``default``
    before ``require``/``node``, nested objects and fallback arrays followed; ``null`` excludes the subpath."""
    if isinstance(value, str):
        return [value.replace("*", captured)]
    targets: list[str] = []
    if isinstance(value, list):
        for item in value:
            targets.extend(_conditional_targets(item, captured))
    elif isinstance(value, dict):
        for conditions in (_PRIMARY_CONDITIONS, _FALLBACK_CONDITIONS):
            for condition, nested in value.items():
                if condition in conditions:
                    targets.extend(_conditional_targets(nested, captured))
    return targets
