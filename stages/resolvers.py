"""Import resolution for a whole commit: each file's imports are resolved by its language's module system.

``CommitResolver`` is what the cross-file step holds for a commit. It builds, on first use, one resolver per module
system (``RESOLVERS``: ``ecmascript`` is ``stages.resolve.ModuleResolver``, the TypeScript compiler's rules;
``python`` is ``stages.resolve_python.PythonResolver``, the import system's; ``go`` is ``stages.resolve_go.GoResolver``,
import paths through ``go.mod``) from
the commit's paths and config texts, and sends each question to the resolver of the importing file's language
(``stages.languages.LanguageSpec.modules``). A file of no registered language resolves nothing. Like the resolvers
it holds, it does no I/O of its own and never raises on bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from stages.languages import module_system_for_path
from stages.resolve import UNRESOLVED, ModuleResolver, Resolution
from stages.resolve_go import GoResolver
from stages.resolve_python import PythonResolver


class LanguageResolver(Protocol):
    """One module system's resolution rules over one commit."""

    @property
    def diagnostics(self) -> tuple[str, ...]:
        """Problems met so far in configs and manifests, each naming the file."""

    def resolve(self, importer_path: str, specifier: str) -> Resolution:
        """Where ``specifier``, as written in ``importer_path``, points; never raises."""

    def package_version(self, importer_path: str, package: str) -> str | None:
        """The version of an external ``package`` that the project of ``importer_path`` declares, if any."""


ResolverFactory = Callable[[frozenset[str], Callable[[str], str | None]], LanguageResolver]

RESOLVERS: Mapping[str, ResolverFactory] = {
    "ecmascript": ModuleResolver,
    "python": PythonResolver,
    "go": GoResolver,
}
"""Module system (``LanguageSpec.modules``) → a resolver built from the commit's paths and ``read_text``."""


class CommitResolver:
    """Every file's imports resolved by its language's module system (see the module docstring)."""

    def __init__(self, paths: frozenset[str], read_text: Callable[[str], str | None]) -> None:
        self._paths = paths
        self._read_text = read_text
        self._resolvers: dict[str, LanguageResolver] = {}

    @classmethod
    def from_files(cls, paths: Iterable[str], read_text: Callable[[str], str | None]) -> CommitResolver:
        """Index the commit's paths (repository-relative, POSIX); ``read_text`` returns a config file's text or
        ``None`` (``stages.commit.CommitContext.configs``)."""
        return cls(frozenset(paths), read_text)

    @property
    def diagnostics(self) -> tuple[str, ...]:
        """The diagnostics of every resolver used so far, module systems in registry order."""
        return tuple(
            diagnostic
            for system in RESOLVERS
            if system in self._resolvers
            for diagnostic in self._resolvers[system].diagnostics
        )

    def for_system(self, system: str) -> LanguageResolver:
        """The resolver of one module system for this commit, built on first use."""
        resolver = self._resolvers.get(system)
        if resolver is None:
            resolver = self._resolvers[system] = RESOLVERS[system](self._paths, self._read_text)
        return resolver

    def resolve(self, importer_path: str, specifier: str) -> Resolution:
        """Resolve ``specifier`` as written in ``importer_path``; never raises."""
        system = module_system_for_path(importer_path)
        if system is None:
            return UNRESOLVED
        return self.for_system(system).resolve(importer_path, specifier)

    def package_version(self, importer_path: str, package: str) -> str | None:
        """The declared version of ``package`` for the project of ``importer_path`` (its module system's rules)."""
        system = module_system_for_path(importer_path)
        return None if system is None else self.for_system(system).package_version(importer_path, package)
