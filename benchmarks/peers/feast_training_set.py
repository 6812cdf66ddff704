"""Feast 0.67's Spark offline store on the shared workload (run with benchmarks/.venv-feast).

    benchmarks/.venv-feast/bin/python benchmarks/peers/feast_training_set.py --data DIR --out DIR

Same data, features, TTLs (user_stats 30d, user_profile 90d), Spark local[2] and output as
benchmarks/bench_training_set.py. Prints `FEAST_SECONDS <s>` for the timed part:
get_historical_features(...).to_spark_df() written as parquet (after a warm-up build).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import timedelta
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
    spark.sql.shuffle.partitions: "8"
    spark.driver.extraJavaOptions: "-XX:+UseParallelGC"
    spark.ui.enabled: "false"
    spark.eventLog.enabled: "false"
    spark.sql.session.timeZone: "UTC"
    spark.sql.execution.arrow.pyspark.enabled: "true"
online_store:
  path: {base}/online.db
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from feast import Entity, FeatureStore, FeatureView, Field
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
    from feast.types import Float64, Int64

    base = Path(tempfile.mkdtemp(prefix="feast-bench-"))
    (base / "feature_store.yaml").write_text(FEATURE_STORE_YAML.format(base=base))
    user = Entity(name="user", join_keys=["user_id"])
    stats = FeatureView(
        name="user_stats", entities=[user], ttl=timedelta(days=30),
        schema=[Field(name="purchases_7d", dtype=Int64), Field(name="spend_30d", dtype=Float64),
                Field(name="avg_order_value", dtype=Float64), Field(name="sessions_7d", dtype=Int64),
                Field(name="days_since_login", dtype=Int64)],
        source=SparkSource(name="stats", path=str(args.data / "user_stats.parquet"), file_format="parquet",
                           timestamp_field="event_timestamp", created_timestamp_column="created"),
    )  # fmt: skip
    profile = FeatureView(
        name="user_profile", entities=[user], ttl=timedelta(days=90),
        schema=[Field(name="tenure_days", dtype=Int64), Field(name="loyalty_score", dtype=Float64)],
        source=SparkSource(name="profile", path=str(args.data / "user_profile.parquet"), file_format="parquet",
                           timestamp_field="event_timestamp", created_timestamp_column="created"),
    )  # fmt: skip
    store = FeatureStore(repo_path=str(base))
    store.apply([user, stats, profile])
    features = ["user_stats:purchases_7d", "user_stats:spend_30d", "user_stats:avg_order_value",
                "user_stats:sessions_7d", "user_stats:days_since_login", "user_profile:tenure_days",
                "user_profile:loyalty_score"]  # fmt: skip
    from pyspark.sql import SparkSession

    # Feast reuses the active session: start it with the same settings featurelake's benchmark uses.
    builder = SparkSession.builder.master("local[2]").appName("feast-bench")
    for key, value in {
        "spark.driver.memory": "12g",
        "spark.sql.shuffle.partitions": "8",
        "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",  # featurelake's local default too
        "spark.ui.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    times = []
    for i in range(args.repeat):
        out = args.out / f"feast-{i}"
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        labels = spark.read.parquet(str(args.data / "labels.parquet"))
        job = store.get_historical_features(entity_df=labels, features=features)
        job.to_spark_df().write.parquet(str(out))
        times.append(time.perf_counter() - started)
    rows = spark.read.parquet(str(args.out / "feast-0")).count()
    print(f"FEAST_SECONDS {times[0]:.2f} {' '.join(f'{t:.2f}' for t in times[1:])} ROWS {rows}")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
