"""Named SQL: the file parses, names are unique, and every name used in the code exists."""

import re
from pathlib import Path

import pytest

from pipeline.db import parse_queries, queries
from pipeline.migrate import available_migrations

ROOT = Path(__file__).resolve().parents[2]


def test_parse_queries__splits_on_headers_and_drops_comments() -> None:
    parsed = parse_queries(
        "-- name: a_get\n-- gets a\nSELECT 1;\n\n-- name: b_put\n-- puts b\nINSERT INTO b\nVALUES (1);\n"
    )
    assert parsed == {"a_get": "SELECT 1", "b_put": "INSERT INTO b\nVALUES (1)"}


def test_parse_queries__duplicate_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="'a_get' is defined twice"):
        parse_queries("-- name: a_get\nSELECT 1;\n-- name: a_get\nSELECT 2;\n")


def test_queries__every_statement_has_a_description_and_a_body() -> None:
    text = (ROOT / "pipeline" / "sql" / "queries.sql").read_text()
    for match in re.finditer(r"^-- name: (\w+)\n(.*)$", text, re.MULTILINE):
        assert match.group(2).startswith("-- "), f"{match.group(1)} has no one-line description"
    assert all(queries().values())


def test_queries__every_name_used_in_the_code_exists() -> None:
    used: set[str] = set()
    for path in [*ROOT.joinpath("pipeline").rglob("*.py"), *ROOT.joinpath("stages").rglob("*.py")]:
        used.update(re.findall(r"""\bquery\(\s*["']([a-z0-9_]+)["']""", path.read_text()))
    assert used, "no query(...) call found: the scan itself is broken"
    missing = used - set(queries())
    assert not missing, f"query names used but not defined in queries.sql: {sorted(missing)}"


def test_migrations__are_numbered_without_gaps() -> None:
    versions = [migration.version for migration in available_migrations()]
    assert versions == list(range(1, len(versions) + 1))
