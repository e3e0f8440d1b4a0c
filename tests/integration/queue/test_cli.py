"""The queue's CLI commands (dlq, health), driven through argparse as the main CLI does."""

from __future__ import annotations

import argparse

import msgspec
import orjson
import pytest

from pipeline.config import Config
from pipeline.errors import MigrationError
from pipeline.queue import Job, Queue, Worker
from pipeline.queue.cli import register


def run(config: Config, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.handler(args, config)
    return status


def with_url(config: Config, url: str) -> Config:
    return msgspec.structs.replace(config, database=msgspec.structs.replace(config.database, url=url))


def fail(_job: Job) -> None:
    raise RuntimeError("cannot index")


def test_health_json__reports_every_queue_and_exits_0(
    queue: Queue, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    queue.send("index-repo", {})
    assert run(config, "health", "--json") == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["ok"] is True
    [item] = report["queues"]
    assert (item["queue"], item["counts"]["created"]) == ("index-repo", 1)


def test_health__lists_the_index_queue_on_a_freshly_migrated_database(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "health", "--json") == 0
    [item] = orjson.loads(capsys.readouterr().out)["queues"]
    assert item["queue"] == "index-repo"
    assert set(item["counts"].values()) == {0}
    assert (item["oldest_waiting_seconds"], item["dead_letters"]) == (None, 0)


def test_health__prints_a_table(queue: Queue, config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    queue.send("index-repo", {})
    assert run(config, "health") == 0
    assert "index-repo" in capsys.readouterr().out


def test_health__exits_1_when_the_database_is_unreachable(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    unreachable = with_url(config, "postgresql://nobody@127.0.0.1:1/none")
    assert run(unreachable, "health", "--json") == 1
    report = orjson.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert "cannot connect" in report["error"]


def test_health__exits_1_when_the_schema_is_not_migrated(
    empty_database_url: str, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    unmigrated = with_url(config, empty_database_url)
    assert run(unmigrated, "health", "--json") == 1
    assert "not migrated" in orjson.loads(capsys.readouterr().out)["error"]
    with pytest.raises(MigrationError, match="not migrated"):
        run(unmigrated, "health")


def test_dlq_list_show_redrive_purge(queue: Queue, config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    queue.send_many("index-repo", [{"repo": "a"}, {"repo": "b"}], retry_limit=0)
    Worker.from_config(config, "index-repo", fail, batch_size=10).run_once()
    capsys.readouterr()
    assert run(config, "dlq", "list", "--queue", "index-repo__dlq", "--json") == 0
    letters = orjson.loads(capsys.readouterr().out)
    assert len(letters) == 2
    assert run(config, "dlq", "show", letters[0]["id"]) == 0
    assert "cannot index" in capsys.readouterr().out
    assert run(config, "dlq", "redrive", "--id", letters[0]["id"], "--json") == 0
    report = orjson.loads(capsys.readouterr().out)
    [redriven] = report["redriven"]
    assert redriven["queue"] == "index-repo", "a payload that names no index job is redriven as a plain queue job"
    assert (report["retried"], report["kept"]) == ([], {})
    assert run(config, "dlq", "purge", "--queue", "index-repo__dlq") == 0
    assert "purged: 1" in capsys.readouterr().out
    assert queue.dead_letters() == []


def test_dlq_show__a_bad_id_is_a_usage_error(config: Config) -> None:
    with pytest.raises(SystemExit):
        run(config, "dlq", "show", "not-a-uuid")
