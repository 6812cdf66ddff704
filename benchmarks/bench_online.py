"""Materialization throughput and online read latency on the shared workload.

    .venv/bin/python benchmarks/bench_online.py [--users 200000 --snapshots 20] [--no-peer]

Data: ../shared/bench/gen_data.py user_stats (users x snapshots rows, 5 features), backfilled
into Delta through the validation gate (not timed). A redis-server of its own on loopback
(no persistence). Timed:
- `materialize --full` of view user_stats (newest row per entity, newer-wins Lua writes from
  the executors, local[2]): entities/s, in a fresh session and again warm (Redis emptied).
  It reads the latest-rows snapshot the backfill's publish refreshed (offline.latest); the
  time that refresh adds to a publish is printed, and so is a --full without the snapshot
  (regrouping all users x snapshots rows), for comparison;
- reads through `FeatureStore.get_online_features`: 5 features of 1 entity (p50/p99 of
  10,000 calls) and of 100 entities (p50/p99 of 2,000 calls), random users.
Peer: Feast 0.67 (Spark source, Redis online store) on the same data, in the same run, with
benchmarks/peers/feast_online.py in benchmarks/.venv-feast (benchmarks/setup_feast.sh).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

from bench_training_set import FEATURES, REPO_ROOT, generate, project

STATS = FEATURES[:5]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1]


def online_project(base: Path, data: Path, redis_port: int) -> Path:
    """bench_training_set's project with user_stats online and Redis on `redis_port`, applied;
    returns the conf path (bench_serve.py starts from the same lake)."""
    from featurelake.config import load_config
    from featurelake.registry import apply_specs

    conf_path = project(base, data)
    stats_spec = base / "specs" / "stats.yaml"
    stats_spec.write_text(stats_spec.read_text().replace("  ttl: 30d\n", "  ttl: 30d\n  online: true\n"))
    conf_path.write_text(conf_path.read_text() + f"redis:\n  url: redis://127.0.0.1:{redis_port}/0\n")
    apply_specs(base / "specs", load_config(conf_path))
    return conf_path


def read_latencies(store, users: int, batch: int, calls: int) -> list[float]:  # type: ignore[no-untyped-def]
    rng = random.Random(batch)
    for _ in range(500):  # warm-up: connection pool, plans
        store.get_online_features(STATS, [{"user_id": rng.randrange(users)} for _ in range(batch)])
    timings = []
    for _ in range(calls):
        rows = [{"user_id": rng.randrange(users)} for _ in range(batch)]
        started = time.perf_counter()
        store.get_online_features(STATS, rows)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--snapshots", type=int, default=20)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    data = REPO_ROOT / "benchmarks" / "data" / f"pit-{args.users}-{args.snapshots}-1000000"
    generate(data, args.users, args.snapshots, 1_000_000)

    from featurelake.compute.backfill import backfill_view
    from featurelake.config import load_config
    from featurelake.offline.latest import latest_dir, refresh_latest
    from featurelake.online.materialize import materialize_view
    from featurelake.online.redis_server import free_port, start_redis_server
    from featurelake.spark.session import build_spark_session
    from featurelake.store import FeatureStore

    base = Path(tempfile.mkdtemp(prefix="fl-bench-online-"))
    port = free_port()
    server = start_redis_server(base / "redis", port=port, appendonly=False)
    try:
        conf_path = online_project(base, data, port)
        conf = load_config(conf_path)
        spark = build_spark_session(conf, app_name="bench-online")
        spark.sparkContext.setLogLevel("ERROR")
        store = FeatureStore(repo=base / "specs", conf=conf, spark=spark)
        backfill_view(spark, store.registry, "user_stats", conf.lake_root, date(2024, 12, 31), date(2025, 7, 20))
        for label in ("first", "warm", "warm", "warm"):
            store.online.client.flushdb()
            result = materialize_view(spark, conf, store.registry, "user_stats", full=True)
            print(f"featurelake materialize --full ({label}, from the {result.source}): {result.entities:,} entities "
                  f"in {result.seconds:.2f}s = {result.entities_per_s:,.0f} entities/s")  # fmt: skip
        view = store.registry.view("user_stats")
        version = materialize_view(spark, conf, store.registry, "user_stats").delta_version
        shutil.rmtree(latest_dir(conf.lake_root, view))
        store.online.client.flushdb()
        result = materialize_view(spark, conf, store.registry, "user_stats", full=True)
        print(f"featurelake materialize --full (warm, from the {result.source}): {result.entities:,} entities "
              f"in {result.seconds:.2f}s = {result.entities_per_s:,.0f} entities/s")  # fmt: skip
        started = time.perf_counter()
        refresh_latest(spark, conf.lake_root, view, ["user_id"], version)
        print(f"building the latest rows from the whole table (what a first publish adds): "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip
        one = read_latencies(store, args.users, 1, 10_000)
        hundred = read_latencies(store, args.users, 100, 2_000)
        print(f"featurelake online read, 5 features x 1 entity: p50 {percentile(one, 0.5):.3f} ms, "
              f"p99 {percentile(one, 0.99):.3f} ms")  # fmt: skip
        print(f"featurelake online read, 5 features x 100 entities: p50 {percentile(hundred, 0.5):.3f} ms, "
              f"p99 {percentile(hundred, 0.99):.3f} ms")  # fmt: skip
        spark.stop()
        peer = REPO_ROOT / "benchmarks" / ".venv-feast" / "bin" / "python"
        if not args.no_peer and peer.exists():
            subprocess.run([str(peer), str(REPO_ROOT / "benchmarks" / "peers" / "feast_online.py"), "--data", str(data),
                            "--redis", f"127.0.0.1:{port}", "--users", str(args.users)], check=True)  # fmt: skip
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
