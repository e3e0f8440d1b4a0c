"""``python -m pipeline db check`` spawned as a user runs it: its exit codes, its lines and its JSON."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import psycopg
import pytest
from psycopg.rows import TupleRow

from tests.conftest import ROOT
from tests.integration.test_integrity import SOURCES, new_repository_row
from tests.integration.test_write import COMMIT_1, write_snapshot

pytestmark = pytest.mark.slow


def db_check(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "cli.toml"
    config.write_text("[log]\nformat = 'json'\n")
    base = {key: value for key, value in os.environ.items() if "DATABASE_URL" not in key and "DB_URL" not in key}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "db", "check", *args],
        cwd=ROOT,
        env={**base, "PIPELINE_DATABASE_URL": database_url, "PIPELINE_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def repository_id(conn: psycopg.Connection[TupleRow]) -> uuid.UUID:
    repository = new_repository_row(conn, "acme/app")
    write_snapshot(conn, repository, COMMIT_1, SOURCES)
    return repository


def test_db_check__a_consistent_index_exits_0_with_one_line_per_check(
    database_url: str, repository_id: uuid.UUID, tmp_path: Path
) -> None:
    checked = db_check(database_url, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert "ok   reference_links.target_symbol_idx -> symbols of the target file's result: 0" in lines
    assert lines[-1].endswith("checks, the index is consistent")
    as_json = orjson.loads(db_check(database_url, tmp_path, "--json", "--repository", "acme/app").stdout)
    assert as_json["clean"] is True
    assert as_json["repositories"] == [str(repository_id)]
    assert {check["violations"] for check in as_json["checks"]} == {0}


def test_db_check__violations_exit_1_naming_the_relation_and_example_keys(
    database_url: str, conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID, tmp_path: Path
) -> None:
    conn.execute("UPDATE refs SET file_result_id = -1 WHERE ctid = (SELECT min(ctid) FROM refs)")
    checked = db_check(database_url, tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert any(
        line.startswith("FAIL refs.file_result_id -> file_results: 1 (e.g. file_result_id=-1, idx=")
        for line in checked.stdout.splitlines()
    )
    as_json = db_check(database_url, tmp_path, "--json", "--repository", str(repository_id))
    assert as_json.returncode == 1
    report = orjson.loads(as_json.stdout)
    assert report["clean"] is False
    failed = [(check["relation"], check["column"]) for check in report["checks"] if check["violations"]]
    assert ("reference_links", "reference_idx") in failed  # the links of the moved reference point at nothing


def test_db_check__exits_2_when_it_cannot_check(database_url: str, repository_id: uuid.UUID, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = db_check(f"postgresql://nobody@127.0.0.1:{port}/nothing?connect_timeout=2", tmp_path, "--json")
    assert unreachable.returncode == 2, unreachable.stdout + unreachable.stderr
    assert "cannot connect" in orjson.loads(unreachable.stderr)["error"]
    unknown = db_check(database_url, tmp_path, "--repository", "acme/missing")
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert "no repository with id, full name or git URL 'acme/missing'" in unknown.stderr
