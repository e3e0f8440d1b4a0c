"""Configuration: typed decoding, clear errors naming file and key, environment precedence, password masking."""

from pathlib import Path

import pytest

from pipeline.config import MAX_CONFIG_BYTES, Config, decode_config, load_config, mask_url
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["dev.toml", "test.toml", "prod.toml"])
def test_load_config__every_shipped_config_is_valid(name: str) -> None:
    config = load_config(ROOT / "configs" / name, environ={})
    assert isinstance(config, Config)
    assert config.database.schema == "pipeline"


def test_load_config__defaults_match_the_documented_queue_semantics() -> None:
    queue = decode_config("", "empty.toml").queue
    assert (queue.retry_limit, queue.retry_delay, queue.retry_backoff) == (3, 60.0, True)
    assert (queue.expire_in, queue.delete_after) == (86400.0, 3600.0)


def test_load_config__missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml", environ={})


def test_load_config__a_directory_is_named_as_one_not_as_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r": is a directory, not a config file"):
        load_config(tmp_path, environ={})


def test_load_config__a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * MAX_CONFIG_BYTES + "\n")
    with pytest.raises(ConfigError, match=rf"huge\.toml: config file is larger than {MAX_CONFIG_BYTES} bytes"):
        load_config(huge, environ={})


def test_load_config__a_malformed_database_url_is_a_config_error_naming_where() -> None:
    with pytest.raises(ConfigError, match=r"environment variable DATABASE_URL: malformed URL: Invalid IPv6 URL"):
        load_config(None, environ={"DATABASE_URL": "postgresql://[::1"})
    with pytest.raises(ConfigError, match=r"x\.toml: database\.url: malformed URL"):
        decode_config("[database]\nurl = 'postgresql://[::1'\n", "x.toml")


def test_load_config__missing_default_file_falls_back_to_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(None, environ={}) == Config()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[database]\nfoo = 1\n", r"bad\.toml: database: unknown key `foo`"),
        ("colour = 'blue'\n", r"bad\.toml: unknown key `colour`"),
        ("[queue]\nretry_limit = 'three'\n", r"bad\.toml: queue\.retry_limit: Expected `int`, got `str`"),
        ("[queue]\nretry_limit = -1\n", r"bad\.toml: queue\.retry_limit: Expected `int` >= 0"),
        ("[queue]\nheartbeat_interval = 0\n", r"bad\.toml: queue\.heartbeat_interval: Expected `float` > 0"),
        ("[log]\nlevel = 'loud'\n", r"bad\.toml: log\.level: Invalid enum value 'loud'"),
        ("[api]\nworkers = -1\n", r"bad\.toml: api\.workers: Expected `int` >= 0"),
        ("[api]\nworkers = 65\n", r"bad\.toml: api\.workers: Expected `int` <= 64"),
        ("[api]\nwebhook_max_body_bytes = 0\n", r"bad\.toml: api\.webhook_max_body_bytes: Expected `int` >= 1"),
        ("[database]\nschema = 'Robert; DROP'\n", r"bad\.toml: database\.schema: Expected `str` matching"),
        ("[database\n", r"bad\.toml: not valid TOML"),
    ],
)
def test_decode_config__rejects_bad_input_naming_file_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        decode_config(text, "bad.toml")


def test_decode_config__non_postgres_url_is_rejected_without_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        decode_config("[database]\nurl = 'mysql://app:hunter2@db/x'\n", "bad.toml")
    assert "database.url" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_load_config__environment_precedence_is_pipeline_then_database_then_supabase(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[database]\nurl = 'postgresql://file/db'\n")
    everything = {
        "SUPABASE_DB_URL": "postgresql://supabase/db",
        "DATABASE_URL": "postgresql://database/db",
        "PIPELINE_DATABASE_URL": "postgresql://pipeline/db",
    }
    assert load_config(path, everything).database.url == "postgresql://pipeline/db"
    del everything["PIPELINE_DATABASE_URL"]
    assert load_config(path, everything).database.url == "postgresql://database/db"
    del everything["DATABASE_URL"]
    assert load_config(path, everything).database.url == "postgresql://supabase/db"
    assert load_config(path, {}).database.url == "postgresql://file/db"


def test_load_config__empty_environment_variable_does_not_override(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[database]\nurl = 'postgresql://file/db'\n")
    assert load_config(path, {"PIPELINE_DATABASE_URL": "  "}).database.url == "postgresql://file/db"


def test_load_config__bad_environment_url_names_the_variable_and_hides_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"DATABASE_URL": "http://user:s3cret@host/db"})
    assert "environment variable DATABASE_URL" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:hunter2@db.example:5432/x", "postgresql://app:***@db.example:5432/x"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("postgresql://db/x?password=hunter2&sslmode=require", "postgresql://db/x?password=***&sslmode=require"),
        ("postgresql://a:p%40ss@h/x", "postgresql://a:***@h/x"),
        ("postgresql://postgres@/pipeline?host=/tmp/sock", "postgresql://postgres@/pipeline?host=/tmp/sock"),
    ],
)
def test_mask_url__replaces_every_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked
