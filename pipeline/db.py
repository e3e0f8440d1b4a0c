"""Connections and named SQL.

All runtime SQL lives in ``pipeline/sql/queries.sql`` under ``-- name: <entity>_<verb>`` headers and is fetched with
``query(name)``; statements use unqualified names because every connection sets ``search_path`` to the project's
schema. Driver errors at connect time become ``DatabaseError`` with the password masked.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import psycopg
from psycopg.rows import TupleRow

from pipeline.config import Config, mask_url
from pipeline.errors import DatabaseError

_HEADER = re.compile(r"^-- name: ([a-z][a-z0-9_]*)\s*$", re.MULTILINE)


def connect(
    url: str,
    schema: str,
    *,
    autocommit: bool = False,
    connect_timeout: int = 10,
    application_name: str = "pipeline",
) -> psycopg.Connection[TupleRow]:
    """Open a connection whose ``search_path`` is ``schema`` (then ``public``)."""
    try:
        return psycopg.connect(
            url,
            autocommit=autocommit,
            connect_timeout=connect_timeout,
            application_name=application_name,
            options=f"-c search_path={schema},public",
        )
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {mask_url(url)}: {_first_line(exc)}") from exc


def database_url(config: Config) -> str:
    """The configured database URL; with none configured, start the embedded cluster and return its URL."""
    if config.database.url:
        return config.database.url
    from pipeline.embedded_pg import EmbeddedPostgres  # noqa: PLC0415  (only needed without a configured URL)

    return EmbeddedPostgres.from_config(config.database.embedded).start()


def connect_config(config: Config, *, autocommit: bool = False) -> psycopg.Connection[TupleRow]:
    return connect(
        database_url(config),
        config.database.schema,
        autocommit=autocommit,
        connect_timeout=config.database.connect_timeout,
    )


@cache
def queries() -> dict[str, str]:
    """Every named statement of ``queries.sql``, loaded once per process."""
    text = resources.files("pipeline").joinpath("sql/queries.sql").read_text(encoding="utf-8")
    return parse_queries(text)


def parse_queries(text: str) -> dict[str, str]:
    """Split a queries file on ``-- name:`` headers; duplicate names are an error."""
    headers = list(_HEADER.finditer(text))
    parsed: dict[str, str] = {}
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        name = header.group(1)
        if name in parsed:
            raise ValueError(f"queries.sql: statement {name!r} is defined twice")
        body = text[header.end() : end]
        statement = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--")).strip()
        parsed[name] = statement.rstrip(";").strip()
    return parsed


def query(name: str) -> str:
    """The named statement; a ``KeyError`` here is a programming error caught by the test suite."""
    return queries()[name]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
