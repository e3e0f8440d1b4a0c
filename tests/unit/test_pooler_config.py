"""Settings for a transaction pooler: the direct URL from the environment, where LISTEN and migrations go."""

from pathlib import Path

import msgspec
import pytest

from pipeline.config import Config, QueueConfig, decode_config, load_config
from pipeline.db import direct_url
from pipeline.errors import ConfigError
from pipeline.queue.worker import listen_url

POOLER = "postgresql://app@pooler.example:6432/db"
DIRECT = "postgresql://app@db.example:5432/db"


def database(**settings: object) -> Config:
    return msgspec.structs.replace(Config(), database=msgspec.structs.replace(Config().database, **settings))


def test_load_config__direct_url_comes_from_its_environment_variable(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[database]\nurl = '{POOLER}'\ndirect_url = 'postgresql://file@x/db'\ntransaction_pooler = true\n")
    config = load_config(path, environ={"PIPELINE_DATABASE_DIRECT_URL": DIRECT})
    assert (config.database.url, config.database.direct_url) == (POOLER, DIRECT)
    assert (
        load_config(path, environ={"PIPELINE_DATABASE_DIRECT_URL": " "}).database.direct_url == "postgresql://file@x/db"
    )


def test_load_config__a_bad_direct_url_in_the_environment_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("")
    with pytest.raises(ConfigError, match="environment variable PIPELINE_DATABASE_DIRECT_URL: expected a postgresql"):
        load_config(path, environ={"PIPELINE_DATABASE_DIRECT_URL": "mysql://x"})


def test_direct_url__is_the_direct_url_else_the_url_unless_that_is_a_pooler() -> None:
    assert direct_url(database(url=POOLER, direct_url=DIRECT, transaction_pooler=True), purpose="x") == DIRECT
    assert direct_url(database(url=DIRECT), purpose="x") == DIRECT
    with pytest.raises(ConfigError, match=r"migrations cannot go through a transaction pooler .* database\.direct_url"):
        direct_url(database(url=POOLER, transaction_pooler=True), purpose="migrations")


def test_listen_url__a_worker_listens_apart_only_with_a_direct_url() -> None:
    assert listen_url(database(url=DIRECT)) == ""
    assert listen_url(database(url=POOLER, direct_url=DIRECT, transaction_pooler=True)) == DIRECT
    polling = msgspec.structs.replace(database(url=POOLER, transaction_pooler=True), queue=QueueConfig(listen=False))
    assert listen_url(polling) == ""
    with pytest.raises(ConfigError, match="LISTEN cannot go through a transaction pooler"):
        listen_url(database(url=POOLER, transaction_pooler=True))


def test_decode_config__an_unparseable_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"c\.toml: database\.direct_url: malformed URL"):
        decode_config("[database]\ndirect_url = 'postgresql://[::1'\n", "c.toml")
