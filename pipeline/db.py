"""Connections and named SQL.

All runtime SQL lives in ``pipeline/sql/queries.sql`` under ``-- name: <entity>_<verb>`` headers and is fetched with
``query(name)``; statements use unqualified names because every statement runs with ``search_path`` set to the
project's schema alone, so a statement against a schema that does not exist fails instead of finding (or creating)
tables in ``public``. Driver errors at connect time become ``DatabaseError`` with the password masked.

Two ways to connect, chosen by ``database.transaction_pooler``:

- Directly (or through a session pooler): ``search_path`` is a startup option of the connection, and psycopg
  prepares statements it runs often.
- Through a transaction-mode pooler (pgbouncer ``pool_mode = transaction``), which refuses startup options and
  hands each transaction to whichever server connection is free: every transaction begins by setting
  ``search_path`` for itself (``ScopedConnection``), and statements are never prepared on the server. Session
  features (LISTEN, migrations) use ``database.direct_url`` instead (``direct_url``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import Self, cast

import psycopg
from psycopg import pq, sql
from psycopg.abc import AdaptContext, ConnParam, Params, Query, QueryNoTemplate
from psycopg.copy import Copy, Writer
from psycopg.rows import RowFactory, TupleRow
from psycopg.transaction import Transaction

from pipeline.config import Config, mask_url
from pipeline.errors import ConfigError, DatabaseError

_HEADER = re.compile(r"^-- name: ([a-z][a-z0-9_]*)\s*$", re.MULTILINE)
_IDLE = pq.TransactionStatus.IDLE


class ScopedConnection(psycopg.Connection[TupleRow]):
    """A connection through a transaction-mode pooler: every transaction begins by setting ``search_path`` to the
    schema, for that transaction only (``set_config(..., true)``), since the next one may run on another server
    connection.

    Guaranteed for every way a transaction starts: ``transaction()``, the first statement on a connection that is
    not in autocommit, and each statement on an autocommit connection (which then runs in a transaction of its own:
    three more round trips, the price of the pooler). Statements are never prepared on the server, because the
    server connection that prepared one may not be the next one's. Server-side (named) cursors are not covered.
    """

    search_path = ""

    @classmethod
    def connect(
        cls,
        conninfo: str = "",
        *,
        autocommit: bool = False,
        prepare_threshold: int | None = None,
        context: AdaptContext | None = None,
        row_factory: RowFactory[TupleRow] | None = None,
        cursor_factory: type[psycopg.Cursor[TupleRow]] | None = None,
        **kwargs: ConnParam,
    ) -> Self:
        """``psycopg.Connection.connect`` with one more keyword, ``schema`` (required; a psycopg pool passes it
        through its ``kwargs``). Statements are never prepared and cursors are ``ScopedCursor``s, whatever is asked.
        """
        schema = kwargs.pop("schema", None)
        if not isinstance(schema, str) or not schema:
            raise ValueError(f"ScopedConnection.connect needs the schema its transactions use, got {schema!r}")
        conn = super().connect(
            conninfo,
            autocommit=autocommit,
            prepare_threshold=None,
            context=context,
            row_factory=row_factory,
            cursor_factory=ScopedCursor,
            **kwargs,
        )
        conn.search_path = sql.Identifier(schema).as_string()
        return conn

    @contextmanager
    def transaction(self, savepoint_name: str | None = None, force_rollback: bool = False) -> Iterator[Transaction]:
        """``psycopg.Connection.transaction``; an outermost transaction sets ``search_path`` first."""
        outermost = self.info.transaction_status == _IDLE
        with super().transaction(savepoint_name, force_rollback) as transaction:
            if outermost:
                self.set_search_path()
            yield transaction

    def set_search_path(self) -> None:
        """Set ``search_path`` for the current transaction (starting one, when not in autocommit)."""
        psycopg.Cursor(self).execute(query("search_path_set_local"), {"search_path": self.search_path})


class ScopedCursor(psycopg.Cursor[TupleRow]):
    """The cursor of a ``ScopedConnection``: a statement outside a transaction gets one that set ``search_path``
    (inside one, the transaction's start set it)."""

    def execute(
        self, query: Query, params: Params | None = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Self:
        with self._scoped():
            # The base implementation takes every kind of query; only its overloads tell templates apart.
            return super().execute(cast(QueryNoTemplate, query), params, prepare=prepare, binary=binary)

    def executemany(self, query: Query, params_seq: Iterable[Params], *, returning: bool = False) -> None:
        with self._scoped():
            super().executemany(query, params_seq, returning=returning)

    @contextmanager
    def copy(self, statement: Query, params: Params | None = None, *, writer: Writer | None = None) -> Iterator[Copy]:
        with self._scoped(), super().copy(statement, params, writer=writer) as copy:
            yield copy

    def stream(
        self, query: Query, params: Params | None = None, *, binary: bool | None = None, size: int = 1
    ) -> Iterator[TupleRow]:
        with self._scoped():
            yield from super().stream(query, params, binary=binary, size=size)

    @contextmanager
    def _scoped(self) -> Iterator[None]:
        conn = self.connection
        if not isinstance(conn, ScopedConnection) or conn.info.transaction_status != _IDLE:
            yield
        elif conn.autocommit:
            with conn.transaction():
                yield
        else:
            conn.set_search_path()
            yield


def connect(
    url: str,
    schema: str,
    *,
    autocommit: bool = False,
    connect_timeout: int = 10,
    application_name: str = "pipeline",
    transaction_pooler: bool = False,
) -> psycopg.Connection[TupleRow]:
    """Open a connection on which every statement runs with ``search_path`` set to ``schema`` alone; with
    ``transaction_pooler``, one that works through a transaction-mode pooler (see the module docstring)."""
    try:
        if transaction_pooler:
            return ScopedConnection.connect(
                url,
                schema=schema,
                autocommit=autocommit,
                connect_timeout=connect_timeout,
                application_name=application_name,
            )
        return psycopg.connect(
            url,
            autocommit=autocommit,
            connect_timeout=connect_timeout,
            application_name=application_name,
            options=search_path_option(schema),
        )
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {mask_url(url)}: {_first_line(exc)}") from exc


def search_path_option(schema: str) -> str:
    """The startup option of a direct connection: ``search_path`` is the schema alone (never ``public``)."""
    return f"-c search_path={sql.Identifier(schema).as_string()}"


def database_url(config: Config) -> str:
    """The configured database URL; with none configured, start the embedded cluster and return its URL."""
    if config.database.url:
        return config.database.url
    if config.database.transaction_pooler:
        raise ConfigError(
            "database.transaction_pooler = true needs database.url (the pooler's URL); the embedded cluster is "
            "never behind a pooler"
        )
    from pipeline.embedded_pg import EmbeddedPostgres  # noqa: PLC0415  (only needed without a configured URL)

    return EmbeddedPostgres.from_config(config.database.embedded).start()


def direct_url(config: Config, *, purpose: str) -> str:
    """The URL for what a transaction-mode pooler cannot carry (``purpose``: migrations, LISTEN):
    ``database.direct_url``, else the database URL unless that is a transaction pooler, which is an error naming
    the settings to change."""
    if config.database.direct_url:
        return config.database.direct_url
    if config.database.transaction_pooler:
        raise ConfigError(
            f"{purpose} cannot go through a transaction pooler (database.transaction_pooler = true) and no direct "
            "URL is configured: set database.direct_url or PIPELINE_DATABASE_DIRECT_URL to a connection that "
            "bypasses the pooler"
        )
    return database_url(config)


def connect_config(config: Config, *, autocommit: bool = False) -> psycopg.Connection[TupleRow]:
    """A connection to the configured database (through the pooler, if one is configured)."""
    return connect(
        database_url(config),
        config.database.schema,
        autocommit=autocommit,
        connect_timeout=config.database.connect_timeout,
        transaction_pooler=config.database.transaction_pooler,
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
