"""A real redis-server: the one the tests started, and the embedded one featurelake starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.errors import RedisAuthError, RedisUnavailableError
from featurelake.online.redis_server import (
    RedisServer,
    connect,
    embedded_server_for,
    ensure_redis,
    free_port,
    start_redis_server,
)


def _conf(tmp_path: Path, url: str, embedded: bool, password_env: bool = False) -> FeaturelakeConfig:
    path = tmp_path / "conf" / "c.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    password = "  password: ${TEST_REDIS_PASSWORD}\n" if password_env else ""
    path.write_text(f"state_dir: ./state\nredis:\n  url: {url}\n  embedded: {str(embedded).lower()}\n{password}")
    return load_config(path, env={"TEST_REDIS_PASSWORD": "wrong-one"} if password_env else {})


def test_round_trip_through_the_test_server(redis_client: redis.Redis, redis_server: RedisServer) -> None:
    redis_client.hset("fl:test:user:1", mapping={"spend_30d": "12.5"})
    assert redis_client.hget("fl:test:user:1", "spend_30d") == b"12.5"
    assert redis_client.info("server")["tcp_port"] == redis_server.port


def test_embedded_server_starts_with_aof_under_state_dir(tmp_path: Path) -> None:
    conf = _conf(tmp_path, f"redis://127.0.0.1:{free_port()}/0", embedded=True)
    said: list[str] = []
    try:
        client = ensure_redis(conf, say=said.append)
        assert client.ping()
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("dir")["dir"] == str(conf.state_dir / "redis")
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert said and "started embedded redis-server" in said[0]
        said.clear()
        ensure_redis(conf, say=said.append)  # already answering: no second server
        assert said == []
    finally:
        embedded_server_for(conf).stop()


def test_unreachable_without_embedded_is_a_clear_error(tmp_path: Path) -> None:
    conf = _conf(tmp_path, f"redis://127.0.0.1:{free_port()}/0", embedded=False)
    with pytest.raises(RedisUnavailableError, match="cannot reach Redis"):
        ensure_redis(conf)


def test_wrong_password_is_a_clear_error_without_the_secret(tmp_path: Path) -> None:
    server = start_redis_server(tmp_path / "srv", port=free_port(), password="right-one")
    try:
        conf = _conf(tmp_path, server.url, embedded=False, password_env=True)
        with pytest.raises(RedisAuthError) as err:
            connect(conf)
        assert "wrong-one" not in str(err.value) and "right-one" not in str(err.value)
        assert "right-one" not in (tmp_path / "srv" / "redis.log").read_text()
    finally:
        server.stop()
