"""The ``query`` command's tables print what the index holds as text: repository content is attacker-controlled,
so it is never read as Rich markup nor passed to the terminal as control sequences."""

from __future__ import annotations

import io

from rich.console import Console

from pipeline import index_queries, query_cli

TUPLE_SIGNATURE = "function pair(): [string, number]"
HOSTILE_PATH = "src/\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\.ts"


def symbol(name: str, path: str, signature: str) -> index_queries.SymbolInfo:
    where = index_queries.span(1, 0, 1, 4)
    return index_queries.SymbolInfo(
        id="0:0",
        name=name,
        kind="function",
        path=path,
        range=where,
        name_range=where,
        signature=signature,
        doc=None,
        exported=True,
        parent=None,
    )


def printed(answer: index_queries.SnapshotAnswer) -> str:
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=400, soft_wrap=True).print(*query_cli._render(answer))
    return out.getvalue()


def test_table_cells__print_brackets_as_written_and_no_escape_sequence_from_the_index() -> None:
    page = index_queries.SymbolPage(
        repository="acme/app",
        commit_sha="a" * 40,
        items=[
            symbol("a[/]", HOSTILE_PATH, TUPLE_SIGNATURE),
            symbol("[link=https://evil.example]x[/link]", "b.ts", ""),
        ],
        next_cursor=None,
    )
    shown = printed(page)  # a[/] alone made Rich raise MarkupError
    assert TUPLE_SIGNATURE in shown
    assert "a[/]" in shown
    assert "[link=https://evil.example]x[/link]" in shown
    assert "\x1b]8;;https://evil.example" not in shown, "a path from the index opened a terminal hyperlink"


def test_outline_tree__prints_names_as_written() -> None:
    outline = index_queries.Outline(
        repository="acme/app",
        commit_sha="a" * 40,
        path=HOSTILE_PATH,
        language="typescript",
        had_syntax_errors=False,
        error=None,
        symbols=[index_queries.OutlineNode(symbol=symbol("[bold]x[/bold]", "a.ts", ""), children=[])],
    )
    shown = printed(outline)
    assert "[bold]x[/bold]" in shown
    assert "\x1b]8;;https://evil.example" not in shown
