"""materialize without Spark (online.from_latest) writes exactly what the Spark path writes.

A view with every feature dtype, a composite key, nulls, ties on event_timestamp and rows
out of order is published; a full run from its latest rows (no Spark: the session factory
fails the test if called) must leave Redis byte for byte equal to a full run through Spark
regrouping the whole table, with the same TTLs and watermark. Then: an incremental run with
nothing new needs no Spark, and one with a new commit does.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis

from featurelake.config import load_config
from featurelake.offline.latest import latest_dir, refresh_latest
from featurelake.offline.tables import committed_version, table_path
from featurelake.offline.writer import replace_range
from featurelake.online.keys import view_prefix, watermark_key
from featurelake.online.materialize import materialize_view
from featurelake.registry.compile import compile_repo
from featurelake.storage import storage_for

SPEC = """
entities:
  - {name: account, join_keys: [user_id, region]}
sources:
  - {name: accounts, format: parquet, path: raw/accounts, timestamp: ts, created_timestamp: created}
feature_view:
  name: account_state
  version: 2
  entity: account
  source: accounts
  owner: test
  ttl: 3d
  online: true
  features:
    - {name: score, dtype: double}
    - {name: visits, dtype: int64}
    - {name: tier, dtype: string}
    - {name: active, dtype: bool}
    - {name: seen_at, dtype: timestamp}
    - {name: weights, dtype: array<double>}
    - {name: vec, dtype: embedding, dim: 3}
"""
SCHEMA = (
    "user_id long, region string, event_timestamp timestamp, created_timestamp timestamp, score double, "
    "visits long, tier string, active boolean, seen_at timestamp, weights array<double>, vec array<float>, date date"
)
KEYS = ["user_id", "region"]


def _rows(seed: int, start: date, days: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(rng.integers(0, days * 24 * 60, n), unit="min")
    ts = ts.where(rng.random(n) > 0.15, ts[0])  # many rows at one instant: ties broken by created_timestamp
    frame = pd.DataFrame({
        "user_id": rng.integers(0, 60, n),
        "region": rng.choice(["eu", "us", "ap"], n),
        "event_timestamp": ts,
        "created_timestamp": ts + pd.to_timedelta(rng.integers(0, 5, n), unit="s"),
        "score": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        "visits": rng.integers(-5, 10**12, n),
        "tier": rng.choice(["gold", "", "ünïcode", None], n),
        "active": rng.choice([True, False, None], n),
        "seen_at": pd.Series(ts - pd.to_timedelta(rng.integers(0, 10**6, n), unit="s")).where(rng.random(n) > 0.1),
        "weights": [None if i % 7 == 0 else list(rng.normal(size=2)) for i in range(n)],
        "vec": [None if i % 11 == 0 else list(rng.normal(size=3).astype(np.float32)) for i in range(n)],
    })  # fmt: skip
    frame["date"] = frame.event_timestamp.dt.date
    return frame.sample(frac=1.0, random_state=seed)  # out of order


@pytest.fixture()
def published(spark, tmp_path: Path, redis_server, make_test_conf):  # type: ignore[no-untyped-def]
    repo = tmp_path / "specs"
    repo.mkdir()
    (repo / "view.yaml").write_text(SPEC)
    registry = compile_repo(repo, "fromlatest")
    conf = load_config(make_test_conf(tmp_path, redis_server.url, tmp_path / "lake"), env={})
    view = registry.view("account_state")
    path = table_path(conf.lake_root, view)
    rows = spark.createDataFrame(_rows(3, date(2025, 3, 1), 4), schema=SCHEMA)
    version, _ = replace_range(spark, path, rows, date(2025, 3, 1), date(2025, 3, 4))
    assert refresh_latest(spark, conf.lake_root, view, KEYS, version)
    return conf, registry, view


def _no_spark():  # type: ignore[no-untyped-def]
    pytest.fail("this run should not have needed Spark")


def _dump(client: redis.Redis, prefix: str) -> dict[bytes, tuple[bytes, bool]]:
    keys = sorted(client.scan_iter(match=f"{prefix}*", count=1000))
    return {k: (client.get(k), 0 < client.pttl(k) <= 3 * 86_400_000) for k in keys}  # type: ignore[misc]


def test_a_full_run_without_spark_writes_what_the_spark_path_writes(spark, published, redis_client) -> None:  # type: ignore[no-untyped-def]
    conf, registry, view = published
    prefix = view_prefix(registry.project, view.name, view.version)
    mark = watermark_key(registry.project, view.name, view.version)
    path = table_path(conf.lake_root, view)
    assert committed_version(path) == 0  # the first write creates the table

    direct = materialize_view(_no_spark, conf, registry, "account_state", full=True)
    assert not direct.spark and direct.full and direct.source == "latest rows" and direct.delta_version == 0
    arrow_values, arrow_mark = _dump(redis_client, prefix), redis_client.hgetall(mark)

    table = spark.read.format("delta").load(path).toPandas()
    assert direct.entities == direct.written == len(table.groupby(KEYS)) == len(arrow_values) > 100
    assert all(ttl_ok for _, ttl_ok in arrow_values.values())

    redis_client.flushdb()
    storage_for(latest_dir(conf.lake_root, view)).delete_tree(latest_dir(conf.lake_root, view))
    through_spark = materialize_view(spark, conf, registry, "account_state", full=True)
    assert through_spark.spark and through_spark.source == "whole table"
    assert _dump(redis_client, prefix) == arrow_values
    spark_mark = redis_client.hgetall(mark)
    assert {k: v for k, v in spark_mark.items() if k != b"updated_at_us"} == {
        k: v for k, v in arrow_mark.items() if k != b"updated_at_us"
    }


def test_incremental_runs_need_spark_only_when_something_was_committed(spark, published, redis_client) -> None:  # type: ignore[no-untyped-def]
    conf, registry, view = published
    materialize_view(_no_spark, conf, registry, "account_state")  # no watermark yet: a full run
    nothing = materialize_view(_no_spark, conf, registry, "account_state")
    assert not nothing.spark and nothing.days == [] and nothing.entities == 0

    path = table_path(conf.lake_root, view)
    more = spark.createDataFrame(_rows(4, date(2025, 3, 5), 1), schema=SCHEMA)
    replace_range(spark, path, more, date(2025, 3, 5), date(2025, 3, 5))
    started = []
    later = materialize_view(lambda: started.append(1) or spark, conf, registry, "account_state")
    assert started == [1] and later.spark and later.days == [(date(2025, 3, 5), date(2025, 3, 5))]
    # The snapshot is now of an older version: a full run regroups through Spark instead of reading it.
    assert materialize_view(lambda: spark, conf, registry, "account_state", full=True).spark
