"""Fixtures for the HTTP API tests: the real app on this test's database, with and without a token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pipeline.api.app import create_app
from pipeline.config import Config
from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def client(config: Config) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(config, environ={})) as test_client:
        yield test_client


def client_for(config: Config, **api: object) -> TestClient[Litestar]:
    return TestClient(
        create_app(msgspec.structs.replace(config, api=msgspec.structs.replace(config.api, **api)), environ={})
    )


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    """A small real repository: TypeScript, TSX and JavaScript sources plus files the indexer skips."""
    path = tmp_path / "demo-repo"
    commit_files(new_repository(path), SOURCES_V1, "first")
    return path


@pytest.fixture
def pipeline_config(config: Config, tmp_path: Path) -> Config:
    """Small, fast pipeline settings for tests that really index: one job, one parser, no retry delay."""
    index = msgspec.structs.replace(config.index, parsers=1, jobs=1, tmp_dir=str(tmp_path), progress_interval=0.2)
    queue = msgspec.structs.replace(config.queue, retry_delay=0.0, retry_backoff=False)
    return msgspec.structs.replace(config, index=index, queue=queue)
