"""Point-in-time training set on the shared workload, against the I/O floor.

    .venv/bin/python benchmarks/bench_training_set.py [--users 200000 --snapshots 20 --labels 1000000] [--double]

Peer: Feast 0.67's Spark offline store (benchmarks/setup_feast.sh installs it into
benchmarks/.venv-feast), run as a subprocess on the same data in the same run.

Data: ../shared/bench/gen_data.py (user_stats: users x snapshots rows, 5 features;
user_profile: users x snapshots/4 rows, 2 features; labels). Both views are backfilled
into Delta first (not timed). Timed, in one Spark session (local[2]), each as a first
(cold) run and the median of 2 more:
- the training set: labels + 7 features from 2 views, written as parquet;
- the I/O floor: scanning the same inputs and writing an output of the same shape.
With --double the workload is also run at twice the users and labels (ratio <= 2.2 wanted).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
GEN_DATA = REPO_ROOT.parent / "shared" / "bench" / "gen_data.py"
FEATURES = ["user_stats:purchases_7d", "user_stats:spend_30d", "user_stats:avg_order_value", "user_stats:sessions_7d",
            "user_stats:days_since_login", "user_profile:tenure_days", "user_profile:loyalty_score"]  # fmt: skip
SPECS = """
entities:
  - {{name: user, join_keys: [user_id]}}
sources:
  - {{name: stats, format: parquet, path: {data}/user_stats.parquet, timestamp: event_timestamp,
     created_timestamp: created}}
  - {{name: profile, format: parquet, path: {data}/user_profile.parquet, timestamp: event_timestamp,
     created_timestamp: created}}
"""
VIEW = """
feature_view:
  name: {name}
  version: 1
  entity: user
  source: {source}
  owner: bench
  ttl: {ttl}
  features:
{features}
"""


def generate(data: Path, users: int, snapshots: int, labels: int) -> None:
    if not (data / "labels.parquet").exists():
        subprocess.run([sys.executable, str(GEN_DATA), "--out", str(data), "--users", str(users), "--snapshots",
                        str(snapshots), "--labels", str(labels)], check=True)  # fmt: skip
    drop_same_time_snapshots(data)


def drop_same_time_snapshots(data: Path) -> None:
    """gen_data draws snapshot times at random seconds, so a few users get two snapshots with the
    same (event_timestamp, created) and different values. featurelake's validation gate refuses
    to publish such ties (no point-in-time join can pick a winner); every peer reads the same,
    de-duplicated files (the first of each pair is kept; 1 pair at 200k users)."""
    import pandas as pd

    marker = data / "deduplicated"
    if marker.exists():
        return
    for name in ("user_stats.parquet", "user_profile.parquet"):
        frame = pd.read_parquet(data / name)
        kept = frame.drop_duplicates(subset=["user_id", "event_timestamp", "created"], keep="first")
        if len(kept) < len(frame):
            print(f"{name}: dropped {len(frame) - len(kept)} same-time duplicate snapshot(s)")
            kept.to_parquet(data / name, index=False, row_group_size=500_000, coerce_timestamps="us",
                            allow_truncated_timestamps=True)  # fmt: skip
    marker.write_text("ok\n")


def project(base: Path, data: Path) -> Path:
    (base / "conf").mkdir(parents=True)
    (base / "specs").mkdir()
    jars = REPO_ROOT / ".featurelake" / "jars"
    (base / "conf" / "local.yaml").write_text(
        f"project: bench\nlake_root: ./lake\nspark:\n  master: local[2]\n  jars_dir: {jars}\n  settings:\n"
        "    spark.driver.memory: 12g\n    spark.sql.shuffle.partitions: '8'\n    spark.ui.enabled: 'false'\n"
    )
    write_specs(base / "specs", data)
    return base / "conf" / "local.yaml"


def write_specs(specs: Path, data: Path) -> None:
    """The two views (user_stats 30d, user_profile 90d) over gen_data's files in `data`."""
    (specs / "base.yaml").write_text(SPECS.format(data=data))
    stats = "\n".join(f"    - {{name: {r.split(':')[1]}, dtype: {'double' if 'spend' in r or 'avg' in r else 'int64'}}}"
                      for r in FEATURES[:5])  # fmt: skip
    profile = "    - {name: tenure_days, dtype: int64}\n    - {name: loyalty_score, dtype: double}"
    (specs / "stats.yaml").write_text(VIEW.format(name="user_stats", source="stats", ttl="30d", features=stats))
    (specs / "profile.yaml").write_text(VIEW.format(name="user_profile", source="profile", ttl="90d", features=profile))


def run(data: Path, spark_holder: dict[str, object]) -> tuple[list[float], list[float]]:
    from datetime import date

    from pyspark.sql import functions as F

    from featurelake.compute.backfill import backfill_view
    from featurelake.config import load_config
    from featurelake.offline.tables import table_path
    from featurelake.registry import apply_specs
    from featurelake.spark.session import build_spark_session
    from featurelake.store import FeatureStore

    base = Path(tempfile.mkdtemp(prefix="fl-bench-pit-"))
    try:
        conf = load_config(project(base, data))
        apply_specs(base / "specs", conf)
        spark = spark_holder.get("spark") or build_spark_session(conf, app_name="bench-training-set")
        spark_holder["spark"] = spark
        spark.sparkContext.setLogLevel("ERROR")  # type: ignore[attr-defined]
        store = FeatureStore(repo=base / "specs", conf=conf, spark=spark)  # type: ignore[arg-type]
        for view in ("user_stats", "user_profile"):
            backfill_view(spark, store.registry, view, conf.lake_root, date(2024, 12, 31), date(2025, 7, 20))  # type: ignore[arg-type]
        labels = str(data / "labels.parquet")
        tables = [table_path(conf.lake_root, store.registry.view(v)) for v in ("user_stats", "user_profile")]

        def ours(i: int) -> float:
            started = time.perf_counter()
            store.build_training_set(labels, str(base / f"training_set_{i}"), features=FEATURES)
            return time.perf_counter() - started

        def floor(i: int) -> float:
            started = time.perf_counter()
            for path in [labels, *tables]:
                fmt = "parquet" if path.endswith(".parquet") else "delta"
                spark.read.format(fmt).load(path).write.format("noop").mode("overwrite").save()  # type: ignore[attr-defined]
            casts = ["long", "double", "double", "long", "long", "long", "double"]
            same_shape = spark.read.parquet(labels).select(  # type: ignore[attr-defined]
                "*", *[(F.rand(i) * 100).cast(cast).alias(f"f{i}") for i, cast in enumerate(casts)]
            )
            same_shape.write.parquet(str(base / f"floor_{i}"))
            return time.perf_counter() - started

        return [ours(i) for i in range(3)], [floor(i) for i in range(3)]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def feast(data: Path) -> list[float] | None:
    python = REPO_ROOT / "benchmarks" / ".venv-feast" / "bin" / "python"
    if not python.exists():
        print("feast: not installed (run benchmarks/setup_feast.sh); peer figure skipped")
        return None
    script = REPO_ROOT / "benchmarks" / "peers" / "feast_training_set.py"
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    with tempfile.TemporaryDirectory(prefix="feast-out-") as out:
        command = [str(python), str(script), "--data", str(data), "--out", out, "--repeat", "3"]
        proc = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    line = next(line for line in proc.stdout.splitlines() if line.startswith("FEAST_SECONDS"))
    return [float(x) for x in line.split()[1:4]]


def describe(name: str, times: list[float]) -> str:
    return f"{name} cold {times[0]:.1f} s, warm {statistics.median(times[1:]):.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--snapshots", type=int, default=20)
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--double", action="store_true", help="also run at twice the users and labels")
    parser.add_argument("--no-feast", action="store_true", help="skip the Feast peer")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "benchmarks" / "data")
    args = parser.parse_args()
    spark: dict[str, object] = {}
    sizes = [(args.users, args.labels)] + ([(args.users * 2, args.labels * 2)] if args.double else [])
    warm = []
    for users, labels in sizes:
        data = args.data / f"pit-{users}-{args.snapshots}-{labels}"
        generate(data, users, args.snapshots, labels)
        ours, floor = run(data, spark)
        warm.append(statistics.median(ours[1:]))
        print(f"users={users:,} snapshots={args.snapshots} labels={labels:,}: {describe('featurelake', ours)}; "
              f"{describe('I/O floor', floor)}; ratio to floor cold {ours[0] / floor[0]:.2f}, "
              f"warm {warm[-1] / statistics.median(floor[1:]):.2f}", flush=True)  # fmt: skip
        peer = None if args.no_feast or users != args.users else feast(data)
        if peer:
            print(f"{describe('Feast 0.67', peer)}; featurelake is {peer[0] / ours[0]:.1f}x faster cold, "
                  f"{statistics.median(peer[1:]) / warm[-1]:.1f}x warm", flush=True)  # fmt: skip
    if len(warm) == 2:
        print(f"double the data: {warm[1] / warm[0]:.2f}x the (warm) time")


if __name__ == "__main__":
    main()
