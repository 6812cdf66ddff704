from __future__ import annotations

from pathlib import Path

import pytest

from featurelake.config import describe_config, load_config, redact_url
from featurelake.errors import ConfigInvalidError, ConfigNotFoundError, UnsetEnvVarError


def test_embedded_default_resolves_paths_against_project_root(repo_root: Path) -> None:
    conf = load_config(repo_root / "conf" / "local.yaml", env={})
    assert conf.lake_root == str(repo_root / "lake")
    assert conf.state_dir == repo_root / ".featurelake"
    assert conf.spark.master == "local[*]"
    assert conf.redis.url == "redis://127.0.0.1:6379/0"
    assert conf.redis.embedded is True
    assert conf.resolved_reports_dir == f"{repo_root / 'lake'}/_reports"


def test_env_overrides_win(repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "FEATURELAKE_CONF": str(repo_root / "conf" / "local.yaml"),
        "FEATURELAKE_LAKE_ROOT": "rel/lake",
        "FEATURELAKE_REDIS_URL": "redis://127.0.0.1:6390/2",
    }
    conf = load_config(env=env)
    assert conf.lake_root == str(tmp_path / "rel" / "lake")
    assert conf.redis.url == "redis://127.0.0.1:6390/2"


def test_uri_lake_root_kept_as_is(repo_root: Path) -> None:
    conf = load_config(repo_root / "conf" / "local.yaml", env={"FEATURELAKE_LAKE_ROOT": "s3a://b/x"})
    assert conf.lake_root == "s3a://b/x"


def test_missing_conf_is_a_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigNotFoundError, match=r"conf/local\.yaml"):
        load_config(env={})


def test_unset_env_reference_names_the_variable_and_line(repo_root: Path) -> None:
    path = repo_root / "conf" / "cluster.example.yaml"
    with pytest.raises(UnsetEnvVarError) as err:
        load_config(path, env={})
    message = str(err.value)
    assert "FEATURELAKE_REDIS_PASSWORD" in message
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "${FEATURELAKE_REDIS_PASSWORD}" in text)
    assert f"cluster.example.yaml:{line}:" in message


def test_cluster_example_takes_secrets_from_env_and_never_shows_them(repo_root: Path) -> None:
    secret = "s3cr3t-Value-42"
    conf = load_config(
        repo_root / "conf" / "cluster.example.yaml",
        env={"FEATURELAKE_REDIS_PASSWORD": secret, "FEATURELAKE_SPARK_MASTER": "spark://h:7077"},
    )
    assert conf.redis.password is not None
    assert conf.redis.password.get_secret_value() == secret
    assert conf.spark.master == "spark://h:7077"
    assert conf.redis.tls is True
    for rendering in (str(describe_config(conf)), repr(conf), str(conf)):
        assert secret not in rendering


def test_literal_password_in_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("redis:\n  url: redis://127.0.0.1:1/0\n  password: hunter2\n")
    with pytest.raises(ConfigInvalidError) as err:
        load_config(path, env={})
    assert f"{path}:3:" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lake_rot: ./x\n")
    with pytest.raises(ConfigInvalidError, match="lake_rot"):
        load_config(path, env={})


def test_python_tags_are_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("project: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigInvalidError, match="not valid YAML"):
        load_config(path, env={})


def test_redact_url_hides_password() -> None:
    assert redact_url("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert redact_url("rediss://user:pw@host/0") == "rediss://user:***@host/0"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"
