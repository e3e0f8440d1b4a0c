"""What the acceptance tests share: a repository to index and the environment the real CLI runs in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    path = tmp_path / "acme" / "cli-repo"  # named acme/cli-repo (no origin remote: the last two path components)
    commit_files(new_repository(path), SOURCES_V1, "first")
    return path


def cli_environment(database_url: str, tmp_path: Path, *, parsers: int, shutdown_timeout: float) -> dict[str, str]:
    """This process's environment without database variables, pointing the CLI at ``database_url`` and at a
    config with ``parsers`` parser processes, fast heartbeats and ``shutdown_timeout``."""
    config = tmp_path / "cli.toml"
    config.write_text(
        f"[index]\nparsers = {parsers}\ntmp_dir = '{tmp_path / 'work'}'\n[log]\nformat = 'json'\n"
        f"[queue]\nheartbeat_interval = 0.5\npoll_interval = 0.2\nshutdown_timeout = {shutdown_timeout}\n"
    )
    base = {key: value for key, value in os.environ.items() if "DATABASE_URL" not in key and "DB_URL" not in key}
    return {**base, "PIPELINE_DATABASE_URL": database_url, "PIPELINE_CONFIG": str(config)}
