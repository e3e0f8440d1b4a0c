"""``python -m pipeline query …``: the questions of the query API (``pipeline.index_queries``) from a terminal.

Each subcommand prints what the matching REST endpoint returns: a table by default, the same JSON with ``--json``.
Exit codes as the rest of the CLI: 0 answered, 2 bad input (a malformed path, position, symbol id or option), 1 the
question has no answer (unknown repository, file or symbol; nothing at the position; not indexed yet).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from pipeline import index_queries
from pipeline.cli import positive_int
from pipeline.config import Config
from pipeline.db import connect
from pipeline.index_queries import Connection
from pipeline.migrate import ensure_schema

Question = Callable[[Connection, argparse.Namespace], msgspec.Struct]


def register(subparsers: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Add ``query`` and its subcommands to an argparse subparsers object."""
    query = subparsers.add_parser("query", help="ask the stored index: symbols, definitions, references, ...")
    questions = query.add_subparsers(dest="query_command", required=True, metavar="QUESTION")

    def question(name: str, help_text: str, ask: Question, *, repository: bool = True) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = questions.add_parser(name, help=help_text, parents=list(parents))
        if repository:
            parser.add_argument("repository", help="repository id or owner/name")
        parser.set_defaults(handler=_handler(ask))
        return parser

    repositories = question("repositories", "indexed repositories with their counts", _repositories, repository=False)
    _page_options(repositories, 50)

    symbols = question("symbols", "symbols by name: exact, then prefix, then fuzzy", _symbols)
    symbols.add_argument("name", help="the name, or part of it")
    symbols.add_argument("--match", choices=["auto", "exact", "prefix", "fuzzy"], default="auto")
    symbols.add_argument("--kind", help="function, class, method, interface, ...")
    exported = symbols.add_mutually_exclusive_group()
    exported.add_argument("--exported", action="store_const", const=True, dest="exported", help="only exported")
    exported.add_argument("--not-exported", action="store_const", const=False, dest="exported", help="only internal")
    symbols.add_argument("--path", help="only in this file or directory")
    _page_options(symbols, 20)

    definition = question("definition", "what is at a position and where it is defined", _definition)
    _position_arguments(definition, required=True)

    references = question("references", "every linked reference to a symbol (by id or at a position)", _references)
    _position_arguments(references, required=False)
    references.add_argument("--symbol", help="a symbol id, e.g. 3:12 (instead of a position)")
    _page_options(references, 100)

    for name, help_text, ask in (
        ("outline", "a file's symbols as a tree", _outline),
        ("imports", "what a file imports and where each import resolved", _imports),
        ("importers", "the files importing a file", _importers),
    ):
        question(name, help_text, ask).add_argument("path", help="a file, relative to the repository root")

    packages = question("packages", "external packages with versions and the files using them", _packages)
    packages.add_argument("--search", dest="q", help="names containing this")
    _page_options(packages, 50)

    impact = question("impact", "what depends on files or symbols, transitively", _impact)
    impact.add_argument("--path", dest="paths", action="append", default=[], help="a file (repeatable)")
    impact.add_argument("--symbol", dest="symbols", action="append", default=[], help="a symbol id (repeatable)")
    impact.add_argument("--depth", type=positive_int, default=3, help="steps to follow (default 3, at most 10)")


def _page_options(parser: argparse.ArgumentParser, limit: int) -> None:
    parser.add_argument("--limit", type=positive_int, default=limit, help=f"page size (default {limit})")
    parser.add_argument("--cursor", help="next_cursor of the previous page")


def _position_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    count = None if required else "?"
    parser.add_argument("path", nargs=count, help="a file, relative to the repository root")
    parser.add_argument("line", nargs=count, type=int, help="1-based line")
    parser.add_argument("column", nargs=count, type=int, help="0-based column, in UTF-8 bytes")


def _handler(ask: Question) -> Callable[[argparse.Namespace, Config], int]:
    def run(args: argparse.Namespace, config: Config) -> int:
        url = ensure_schema(config)
        with connect(
            url, config.database.schema, autocommit=True, transaction_pooler=config.database.transaction_pooler
        ) as conn:
            answer = ask(conn, args)
        if args.json:
            print(orjson.dumps(msgspec.to_builtins(answer)).decode())
        else:
            Console(soft_wrap=True).print(*_render(answer))
        return 0

    return run


# ----- questions -----


def _repositories(conn: Connection, args: argparse.Namespace) -> msgspec.Struct:
    return index_queries.list_repositories(conn, limit=args.limit, cursor=args.cursor)


def _symbols(conn: Connection, args: argparse.Namespace) -> msgspec.Struct:
    return index_queries.search_symbols(
        conn,
        args.repository,
        args.name,
        match=args.match,
        kind=args.kind,
        exported=args.exported,
        path=args.path,
        limit=args.limit,
        cursor=args.cursor,
    )


def _definition(conn: Connection, args: argparse.Namespace) -> msgspec.Struct:
    return index_queries.definition(conn, args.repository, args.path, args.line, args.column)


def _references(conn: Connection, args: argparse.Namespace) -> msgspec.Struct:
    return index_queries.references(
        conn,
        args.repository,
        path=args.path,
        line=args.line,
        column=args.column,
        symbol=args.symbol,
        limit=args.limit,
        cursor=args.cursor,
    )


def _outline(conn: Connection, args: argparse.Namespace) -> msgspec.Struct:
    return index_queries.outline(conn, args.repository, args.path)


def _imports(conn: Connection, args: argparse.Namespace) -> msgspec.Struct:
    return index_queries.file_imports(conn, args.repository, args.path)


def _importers(conn: Connection, args: argparse.Namespace) -> msgspec.Struct:
    return index_queries.file_importers(conn, args.repository, args.path)


def _packages(conn: Connection, args: argparse.Namespace) -> msgspec.Struct:
    return index_queries.packages(conn, args.repository, q=args.q, limit=args.limit, cursor=args.cursor)


def _impact(conn: Connection, args: argparse.Namespace) -> msgspec.Struct:
    return index_queries.impact(conn, args.repository, paths=args.paths, symbols=args.symbols, depth=args.depth)


# ----- tables -----


def _at(path: str, where: index_queries.Range) -> str:
    return f"{path}:{where.start.line}:{where.start.column}"


# C0 and C1 control characters but tab: a path, a name or a signature from a repository may hold escape sequences
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _text(value: object) -> Text:
    """``value`` as printed text: never read as Rich markup (``[string, number]`` is a TypeScript tuple, not a
    style), with control characters shown as U+FFFD so no repository content drives the terminal."""
    return Text(_CONTROL.sub("\ufffd", "" if value is None else str(value)))


def _table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    table = Table(title=_text(title))
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_text(cell) for cell in row))
    return table


def _symbol_rows(symbols: Iterable[index_queries.SymbolInfo]) -> list[tuple[object, ...]]:
    return [
        (s.id, s.name, s.kind, _at(s.path, s.name_range), "yes" if s.exported else "", s.signature) for s in symbols
    ]


def _render(answer: msgspec.Struct) -> list[Any]:
    """What to print for an answer: tables (and a tree for an outline), then the next page's cursor, if any."""
    shown: list[Any]
    match answer:
        case index_queries.RepositoryPage(items=items):
            shown = [
                _table(
                    "repositories",
                    ("id", "name", "commit", "files", "symbols", "references", "linked"),
                    [
                        (r.id, r.full_name, (r.commit_sha or "not indexed")[:12], *msgspec.structs.astuple(r.counts))
                        if r.counts
                        else (r.id, r.full_name, "not indexed")
                        for r in items
                    ],
                )
            ]
        case index_queries.SymbolPage(items=items):
            shown = [_table("symbols", ("id", "name", "kind", "at", "exported", "signature"), _symbol_rows(items))]
        case index_queries.Definition(at=at, definition=target, reason=reason):
            shown = [
                f"{at.kind} {at.qualifier + '.' if at.qualifier else ''}{at.name} at {_at(at.path, at.range)}",
                _table("defined at", ("id", "name", "kind", "at", "exported", "signature"), _symbol_rows([target]))
                if target
                else f"no definition: {reason}",
            ]
        case index_queries.References(symbol=target, total=total, items=items):
            shown = [
                _table(
                    f"{total} references to {target.name} ({target.id}, {_at(target.path, target.name_range)})",
                    ("at", "kind", "name", "in"),
                    [
                        (
                            _at(r.path, r.range),
                            r.kind,
                            f"{r.qualifier}.{r.name}" if r.qualifier else r.name,
                            r.enclosing.name if r.enclosing else "(top level)",
                        )
                        for r in items
                    ],
                )
            ]
        case index_queries.Outline(path=path, symbols=roots, error=error):
            tree = Tree(_text(f"{path}" + (f" (not indexed: {error})" if error else "")))
            pending = [(tree, node) for node in roots]
            while pending:
                branch, node = pending.pop(0)
                symbol = node.symbol
                child = branch.add(_text(f"{symbol.kind} {symbol.name}  :{symbol.name_range.start.line}"))
                pending.extend((child, grandchild) for grandchild in node.children)
            shown = [tree]
        case index_queries.FileImports(path=path, imports=imports):
            shown = [
                _table(
                    f"imports of {path}",
                    ("line", "specifier", "kind", "resolves to", "names"),
                    [
                        (
                            i.range.start.line,
                            i.specifier,
                            i.kind,
                            i.path or i.package or i.resolution,
                            ", ".join(n.local for n in i.names),
                        )
                        for i in imports
                    ],
                )
            ]
        case index_queries.FileImporters(path=path, importers=importers):
            shown = [
                _table(
                    f"importers of {path}",
                    ("at", "specifier", "kind"),
                    [(_at(i.path, i.range), i.specifier, i.kind) for i in importers],
                )
            ]
        case index_queries.PackagePage(items=items):
            shown = [
                _table(
                    "packages",
                    ("name", "builtin", "versions", "files", "first files"),
                    [
                        (p.name, "yes" if p.builtin else "", ", ".join(p.versions), p.files, ", ".join(p.paths[:3]))
                        for p in items
                    ],
                )
            ]
        case index_queries.Impact(files=files, symbols=symbols, depth=depth):
            shown = [
                _table(
                    f"files depending on them (depth ≤ {depth})", ("depth", "path"), [(f.depth, f.path) for f in files]
                ),
                _table(
                    f"symbols depending on them (depth ≤ {depth})",
                    ("depth", "id", "name", "kind", "path"),
                    [(s.depth, s.id, s.name, s.kind, s.path) for s in symbols],
                ),
            ]
        case _:
            raise TypeError(f"no rendering for {type(answer).__name__}")
    cursor = getattr(answer, "next_cursor", None)
    if cursor:
        shown.append(f"next page: --cursor {cursor}")
    return [_text(item) if isinstance(item, str) else item for item in shown]
