"""Feast 0.67 materialization and online reads on the shared workload (run with benchmarks/.venv-feast).

    benchmarks/.venv-feast/bin/python benchmarks/peers/feast_online.py --data DIR --redis HOST:PORT --users N

View user_stats (5 features, ttl 30d) over the Spark source, Redis online store (db 1 of the
server bench_online.py started), Spark local[2]. Timed like bench_online.py: `materialize`
over the whole time range (entities/s), then get_online_features of 5 features for 1 entity
(10,000 calls) and 100 entities (2,000 calls).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

FEATURE_STORE_YAML = """project: bench
registry: {base}/registry.db
provider: local
entity_key_serialization_version: 3
offline_store:
  type: spark
  spark_conf:
    spark.master: "local[2]"
    spark.driver.memory: "12g"
    spark.sql.shuffle.partitions: "16"
    spark.driver.extraJavaOptions: "-XX:+UseParallelGC"
    spark.ui.enabled: "false"
    spark.sql.session.timeZone: "UTC"
online_store:
  type: redis
  connection_string: "{redis},db=1"
"""
FEATURES = ["user_stats:purchases_7d", "user_stats:spend_30d", "user_stats:avg_order_value", "user_stats:sessions_7d",
            "user_stats:days_since_login"]  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1]


def latencies(store, users: int, batch: int, calls: int) -> list[float]:  # type: ignore[no-untyped-def]
    rng = random.Random(batch)
    for _ in range(200):
        store.get_online_features(
            features=FEATURES, entity_rows=[{"user_id": rng.randrange(users)} for _ in range(batch)]
        )
    timings = []
    for _ in range(calls):
        rows = [{"user_id": rng.randrange(users)} for _ in range(batch)]
        started = time.perf_counter()
        store.get_online_features(features=FEATURES, entity_rows=rows).to_dict()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--repo", type=Path, help="keep the feature repo here (for `feast serve`)")
    parser.add_argument("--no-reads", action="store_true", help="materialize only")
    parser.add_argument("--repeat", type=int, default=1, help="materialize this many times (later runs are warm)")
    args = parser.parse_args()

    from feast import Entity, FeatureStore, FeatureView, Field
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
    from feast.types import Float64, Int64

    base = args.repo or Path(tempfile.mkdtemp(prefix="feast-online-"))
    base.mkdir(parents=True, exist_ok=True)
    (base / "feature_store.yaml").write_text(FEATURE_STORE_YAML.format(base=base, redis=args.redis))
    user = Entity(name="user", join_keys=["user_id"])
    stats = FeatureView(
        name="user_stats", entities=[user], ttl=timedelta(days=30), online=True,
        schema=[Field(name="purchases_7d", dtype=Int64), Field(name="spend_30d", dtype=Float64),
                Field(name="avg_order_value", dtype=Float64), Field(name="sessions_7d", dtype=Int64),
                Field(name="days_since_login", dtype=Int64)],
        source=SparkSource(name="stats", path=str(args.data / "user_stats.parquet"), file_format="parquet",
                           timestamp_field="event_timestamp", created_timestamp_column="created"),
    )  # fmt: skip
    store = FeatureStore(repo_path=str(base))
    store.apply([user, stats])
    for run in range(args.repeat):
        started = time.perf_counter()
        store.materialize(datetime(2024, 12, 1), datetime(2025, 8, 1))
        seconds = time.perf_counter() - started
        label = "first" if run == 0 else "warm"
        print(f"Feast materialize ({label}): {args.users:,} entities in {seconds:.1f}s = "
              f"{args.users / seconds:,.0f} entities/s")  # fmt: skip
    if args.no_reads:
        return
    one = latencies(store, args.users, 1, 10_000)
    hundred = latencies(store, args.users, 100, 2_000)
    print(f"Feast online read, 5 features x 1 entity: p50 {percentile(one, 0.5):.3f} ms, "
          f"p99 {percentile(one, 0.99):.3f} ms")  # fmt: skip
    print(f"Feast online read, 5 features x 100 entities: p50 {percentile(hundred, 0.5):.3f} ms, "
          f"p99 {percentile(hundred, 0.99):.3f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
