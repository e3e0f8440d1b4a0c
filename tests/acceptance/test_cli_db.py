"""The real CLI, spawned as a user would: db start/url/status/migrate/stop, psql on the printed URL, bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import orjson
import psycopg
import pytest

from tests.conftest import ROOT, server_reachable_tmpdir

pytestmark = pytest.mark.slow


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.endswith("DB_URL") and "DATABASE_URL" not in key}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def cli_config() -> Iterator[Path]:
    workdir = server_reachable_tmpdir("pipeline-cli-")
    config = workdir / "config.toml"
    config.write_text(f"[database.embedded]\ndata_dir = '{workdir / 'pg'}'\nfsync = false\n[log]\nformat = 'json'\n")
    yield config
    run_cli("db", "stop", "--config", str(config))
    shutil.rmtree(workdir, ignore_errors=True)


def test_cli_db__start_url_status_stop_round_trip(cli_config: Path) -> None:
    started = run_cli("db", "start", "--config", str(cli_config), "--json")
    assert started.returncode == 0, started.stderr
    url = orjson.loads(started.stdout)["url"]

    printed = run_cli("db", "url", "--config", str(cli_config))
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == url

    psql = subprocess.run(
        ["psql", url, "-Atc", "SELECT count(*) > 0 FROM pipeline.schema_migrations"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert psql.returncode == 0, psql.stderr
    assert psql.stdout.strip() in {"t", "f"}

    status = run_cli("db", "status", "--config", str(cli_config), "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    data = orjson.loads(status.stdout)
    assert data["running"] is True
    assert data["schema_version"] == data["expected_version"]

    migrate = run_cli("db", "migrate", "--config", str(cli_config))
    assert (migrate.returncode, migrate.stdout.strip()) == (0, "schema is up to date")

    stopped = run_cli("db", "stop", "--config", str(cli_config))
    assert stopped.returncode == 0, stopped.stderr
    after = run_cli("db", "status", "--config", str(cli_config), "--json")
    assert after.returncode == 1
    assert orjson.loads(after.stdout)["running"] is False


def test_cli__invalid_config_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[queue]\nretry_limit = 'lots'\n")
    result = run_cli("db", "status", "--config", str(bad))
    assert result.returncode == 2
    assert f"{bad}: queue.retry_limit: Expected `int`, got `str`" in result.stderr


def test_cli__unreachable_database_error_masks_the_password() -> None:
    result = run_cli(
        "db",
        "migrate",
        env={"PIPELINE_DATABASE_URL": "postgresql://app:hunter2@127.0.0.1:1/nowhere?connect_timeout=2"},
    )
    assert result.returncode == 1
    assert "cannot connect to postgresql://app:***@127.0.0.1:1/nowhere" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_cli__unknown_command_is_a_usage_error() -> None:
    result = run_cli("db", "explode")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.fixture
def elsewhere_config(tmp_path: Path) -> Path:
    """A config whose tables live in schema ``elsewhere``: what it is applied to shows which config was read."""
    config = tmp_path / "elsewhere.toml"
    config.write_text("[database]\nschema = 'elsewhere'\n[log]\nformat = 'json'\n")
    return config


def migrated_schemas(database_url: str) -> set[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'schema_migrations'")
        return {schema for (schema,) in rows}


@pytest.mark.parametrize("where", ["before the command", "after the command", "both, the same file"])
def test_cli__config_is_read_wherever_it_is_given(database_url: str, elsewhere_config: Path, where: str) -> None:
    option = ["--config", str(elsewhere_config)]
    arguments = {
        "before the command": [*option, "db", "migrate", "--json"],
        "after the command": ["db", "migrate", *option, "--json"],
        "both, the same file": [*option, "--json", "db", "migrate", *option],
    }[where]
    result = run_cli(*arguments, env={"PIPELINE_DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["applied"], "the migrations went to the configured schema, not the default"
    assert migrated_schemas(database_url) == {"pipeline", "elsewhere"}


def test_cli__two_different_configs_are_a_usage_error_that_touches_nothing(
    database_url: str, elsewhere_config: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[database]\nschema = 'other'\n")
    arguments = ["--config", str(elsewhere_config), "db", "migrate", "--config", str(other)]
    result = run_cli(*arguments, env={"PIPELINE_DATABASE_URL": database_url})
    assert result.returncode == 2
    assert result.stderr == f"error: --config given twice with different files: {elsewhere_config} and {other}\n"
    assert migrated_schemas(database_url) == {"pipeline"}


def test_cli__version_prints_the_installed_version() -> None:
    result = run_cli("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"python -m pipeline {version('repo-indexer-pipeline')}")
