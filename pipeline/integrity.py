"""Referential integrity of the stored index (``python -m pipeline db check``).

The bulk tables have no foreign keys (migration 0007): the writer's transaction keeps their references whole, and
this module verifies that it did. Every check is an anti-join in SQL (``index_integrity_check``), all of them in one
statement, so they see one consistent state of the index even while writers commit, and take seconds on an index
of hundreds of thousands of rows. Read-only: it reports, it never repairs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg
from psycopg.rows import TupleRow

from pipeline.db import query
from pipeline.errors import PipelineError

MAX_EXAMPLES = 3
"""Example keys reported per check (the first ones in key order)."""


class UnknownRepositoryError(PipelineError):
    """``--repository`` names no stored repository (by id, full name or git URL)."""


class IntegrityCheck(msgspec.Struct, frozen=True, kw_only=True):
    """One reference checked: every ``relation.column`` must name a row of ``target``; ``violations`` rows do not,
    ``examples`` are the keys of up to ``MAX_EXAMPLES`` of them."""

    relation: str
    column: str
    target: str
    violations: int
    examples: list[dict[str, Any]]


class IntegrityReport(msgspec.Struct, frozen=True, kw_only=True):
    """Every check of one run; ``repositories`` is the scope (``None``: the whole database)."""

    repositories: list[uuid.UUID] | None
    checks: list[IntegrityCheck]

    @property
    def clean(self) -> bool:
        return all(check.violations == 0 for check in self.checks)


def find_repositories(conn: psycopg.Connection[TupleRow], repository: str) -> list[uuid.UUID]:
    """The repositories ``repository`` names (id, full name or git URL; a full name may name several); raises
    ``UnknownRepositoryError`` when it names none."""
    found = [uuid.UUID(str(row[0])) for row in conn.execute(query("repository_find"), {"repository": repository})]
    if not found:
        raise UnknownRepositoryError(f"no repository with id, full name or git URL {repository!r}")
    return found


def check_integrity(
    conn: psycopg.Connection[TupleRow], repositories: Sequence[uuid.UUID] | None = None
) -> IntegrityReport:
    """Run every check, over the whole database or only ``repositories`` (their snapshots and the per-file
    results their files use; rows of no snapshot are then not looked for, as they belong to no repository)."""
    scope = list(repositories) if repositories is not None else None
    rows = conn.execute(query("index_integrity_check"), {"repositories": scope, "examples": MAX_EXAMPLES}).fetchall()
    checks = [
        IntegrityCheck(relation=relation, column=column, target=target, violations=violations, examples=list(examples))
        for relation, column, target, violations, examples in rows
    ]
    return IntegrityReport(repositories=scope, checks=checks)


def format_report(report: IntegrityReport) -> str:
    """One line per check: status, ``relation.column -> target``, violations and the example keys."""
    lines = []
    for check in report.checks:
        status = "ok" if check.violations == 0 else "FAIL"
        line = f"{status:<4} {check.relation}.{check.column} -> {check.target}: {check.violations}"
        if check.examples:
            keys = (", ".join(f"{key}={value}" for key, value in example.items()) for example in check.examples)
            line += f" (e.g. {'; '.join(keys)})"
        lines.append(line)
    failed = sum(check.violations > 0 for check in report.checks)
    lines.append(
        f"{len(report.checks)} checks, {failed} with violations"
        if failed
        else f"{len(report.checks)} checks, the index is consistent"
    )
    return "\n".join(lines)
