"""Fault injection for the reliability tests: a seeded random SIGKILL of a whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import redis

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.online.redis_server import RedisServer, free_port, start_redis_server

SEED = 20261204
BIN = Path(sys.executable).parent
KillAfter = Callable[[list[str], float, dict[str, str]], "int | None"]


def kill_tree_after(command: list[str], delay_s: float, env: dict[str, str]) -> int | None:
    """Start `command` in its own process group, SIGKILL the whole group (the CLI, its JVM and
    Python workers) after `delay_s`; returns its exit code if it finished first, else None."""
    proc = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        return proc.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


def online_headers(client: redis.Redis, prefix: str) -> dict[bytes, tuple[int, int]]:
    """(event time, created time) of every online value under `prefix`: what "never older" compares."""
    from featurelake.online.codec import parse_header

    keys = list(client.scan_iter(match=f"{prefix}*", count=10_000))
    return {k: parse_header(v) for k, v in zip(keys, client.mget(keys), strict=True) if v is not None}


def assert_never_older(before: dict[bytes, tuple[int, int]], after: dict[bytes, tuple[int, int]]) -> None:
    assert set(before) <= set(after), f"{len(set(before) - set(after))} online values lost"
    older = [k for k, v in before.items() if after[k] < v]
    assert older == [], f"{len(older)} online values became older, e.g. {older[:3]}"


@pytest.fixture(scope="session")
def headers() -> Callable[[redis.Redis, str], dict[bytes, tuple[int, int]]]:
    return online_headers


@pytest.fixture(scope="session")
def never_older() -> Callable[[dict[bytes, tuple[int, int]], dict[bytes, tuple[int, int]]], None]:
    return assert_never_older


def assert_latest_rows_true(spark, conf: FeaturelakeConfig, view_name: str) -> int | None:  # type: ignore[no-untyped-def]
    """The snapshot CURRENT.json names is whole and equals the newest rows of the table at its
    source version, and what readers get at the table's newest version equals a regrouping of
    the whole table; returns the snapshot's source version (None: no snapshot yet)."""
    import pandas as pd
    from delta.tables import DeltaTable

    from featurelake.offline.latest import _read_pointer, latest_dir, newest_rows, read_latest
    from featurelake.offline.tables import table_path
    from featurelake.registry import load_registry
    from featurelake.storage import join, storage_for

    registry = load_registry(conf)
    view, keys = registry.view(view_name), registry.join_keys(view_name)
    path, root = table_path(conf.lake_root, view), latest_dir(conf.lake_root, view)

    def table_at(version: int) -> pd.DataFrame:
        rows = newest_rows(spark.read.format("delta").option("versionAsOf", version).load(path), keys)
        return _sorted(rows.toPandas(), keys)

    newest = int(DeltaTable.forPath(spark, path).history(1).collect()[0]["version"])
    read = _sorted(read_latest(spark, conf.lake_root, view, keys, newest).rows.toPandas(), keys)
    pd.testing.assert_frame_equal(read, table_at(newest), check_like=True)
    pointer = _read_pointer(root)
    if pointer is None:
        return None
    snapshot, source_version = join(root, pointer[0]), pointer[1]
    assert storage_for(snapshot).exists(join(snapshot, "_SUCCESS")), f"{snapshot} named but not whole"
    stored = _sorted(spark.read.parquet(snapshot).toPandas(), keys)
    pd.testing.assert_frame_equal(stored, table_at(source_version), check_like=True)
    return source_version


def _sorted(frame, keys: list[str]):  # type: ignore[no-untyped-def]
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.fixture(scope="session")
def latest_rows_true() -> Callable[..., int | None]:
    return assert_latest_rows_true


@pytest.fixture(scope="session")
def kill_after() -> KillAfter:
    return kill_tree_after


@pytest.fixture(scope="session")
def seed() -> int:
    return SEED


@dataclass(frozen=True)
class GuardedLake:
    """A lake on the S3 server with a password-protected redis-server, both secrets given by
    the environment only, as a user's would be; user_stats backfilled and materialized."""

    conf: FeaturelakeConfig
    redis: RedisServer
    password: str
    env: dict[str, str]

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.redis.host, port=self.redis.port, password=self.password)

    def cli(self, *args: str) -> list[str]:
        return [str(BIN / "featurelake"), *args, "--conf", str(self.conf.source_file)]

    def restart_redis(self) -> None:
        """Start redis-server again on the same port and data (its append-only file)."""
        start_redis_server(self.redis.data_dir, port=self.redis.port, password=self.password)


FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2025, 1, 4)


@pytest.fixture(scope="session")
def guarded_lake(spark, s3_server, redis_secret: str, make_test_conf, repo_root: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuardedLake]:  # type: ignore[no-untyped-def]  # fmt: skip
    from featurelake.compute.backfill import backfill_view
    from featurelake.demo_data import DatasetSize, generate
    from featurelake.online.materialize import materialize_view
    from featurelake.registry import apply_specs, load_registry
    from featurelake.storage import join, storage_for
    from featurelake.validation.context import ValidationPaths

    base = tmp_path_factory.mktemp("guarded")
    server = start_redis_server(base / "redis", port=free_port(), password=redis_secret)
    lake = f"s3a://lake/guarded-{uuid.uuid4().hex[:8]}"
    generate(base / "raw-lake", DatasetSize(users=80, products=20, days=8))
    storage_for(lake).put_tree(base / "raw-lake" / "raw", join(lake, "raw"))
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "FEATURELAKE_REDIS_PASSWORD": redis_secret}
    conf = load_config(make_test_conf(base, server.url, lake, project="flguarded"), env=env)
    apply_specs(repo_root / "feature_specs", conf)
    registry = load_registry(conf)
    validation = ValidationPaths.from_config(conf)
    backfill_view(spark, registry, "user_stats", lake, FIRST_DAY, LAST_DAY, validation=validation)
    materialize_view(spark, conf, registry, "user_stats", full=True)
    yield GuardedLake(conf, server, redis_secret, env)
    server.stop()
